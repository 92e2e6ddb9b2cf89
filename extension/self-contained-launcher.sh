#!/bin/sh
# lwa launcher of the self-contained build (layer-build.sh --self-contained), shipped as
# /opt/extensions/lambda-adapter (docs/behaviour.md §2.1). Lambda starts every executable in
# /opt/extensions/ as an external extension; the installed name must stay "lambda-adapter", the
# name the adapter registers under.
#
# It always runs the interpreter bundled in ../lwa-adapter (never the image's or the function's
# Python, whose version the bundled brotli and .pyc files would not match). -I ignores every
# PYTHON* variable and the working directory (the app's settings are not the adapter's), -S skips
# site, -B writes no .pyc (/opt is read-only; the build ships them). Needs only /bin/sh and
# glibc from the image; with bash there too, it registers the extension before Python starts
# (register-early.sh), so Lambda starts the app without waiting for the interpreter.
case $0 in
  */*) here=${0%/*} ;;
  *) here=. ;;
esac
home=$here/../lwa-adapter

# Re-runs this launcher as bash under another /bin/sh, and defines register_early.
register_early() { return 1; }
[ ! -f "$home/register-early.sh" ] || . "$home/register-early.sh"

py=$home/bin/python3
if [ ! -x "$py" ]; then
  echo "lwa lambda-adapter: ERROR: $py is missing: copy the whole build (extensions/ and lwa-adapter/) into /opt" >&2
  exit 1
fi
if register_early; then
  export LWA_EXTENSION_ID
fi
# lwa's __main__.py as a file, not -m: no runpy import (lwa/__main__.py); -m when not found.
for main in "$home"/lib/python3.*/lwa/__main__.py; do
  [ -f "$main" ] && exec "$py" -I -S -B "$main" "$@"
done
exec "$py" -I -S -B -m lwa "$@"
