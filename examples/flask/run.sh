#!/bin/sh
# Start the app: gunicorn serves app.py on 127.0.0.1:$PORT (8080 by default).
# In Lambda, the lwa layer's /opt/bootstrap runs this script (handler "run.sh").
cd "$(dirname "$0")" || exit 1
# Prepend, never replace: Lambda's PYTHONPATH holds the runtime's own directory, and layer
# packages live in /opt/python.
export PYTHONPATH="$PWD:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
# `python3 -m gunicorn`, not `gunicorn`: `pip install -t .` leaves no gunicorn on PATH.
# --timeout 0: time spent frozen between invocations must not count as a stuck worker.
# --no-control-socket: Lambda's file system is read-only outside /tmp.
exec python3 -m gunicorn --bind "127.0.0.1:${PORT:-8080}" --workers 1 --timeout 0 \
  --no-control-socket app:app
