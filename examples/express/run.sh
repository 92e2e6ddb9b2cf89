#!/bin/sh
# Start the app on 127.0.0.1:$PORT (8080 by default).
# In a container image this is the CMD; with a zip the lwa layer's /opt/bootstrap runs it.
cd "$(dirname "$0")" || exit 1
exec node index.js
