#!/bin/sh
# lwa exec wrapper, shipped in the layer as /opt/bootstrap (docs/behaviour.md §2.1).
#
# With AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap, Lambda runs this script with the managed runtime's
# own command line as arguments. We ignore them and replace ourselves with the function's start
# script, ${LAMBDA_TASK_ROOT}/${_HANDLER} (handler "run.sh" -> /var/task/run.sh). That script
# starts the web app, which so becomes Lambda's "runtime process" (it gets SIGTERM at shutdown),
# while the adapter runs beside it as the external extension /opt/extensions/lambda-adapter.
#
# Before the exec we check the start script, because the shell's own errors for the classic zip
# mistakes ("cannot execute: required file not found", "bad interpreter: /bin/sh^M") do not say
# what to fix. POSIX sh only: Amazon Linux's /bin/sh is bash, but this must also run under dash.

me="lwa bootstrap"
runtime_cmd=$*  # the managed runtime's command line: shown at DEBUG, never run

fail() {  # fail EXIT_CODE MESSAGE...
  code=$1; shift
  printf '%s: ERROR: %s\n' "$me" "$*" >&2
  exit "$code"
}

debug() {
  case ${AWS_LAMBDA_LOG_LEVEL:-${RUST_LOG:-}} in
    [Dd][Ee][Bb][Uu][Gg]|[Tt][Rr][Aa][Cc][Ee]) printf '%s: DEBUG: %s\n' "$me" "$*" >&2 ;;
  esac
}

[ -n "${_HANDLER:-}" ] || fail 1 "_HANDLER is not set: set the function's handler to your" \
  "start script, e.g. run.sh (and AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap)."
[ -n "${LAMBDA_TASK_ROOT:-}" ] || fail 1 "LAMBDA_TASK_ROOT is not set: it names the directory" \
  "that holds your start script (/var/task in Lambda)."

script=${LAMBDA_TASK_ROOT}/${_HANDLER}

if [ ! -e "$script" ]; then
  fail 127 "start script not found: $script (handler '$_HANDLER'). The handler must name a" \
    "script in your zip, relative to its root, e.g. run.sh."
fi
[ -f "$script" ] || fail 126 "start script is not a regular file: $script (handler '$_HANDLER')."

# The first line decides how the kernel runs the script (a "#!" line), unless the handler is a
# binary. Read it without starting any program.
first=
IFS= read -r first < "$script" || [ -n "$first" ] \
  || fail 126 "cannot read start script $script (empty file, or not readable: chmod 755 it)."
chmod_hint="chmod 755 $_HANDLER before zipping (zips made on Windows lose the execute bit)"
cr=$(printf '\r')
case $first in
  '#!'*"$cr"*)
    also=
    [ -x "$script" ] || also=" It is not executable either: $chmod_hint."
    fail 126 "start script $script has Windows (CRLF) line endings, so its first line" \
      "names an interpreter with a trailing carriage return, which does not exist (the" \
      "'bad interpreter: /bin/sh^M' error). Convert it to LF before zipping:" \
      "sed -i 's/\\r\$//' $_HANDLER   (or: dos2unix $_HANDLER; in git, add" \
      "'*.sh text eol=lf' to .gitattributes).$also" ;;
esac

[ -x "$script" ] || fail 126 "start script $script is not executable: $chmod_hint."

case $first in
  '#!'*)  # the interpreter must exist in this runtime (e.g. no bash in some images)
    set -f  # split into the interpreter and its optional argument, no globbing
    # shellcheck disable=SC2086
    set -- ${first#??}
    set +f
    if [ $# -gt 0 ] && [ ! -x "$1" ]; then
      fail 126 "start script $script asks for the interpreter '$1' (first line '$first')," \
        "which does not exist in this runtime. Use '#!/bin/sh'."
    fi
    if [ $# -gt 1 ] && [ "${1##*/}" = env ] && [ "${2#-}" = "$2" ] \
        && ! command -v "$2" >/dev/null 2>&1; then
      fail 126 "start script $script runs '$2' through '$1' (first line '$first'), but" \
        "'$2' is not on PATH ($PATH) in this runtime."
    fi ;;
esac

debug "exec $script (handler '$_HANDLER'; ignoring the runtime's command line: $runtime_cmd)"
exec "$script"
