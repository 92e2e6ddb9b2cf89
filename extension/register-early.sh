# Sourced (`.`) by both launchers (extension/layer-launcher.sh, extension/self-contained-launcher.sh),
# installed as /opt/lwa-adapter/register-early.sh; not executable on its own.
#
# Under a /bin/sh that is not bash (Debian's dash) it runs the launcher again as bash when there
# is one: only bash has /dev/tcp. The launcher's arguments are the sourcing shell's "$@".
if [ -z "${BASH_VERSION:-}" ] && command -v bash >/dev/null 2>&1; then
  exec bash "$0" "$@"
fi

# Register with the Extensions API here, before Python starts, when this shell is bash (its
# /dev/tcp; /bin/sh is bash on Amazon Linux): Lambda starts the app only once every extension has
# registered, so the app's boot then overlaps Python's start-up instead of waiting for it. lwa
# takes the identifier from LWA_EXTENSION_ID; anything unexpected leaves the registration to lwa.
register_early() {
  [ -n "${BASH_VERSION:-}" ] && [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ] && [ -z "${LWA_EXTENSION_ID:-}" ] || return 1
  api=${AWS_LAMBDA_RUNTIME_API#http://}
  api=${api%%/*}
  host=${api%:*} port=${api##*:}
  [ "$host" != "$api" ] || return 1
  host=${host#[} host=${host%]}
  body='{"events":["SHUTDOWN"]}'
  id=
  {
    printf 'POST /2020-01-01/extension/register HTTP/1.1\r\nHost: %s\r\nLambda-Extension-Name: lambda-adapter\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
      "$api" "${#body}" "$body" >&3 || return 1
    IFS= read -r -t 5 line <&3 || return 1
    case $line in "HTTP/1.1 200"*) ;; *) return 1 ;; esac
    while IFS= read -r -t 5 line <&3; do
      line=${line%$'\r'}
      [ -n "$line" ] || break
      case $line in [Ll]ambda-[Ee]xtension-[Ii]dentifier:*) id=${line#*:} id=${id# } ;; esac
    done
  } 3<>"/dev/tcp/$host/$port" 2>/dev/null
  [ -n "$id" ] && LWA_EXTENSION_ID=$id
}
