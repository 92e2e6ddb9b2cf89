#!/bin/sh
# Start the app: uvicorn serves app.py on 127.0.0.1:$PORT (8080 by default).
# In Lambda, the lwa layer's /opt/bootstrap runs this script (handler "run.sh").
cd "$(dirname "$0")" || exit 1
# Prepend, never replace: Lambda's PYTHONPATH holds the runtime's own directory, and layer
# packages live in /opt/python.
export PYTHONPATH="$PWD:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
# `python3 -m uvicorn`, not `uvicorn`: `pip install -t .` leaves no uvicorn on PATH.
exec python3 -m uvicorn --host 127.0.0.1 --port "${PORT:-8080}" app:app
