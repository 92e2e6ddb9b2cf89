"""`python -m lwa serve`: a local HTTP front door. Each request becomes the event API Gateway, a
Function URL or an ALB would send (`frontdoor`), goes through `loop.handle` as in Lambda, and
the outcome is written back (`answer`). Requests are served in parallel, one thread each."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Mapping

from .. import loop, readiness
from ..http1 import Framing, ProtocolError, Reader, Truncated
from ..logs import log
from ..signals import StopFlag
from . import session
from .answer import HttpOutcome, head_bytes
from .child import Child
from .frontdoor import build_event, escape, host_allowed, host_name

if TYPE_CHECKING:
    import argparse

    from ..config import Config

POOL_SIZE = 16  # serve answers requests in parallel: as many app connections kept alive
_CHUNKED = Framing("chunked")


class Front:
    """What every request handler reads: the options, the session and the Host rule."""

    def __init__(self, opts: argparse.Namespace, local: session.Session) -> None:
        self.source = opts.source
        self.alb_multi_value = opts.alb_multi_value
        self.timeout = opts.timeout
        self.host = opts.host
        self.any_host = opts.allow_any_host
        self.allowed = frozenset(host_name(name) for name in opts.allow_host)
        self.local = local

    def refusal(self, host: str | None, target: str) -> str | None:
        """Why a request for `host` (or an absolute-form `target`) is not answered, or None."""
        if self.any_host:
            return None
        names = [host] if host is not None else []
        if target.startswith(("http://", "https://")):
            names.append(target.split("/", 3)[2])
        for name in names:
            if not host_allowed(name, self.host, self.allowed):
                shown = host_name(name)
                return (f"lwa serve answers only loopback Host names; to allow {shown!r}, restart it with "
                        f"--allow-host {shown} (or --allow-any-host)\n")
        return None


def _body(handler) -> bytes | None:
    """The request body, or None after answering 400 for broken framing."""
    try:
        if "chunked" in (handler.headers.get("transfer-encoding") or "").lower():
            # readline never reads past the line it returns, so nothing of a pipelined next
            # request is taken into the Reader's buffer.
            return b"".join(Reader(handler.rfile.readline).body(_CHUNKED))
        length = int(handler.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError(length)
        return handler.rfile.read(length)
    except Truncated:
        handler.close_connection = True
        return None
    except (ValueError, ProtocolError):
        handler.send_error(400, "bad request body framing")
        return None


def _handler_class(front: Front) -> type:
    from http.server import BaseHTTPRequestHandler  # noqa: PLC0415 - serve only

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # streamed chunks leave at once

        def __getattr__(self, name: str):
            if name.startswith("do_"):  # every method token goes to the app, as with ANY routes
                return self._forward
            raise AttributeError(name)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
            log.warning("serve: %s", escape(format % args))

        def _refuse(self, why: str) -> None:
            log.warning("serve: refused %s %s for Host %s", escape(self.command), escape(self.path[:200]),
                        escape(self.headers.get("host") or "-"))
            data = why.encode("utf-8")
            pairs = [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(data))),
                     ("connection", "close")]
            self.close_connection = True
            self.wfile.write(head_bytes(421, "Misdirected Request", pairs) + data)

        def _forward(self) -> None:
            started = time.monotonic()
            why = front.refusal(self.headers.get("host"), self.path)
            if why is not None:
                self._refuse(why)
                return
            body = _body(self)
            if body is None:
                return
            pairs = []
            for name, value in self.headers.items():
                try:  # http.client decodes header bytes as latin-1: give back UTF-8 text
                    value = value.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    pass
                pairs.append((name, value))
            request_id = session.new_id()
            event = build_event(front.source, self.command, self.path, pairs, body, self.client_address[0],
                                self.connection.getsockname()[1], request_id, alb_multi_value=front.alb_multi_value)
            data = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")
            inv = session.invocation(data, request_id, front.timeout, front.local.config)
            outcome = HttpOutcome(self)
            loop.handle(inv, front.local.slots, outcome)
            log.info("%s %s -> %s (%d ms)", escape(self.command), escape(self.path[:200]), outcome.status,
                     (time.monotonic() - started) * 1000)

    return Handler


def _start_app(command: list[str], environ: Mapping[str, str], config: Config, stop: StopFlag
               ) -> tuple[Child | None, bool]:
    """The app started and ready (or `stop` raised meanwhile); (None, False) when it is not."""
    try:
        child = Child(command, environ, config.port, stop)
    except OSError as exc:
        log.error("cannot start the app %r: %s", command[0], exc.strerror or exc)
        return None, False
    ready, last = readiness.wait_ready(config, stop, config.readiness_timeout_s)
    if not ready and not stop.is_set():
        log.error("%s", readiness.not_ready_message(config, config.readiness_timeout_s or 0.0, last))
        return child, False
    return child, True


def run(opts: argparse.Namespace, command: list[str], environ: Mapping[str, str]) -> int:
    """Exit code: 0 stopped by a signal, 1 cannot listen or the app failed, 2 unusable configuration."""
    import socket  # noqa: PLC0415
    from http.server import ThreadingHTTPServer  # noqa: PLC0415 - never on the daemon path

    from ..signals import install  # noqa: PLC0415

    config = session.load(environ, opts.stream)
    if config is None:
        return 2
    if opts.port == config.port:
        log.error("serve --port %d is the app's port (AWS_LWA_PORT): pick another one for the front door", opts.port)
        return 2
    config = config._replace(concurrency=max(config.concurrency, POOL_SIZE))
    stop = StopFlag()
    install(stop)

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
        daemon_threads = True
        block_on_close = False

    local = session.Session(config)
    try:
        server = Server((opts.host, opts.port), _handler_class(Front(opts, local)))
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", opts.host, opts.port, exc.strerror or exc)
        local.close()
        return 1
    child = None
    try:
        if command:
            child, ok = _start_app(command, environ, config, stop)
            if not ok:
                return 1
        elif not readiness.probe(config._replace(readiness_protocol="tcp"))[0]:
            log.warning("nothing listens at %s yet: requests fail with 502 AppConnectionError until the app runs",
                        config.app_netloc)
        if not stop.is_set():
            threading.Thread(target=server.serve_forever, name="lwa-serve", daemon=True).start()
            host, port = server.socket.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            mode = "response_stream" if config.streaming else "buffered"
            sys.stdout.write(f"lwa serve: http://{shown}:{port} -> app http://{config.app_netloc} "
                             f"(source {opts.source}, {mode})\n")
            sys.stdout.flush()
            stop.wait()
            server.shutdown()
    finally:
        server.server_close()
        if child is not None:
            child.stop()
        local.close()
    if child is not None and child.exit_code is not None:
        log.error("the app exited with code %s", child.exit_code)
        return 1
    return 0
