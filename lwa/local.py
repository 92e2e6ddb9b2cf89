"""`python -m lwa invoke` and `python -m lwa serve`: debug on this host, without Lambda (USERS #38).

Both run `loop.handle`, the daemon's own code path for one invocation, with a stand-in for the
Runtime API: an "outcome" object with `post_response`, `post_error` and `open_stream` that prints
the result, or writes it back as the HTTP answer. `serve` also plays the front door (HTTP API /
Function URL, REST API, ALB): each plain HTTP request becomes the event that front door sends.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Mapping

from . import logs, loop, readiness
from .config import load_config
from .errors import ConfigError
from .frontdoor import ACCOUNT_ID, build_event, http_answer
from .logs import log
from .model import Invocation
from .runtime import error_body
from .signals import StopFlag
from .runtime import ERROR_BODY_TRAILER as ERROR_BODY
from .streaming import SEPARATOR

if TYPE_CHECKING:
    from .config import Config


DEFAULT_TIMEOUT_S = 300.0  # the Runtime Interface Emulator's default function timeout
DEFAULT_SERVE_PORT = 9000
SERVE_POOL_SIZE = 16  # serve answers requests in parallel: as many app connections kept alive
CHILD_STOP_S = 10.0
SOURCES = {"v2": "apigw_v2", "v1": "apigw_v1", "alb": "alb"}
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "keep-alive"))
_NO_BODY = (204, 304)


# ---- shared by both modes --------------------------------------------------------------------

def _setup(environ: Mapping[str, str], stream: bool) -> Config | None:
    """Logging to stderr (stdout carries the result), then the one Config; None when unusable."""
    env = dict(environ)
    if stream:
        env["AWS_LWA_INVOKE_MODE"] = "response_stream"
    # What the Runtime Interface Emulator reports, so the app's x-amzn-lambda-context looks real.
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "lwa-local")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    logs.setup(env, stream=sys.stderr)
    try:
        config = load_config(env)
    except ConfigError as exc:
        log.error("invalid configuration: %s", exc)
        return None
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def _slots(config: Config) -> tuple[loop.Slots, list]:
    """What `loop.handle` needs, and the list that holds the App once a request built it."""
    holder: list = []
    lock = threading.Lock()

    def get_app():
        with lock:
            if not holder:
                from .app import App  # noqa: PLC0415 - urllib3 only once there is a request

                holder.append(App(config))
            return holder[0]

    return loop.Slots(config, get_app, None), holder


def _invocation(body: bytes, request_id: str, timeout_s: float, config: Config, tenant_id: str | None = None
                ) -> Invocation:
    now = time.time()
    return Invocation(
        request_id=request_id,
        deadline_ms=int((now + timeout_s) * 1000),
        body=body,
        function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{config.function_name}",
        trace_id=f"Root=1-{int(now):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0",
        tenant_id=tenant_id or None,
    )


def _new_id() -> str:
    import uuid  # noqa: PLC0415 - local modes only

    return str(uuid.uuid4())


def _stream_error(trailers) -> str:
    """The error JSON carried, base64, in the Lambda-Runtime-Function-Error-Body trailer."""
    for name, value in trailers:
        if name == ERROR_BODY:
            return base64.b64decode(value).decode("utf-8", "replace")
    return "{}"


# ---- invoke: one event, the Lambda result on stdout --------------------------------------------

class _PrintOutcome:
    """Stands in for the Runtime API: prints what `loop.handle` posts for the one invocation."""

    def __init__(self, out, pretty: bool) -> None:
        self.out = out
        self.pretty = pretty
        self.posted = False
        self.failed = False

    def _emit(self, data: bytes) -> None:
        if self.pretty:
            try:
                data = json.dumps(json.loads(data), indent=2, ensure_ascii=False).encode("utf-8", "surrogatepass")
            except ValueError:
                pass
        self.out.write(data)
        if self.pretty or self.out.isatty():
            self.out.write(b"\n")
        self.out.flush()

    def post_response(self, request_id: str, payload: bytes) -> None:
        self.posted = True
        self._emit(payload)

    def post_error(self, request_id: str, error_type: str, message: str) -> None:
        self.posted = self.failed = True
        self._emit(error_body(error_type, message))

    def open_stream(self, request_id: str) -> _PrintStream:
        self.posted = True
        return _PrintStream(self)

    def close(self) -> None:
        """The stream broke on our side (stdout closed): nothing left to report to."""


class _StreamReplay:
    """A Lambda response stream taken apart again: `on_prelude(bytes)` once the 8-NUL separator
    has arrived (SPEC §7.1), then `on_body(bytes)` for each piece as it comes."""

    pending: bytes | None = b""  # prelude bytes until the separator; None once handed on

    def write(self, data: bytes) -> None:
        if self.pending is not None:
            self.pending += data
            head, sep, data = self.pending.partition(SEPARATOR)
            if not sep:
                return
            self.pending = None
            self.on_prelude(head)
        self.on_body(data)


class _PrintStream(_StreamReplay):
    """Raw: the exact streamed bytes (prelude, 8 NULs, body); pretty: the prelude indented, then the body."""

    def __init__(self, outcome: _PrintOutcome) -> None:
        self.outcome = outcome
        self.pretty = outcome.pretty

    def on_prelude(self, head: bytes) -> None:
        if self.pretty:
            self.outcome.out.write(json.dumps(json.loads(head), indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
        else:
            self.outcome.out.write(head + SEPARATOR)

    def on_body(self, data: bytes) -> None:
        self.outcome.out.write(data)
        self.outcome.out.flush()

    def finish(self, trailers=()) -> None:
        if trailers:
            self.outcome.failed = True
            sys.stderr.write(f"lwa invoke: the stream failed after it started: {_stream_error(trailers)}\n")


def invoke(opts, environ: Mapping[str, str]) -> int:
    config = _setup(environ, opts.stream)
    if config is None:
        return 2
    try:
        if opts.event == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(opts.event, "rb") as f:
                body = f.read()
    except OSError as exc:
        sys.stderr.write(f"lwa invoke: cannot read {opts.event}: {exc.strerror or exc}\n")
        return 2
    shared, holder = _slots(config)
    outcome = _PrintOutcome(sys.stdout.buffer, opts.pretty)
    inv = _invocation(body, opts.request_id or _new_id(), opts.timeout, config, opts.tenant_id)
    try:
        loop.handle(inv, shared, outcome)
    except KeyboardInterrupt:
        return 130
    finally:
        for app in holder:
            app.close()
    return 1 if outcome.failed or not outcome.posted else 0


def _head_bytes(status: int, reason: str | None, pairs: list[tuple[str, str]]) -> bytes:
    from http import HTTPStatus  # noqa: PLC0415 - reason phrases, serve only

    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1", "replace")]
    for name, value in pairs:
        if "\r" in value or "\n" in value:
            continue
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogateescape")
        lines.append(name.encode("latin-1", "replace") + b": " + raw + b"\r\n")
    return b"".join(lines) + b"\r\n"


class _HttpOutcome:
    """Stands in for the Runtime API in `serve`: the one outcome becomes the client's HTTP answer."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.status: int | None = None

    def _send(self, status: int, reason: str | None, pairs: list[tuple[str, str]], body: bytes) -> None:
        head_only = self.handler.command == "HEAD"
        app_length = [v for n, v in pairs if n.lower() == "content-length"]
        pairs = [(n, v) for n, v in pairs if n.lower() not in _FRAMING]
        if status in _NO_BODY or status < 200:
            body = b""
        elif head_only:
            pairs += [("content-length", app_length[-1])] if app_length else []
        else:
            pairs.append(("content-length", str(len(body))))
        self.status = status
        try:
            self.handler.wfile.write(_head_bytes(status, reason, pairs) + (b"" if head_only else body))
        except OSError as exc:
            log.info("the HTTP client went away before the answer was written: %s", exc)
            self.handler.close_connection = True

    def post_response(self, request_id: str, payload: bytes) -> None:
        self._send(*http_answer(payload))

    def post_error(self, request_id: str, error_type: str, message: str) -> None:
        self._send(502, None, [("content-type", "application/json")], error_body(error_type, message))

    def open_stream(self, request_id: str) -> _HttpStream:
        return _HttpStream(self)

    def close(self) -> None:
        """`loop` calls this when writing the stream failed: here the HTTP client hung up."""
        log.info("serve: the HTTP client closed the connection mid-stream; the app connection was closed too")
        self.handler.close_connection = True


