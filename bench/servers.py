"""Stock servers for the per-invocation comparison (bench/run.py section 2b): the same tiny app
("ok" for any GET) behind gunicorn (gthread) + Flask and behind uvicorn + Starlette.

    python -m gunicorn -k gthread --chdir bench servers:flask_app
    python -m uvicorn --app-dir bench servers:starlette_app
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def _flask():
    from flask import Flask

    app = Flask("bench")

    @app.get("/<path:_>")
    def ok(_):
        return "ok", 200, {"Content-Type": "text/plain"}

    return app


def _starlette():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ok(request):
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/{path:path}", ok)])


def __getattr__(name: str):
    """`servers:flask_app` / `servers:starlette_app`, built when the server asks for them."""
    if name == "flask_app":
        return _flask()
    if name == "starlette_app":
        return _starlette()
    raise AttributeError(name)


COMMANDS = {
    "gunicorn (gthread) + Flask": ["-m", "gunicorn", "-k", "gthread", "--threads", "4", "--workers", "1",
                                   "--chdir", str(BENCH), "--log-level", "warning", "-b", "127.0.0.1:{port}",
                                   "servers:flask_app"],
    "uvicorn + Starlette": ["-m", "uvicorn", "--app-dir", str(BENCH), "--host", "127.0.0.1", "--port", "{port}",
                            "--log-level", "warning", "--no-access-log", "servers:starlette_app"],
}


def start(name: str) -> tuple[subprocess.Popen, int]:
    """Start one stock server on a free port; returns once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [a.format(port=port) for a in COMMANDS[name]]
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{name} did not start")
