#!/bin/sh
# Start the app: PHP's built-in web server on 127.0.0.1:$PORT (8080 by default), every request
# routed through public/index.php. In a container image this is the CMD.
cd "$(dirname "$0")" || exit 1
exec php -S "127.0.0.1:${PORT:-8080}" -t public public/index.php
