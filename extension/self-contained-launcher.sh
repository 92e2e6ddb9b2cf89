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
# glibc from the image.
case $0 in
  */*) here=${0%/*} ;;
  *) here=. ;;
esac
py=$here/../lwa-adapter/bin/python3
if [ ! -x "$py" ]; then
  echo "lwa lambda-adapter: ERROR: $py is missing: copy the whole build (extensions/ and lwa-adapter/) into /opt" >&2
  exit 1
fi
exec "$py" -I -S -B -m lwa "$@"
