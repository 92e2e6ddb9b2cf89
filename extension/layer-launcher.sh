#!/bin/sh
# lwa launcher of the plain layer build (layer-build.sh), shipped as /opt/extensions/lambda-adapter
# (docs/behaviour.md §2.1). Lambda starts every executable in /opt/extensions/ as an external
# extension; the installed name must stay "lambda-adapter", the name the adapter registers under.
#
# It runs `python -m lwa` (the adapter daemon) from the layer's private package directory,
# ../lwa-adapter/python relative to this file, so the same tree works as a layer at /opt and as a
# directory COPYed into a container image. Interpreter, first usable (Python 3.10+) of:
#   $LWA_PYTHON (a path or command name; forced, no fallback),
#   /var/lang/bin/python3 (Lambda's Python runtimes), python3 on PATH,
#   ../lwa-adapter/bin/python3 (a self-contained build, when present).
#
# The adapter must see only the layer's packages (its pinned urllib3 and brotli), never the
# function's: -E ignores PYTHONPATH/PYTHONHOME and the other PYTHON* variables meant for the
# app, -S skips site-packages, and the package directory reaches sys.path as the working
# directory that `-m` puts first (no PYTHONPATH is exported, so nothing leaks). -B because /opt
# is read-only; the layer ships .pyc files.

me="lwa lambda-adapter"
case $0 in
  */*) here=${0%/*} ;;
  *) here=. ;;
esac
home=$here/../lwa-adapter

# Re-runs this launcher as bash under another /bin/sh, and defines register_early.
register_early() { return 1; }
[ ! -f "$home/register-early.sh" ] || . "$home/register-early.sh"

fail() {
  printf '%s: ERROR: %s\n' "$me" "$*" >&2
  exit 1
}

debug() {
  case ${AWS_LAMBDA_LOG_LEVEL:-${RUST_LOG:-}} in
    [Dd][Ee][Bb][Uu][Gg]|[Tt][Rr][Aa][Cc][Ee]) printf '%s: DEBUG: %s\n' "$me" "$*" >&2 ;;
  esac
}

# Python 3.10 or later? Decided from the file name (python3.12) when that tells, so the common
# case starts no process; otherwise ask the interpreter.
usable() {
  [ -f "$1" ] && [ -x "$1" ] || return 1
  real=$(readlink -f -- "$1" 2>/dev/null) || real=$1
  case ${real##*/} in
    python3.[0-9]) return 1 ;;
    python3.[1-9][0-9]) return 0 ;;
  esac
  "$1" -E -S -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null
}

[ -d "$home/python/lwa" ] || fail "the lwa package is missing: expected $home/python/lwa" \
  "next to this launcher (install the whole layer, or COPY both /opt/extensions/lambda-adapter" \
  "and /opt/lwa-adapter into the image)."

py=
if [ -n "${LWA_PYTHON:-}" ]; then
  case $LWA_PYTHON in
    */*) py=$LWA_PYTHON ;;
    *) py=$(command -v "$LWA_PYTHON") || py=$LWA_PYTHON ;;  # a command name, e.g. python3.12
  esac
  usable "$py" || fail "LWA_PYTHON=$LWA_PYTHON is not a Python 3.10+ interpreter."
else
  if usable /var/lang/bin/python3; then
    py=/var/lang/bin/python3
  elif c=$(command -v python3) && usable "$c"; then
    py=$c
  elif usable "$home/bin/python3"; then
    py=$home/bin/python3
  fi
  [ -n "$py" ] || fail "no Python 3.10+ interpreter found (looked for /var/lang/bin/python3," \
    "python3 on PATH, $home/bin/python3). The adapter needs a Python runtime (python3.10 to" \
    "python3.14) for the function, a container image with python3, or the self-contained" \
    "layer build; LWA_PYTHON=/path/to/python3 picks one explicitly."
fi

case $py in /*) ;; *) py=$PWD/$py ;; esac  # still valid after the cd below
if register_early; then
  export LWA_EXTENSION_ID
  debug "registered as $LWA_EXTENSION_ID before starting Python"
fi
cd -P -- "$home/python" || fail "cannot enter $home/python"
debug "exec $py -E -S -B lwa/__main__.py $* (in $PWD)"
exec "$py" -E -S -B lwa/__main__.py "$@"  # a file, not -m: no runpy import (lwa/__main__.py)