class _HttpStream(_StreamReplay):
    """A Lambda response stream replayed to the client: the prelude becomes the status line and
    headers, each body chunk one HTTP chunk written at once (SPEC §7.1, as Function URLs do)."""

    def __init__(self, outcome: _HttpOutcome) -> None:
        self.outcome = outcome
        self.wfile = outcome.handler.wfile
        self.chunked = True

    def on_prelude(self, head: bytes) -> None:
        self._start(json.loads(head))

    def on_body(self, data: bytes) -> None:
        if data and self.chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _start(self, prelude: dict) -> None:
        status = int(prelude.get("statusCode", 200))
        pairs = []
        for name, value in (prelude.get("headers") or {}).items():
            if name.lower() not in _FRAMING:
                pairs.extend((name, str(v)) for v in (value if isinstance(value, list) else [value]))
        pairs.extend(("set-cookie", str(c)) for c in prelude.get("cookies") or ())
        self.chunked = not (self.outcome.handler.command == "HEAD" or status in _NO_BODY or status < 200)
        if self.chunked:
            pairs.append(("transfer-encoding", "chunked"))
        self.outcome.status = status
        self.wfile.write(_head_bytes(status, None, pairs))

    def finish(self, trailers=()) -> None:
        if trailers or self.pending is not None:
            # A failure after the head went out (`pump` writes the whole prelude first): cut the
            # connection without the last chunk, so the client sees a truncated body, as a
            # Function URL does.
            if trailers:
                log.error("the response stream failed after it started: %s", _stream_error(trailers))
            self.outcome.handler.close_connection = True
            return
        if self.chunked:
            self.wfile.write(b"0\r\n\r\n")


