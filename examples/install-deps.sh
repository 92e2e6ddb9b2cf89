#!/bin/sh
# Install every example's dependencies, so tests/e2e/test_examples.py can run them:
# Flask and FastAPI into the Python that runs the tests ($PYTHON, default python3), and
# Express into examples/express/node_modules (exactly package-lock.json).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"${PYTHON:-python3}" -m pip install --quiet \
  -r "$here/flask/requirements.txt" -r "$here/fastapi/requirements.txt"
if command -v npm >/dev/null 2>&1; then
  (cd "$here/express" && npm ci --no-audit --no-fund)
else
  echo "install-deps: npm not found, so examples/express stays without node_modules" >&2
fi