def _read_chunked(rfile) -> bytes:
    parts = []
    while True:
        size = int(rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers of the request: dropped, as the front doors do
            return b"".join(parts)
        parts.append(rfile.read(size))
        rfile.readline(65537)


def _handler_class(ctx: dict):
    from http.server import BaseHTTPRequestHandler  # noqa: PLC0415 - serve only

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # streamed chunks leave at once

        def __getattr__(self, name: str):
            if name.startswith("do_"):  # every method token goes to the app, as with ANY routes
                return self._forward
            raise AttributeError(name)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
            log.warning("serve: " + format, *args)

        def _forward(self) -> None:
            started = time.monotonic()
            try:
                if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                    body = _read_chunked(self.rfile)
                else:
                    length = int(self.headers.get("content-length") or 0)
                    if length < 0:
                        raise ValueError(length)
                    body = self.rfile.read(length)
            except ValueError:
                self.send_error(400, "bad request body framing")
                return
            pairs = []
            for name, value in self.headers.items():
                try:  # http.client decodes header bytes as latin-1: give back UTF-8 text
                    value = value.encode("latin-1").decode("utf-8")
                except UnicodeError:
                    pass
                pairs.append((name, value))
            request_id = _new_id()
            event = build_event(ctx["source"], self.command, self.path, pairs, body, self.client_address[0],
                                self.server.server_address[1], request_id, alb_multi_value=ctx["alb_multi_value"])
            inv = _invocation(json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass"), request_id,
                              ctx["timeout"], ctx["config"])
            outcome = _HttpOutcome(self)
            loop.handle(inv, ctx["shared"], outcome)
            log.info("%s %s -> %s (%d ms)", self.command, self.path[:200], outcome.status,
                     (time.monotonic() - started) * 1000)

    return Handler


def _watch_child(child, stop: StopFlag, died: list) -> None:
    while not stop.wait(0.1):
        if child.poll() is not None:
            died.append(child.returncode)
            stop.set()
            return


def _stop_child(child) -> None:
    import subprocess  # noqa: PLC0415 - serve -- APP only

    if child.poll() is None:
        child.terminate()
        try:
            child.wait(CHILD_STOP_S)
        except subprocess.TimeoutExpired:
            log.warning("the app did not stop within %.0fs of SIGTERM; killing it", CHILD_STOP_S)
            child.kill()
            child.wait()


def serve(opts, command: list[str], environ: Mapping[str, str]) -> int:
    import socket  # noqa: PLC0415
    from http.server import ThreadingHTTPServer  # noqa: PLC0415 - never on the daemon path

    from .signals import install  # noqa: PLC0415

    config = _setup(environ, opts.stream)
    if config is None:
        return 2
    if opts.port == config.port:
        log.error("serve --port %d is the app's port (AWS_LWA_PORT): pick another one for the front door", opts.port)
        return 2
    config = config._replace(concurrency=max(config.concurrency, SERVE_POOL_SIZE))
    stop = StopFlag()
    install(stop)

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
        daemon_threads = True
        block_on_close = False

    shared, holder = _slots(config)
    ctx = {"source": opts.source, "alb_multi_value": opts.alb_multi_value, "timeout": opts.timeout,
           "config": config, "shared": shared}
    try:
        server = Server((opts.host, opts.port), _handler_class(ctx))
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", opts.host, opts.port, exc.strerror or exc)
        return 1
    child, died = None, []
    try:
        if command:
            import subprocess  # noqa: PLC0415 - serve -- APP only

            env = dict(environ)
            env["PORT"] = env["AWS_LWA_PORT"] = str(config.port)
            try:
                child = subprocess.Popen(command, env=env)
            except OSError as exc:
                log.error("cannot start the app %r: %s", command[0], exc.strerror or exc)
                return 1
            threading.Thread(target=_watch_child, args=(child, stop, died), name="lwa-child", daemon=True).start()
            ready, last = readiness.wait_ready(config, stop, config.readiness_timeout_s)
            if not ready and not stop.is_set():
                log.error("%s", readiness.not_ready_message(config, config.readiness_timeout_s or 0.0, last))
                return 1
        elif not readiness.probe(config._replace(readiness_protocol="tcp"))[0]:
            log.warning("nothing listens at %s yet: requests fail with 502 AppConnectionError until the app runs",
                        config.app_netloc)
        if not stop.is_set():
            threading.Thread(target=server.serve_forever, name="lwa-serve", daemon=True).start()
            host, port = server.server_address[:2]
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
            _stop_child(child)
        for app in holder:
            app.close()
    if died:
        log.error("the app exited with code %s", died[0])
        return 1
    return 0


# ---- command line ----------------------------------------------------------------------------

def _parser(kind: str, environ: Mapping[str, str]):
    import argparse  # noqa: PLC0415 - subcommands only

    timeout = float(environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or DEFAULT_TIMEOUT_S)
    footer = (
        "The app is reached at AWS_LWA_HOST:AWS_LWA_PORT (default 127.0.0.1:8080) and every AWS_LWA_*\n"
        "variable applies as in Lambda (see `python -m lwa --help`). Logs go to stderr."
    )
    if kind == "invoke":
        p = argparse.ArgumentParser(
            prog="python -m lwa invoke", formatter_class=argparse.RawDescriptionHelpFormatter,
            description="Send one Lambda event to the app already running on this host, through the same\n"
                        "translators as in Lambda, and print the Lambda response payload on stdout.\n"
                        "An invocation error prints {\"errorType\",\"errorMessage\"} and exits 1.",
            epilog=footer,
        )
        p.add_argument("event", metavar="EVENT.json", help="the event file; - reads it from stdin")
        p.add_argument("--stream", action="store_true",
                       help="answer as a response stream (as AWS_LWA_INVOKE_MODE=response_stream): the prelude "
                            "JSON, 8 NUL bytes, then the body as it arrives")
        p.add_argument("--pretty", action="store_true",
                       help="indent the JSON result (streamed: the prelude, a newline, then the body)")
        p.add_argument("--request-id", metavar="ID", help="the Lambda request id [a random UUID]")
        p.add_argument("--tenant-id", metavar="T", help="the tenant id, sent to the app as x-amz-tenant-id")
    else:
        p = argparse.ArgumentParser(
            prog="python -m lwa serve", formatter_class=argparse.RawDescriptionHelpFormatter,
            usage="python -m lwa serve [options] [-- APP COMMAND...]",
            description="A local HTTP front door: each request becomes the event API Gateway, a Function\n"
                        "URL or an ALB would send, goes through lwa as in Lambda, and the Lambda response\n"
                        "is written back. Invocation errors answer 502 with the error JSON. Ctrl-C stops.\n"
                        "-- APP COMMAND... first starts the app (PORT and AWS_LWA_PORT set for it), waits\n"
                        "until it is ready (AWS_LWA_READINESS_CHECK_*), and stops it with SIGTERM at exit.",
            epilog=footer,
        )
        p.add_argument("--port", type=int, default=DEFAULT_SERVE_PORT,
                       help=f"port to listen on; 0 picks a free one [{DEFAULT_SERVE_PORT}]")
        p.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
        p.add_argument("--source", choices=sorted(SOURCES), default="v2",
                       help="event shape: v2 = HTTP API payload 2.0 / Function URL, v1 = REST API, "
                            "alb = Application Load Balancer [v2]")
        p.add_argument("--alb-multi-value", action="store_true",
                       help="with --source alb: multi-value headers mode (multiValueHeaders and "
                            "multiValueQueryStringParameters)")
        p.add_argument("--stream", action="store_true",
                       help="stream responses (as AWS_LWA_INVOKE_MODE=response_stream): chunked, each "
                            "piece sent to the client as the app writes it")
    p.add_argument("--timeout", type=float, default=timeout, metavar="S",
                   help=f"the invocation deadline in seconds, like the function timeout "
                        f"[AWS_LAMBDA_FUNCTION_TIMEOUT or {DEFAULT_TIMEOUT_S:.0f}]")
    return p


def main(args: list[str], environ: Mapping[str, str]) -> int:
    """`args` is argv after `python -m lwa`, starting with `invoke` or `serve`."""
    kind, rest = args[0], list(args[1:])
    command: list[str] = []
    if kind == "serve" and "--" in rest:
        cut = rest.index("--")
        rest, command = rest[:cut], rest[cut + 1:]
    parser = _parser(kind, environ)
    opts = parser.parse_args(rest)
    if opts.timeout <= 0:
        parser.error("--timeout must be a number of seconds > 0")
    if kind == "invoke":
        return invoke(opts, environ)
    if kind == "serve" and "--" in args and not command:
        parser.error("nothing after --: give the command that starts the app")
    return serve(opts, command, environ)
