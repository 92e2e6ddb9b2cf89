"""A controllable web app on 127.0.0.1 that records every request exactly as it came off the wire.

Raw sockets, not http.server, so tests see duplicate headers in order, raw header bytes, the
raw request-target, which connection a request used, and can make the app misbehave (reset,
truncate, stall, send garbage). Handlers are `handler(seen, w)`; module-level factories build
the usual ones. Also runnable as a process:

    python -m tests.support.apps --port 0 --handler echo [--sigterm-file F]

prints `READY <port>` once listening; SIGTERM writes `SIGTERM` to F and exits 0.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .http11 import (
    Head,
    HttpReader,
    ProtocolError,
    encode_headers,
    peer_closed,
    quiet_shutdown,
    reason_phrase,
    rst_close,
)
from .loopback import LoopbackServer

Handler = Callable[["Seen", "Writer"], None]
HeaderList = Iterable[tuple[str, "str | bytes"]]


def _decode(raw: bytes) -> str:
    """Header bytes as text: UTF-8 when valid, else latin-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass
class Seen:
    """One request as the app received it (names lowercased, values raw, wire order kept)."""

    method: str
    target: str
    path: str
    query: str
    headers: list[tuple[str, bytes]]
    body: bytes
    client_port: int
    conn_id: int
    at: float  # monotonic time the whole request (body included) had arrived
    version: str = "HTTP/1.1"
    trailers: list[tuple[str, bytes]] = field(default_factory=list)
    sent_at: list[tuple[float, int]] = field(default_factory=list, repr=False)
    """(monotonic time, size) of each chunk the handler wrote with `Writer.chunk`."""

    def header(self, name: str) -> str | None:
        """The single value of `name`; None if absent; AssertionError if it was sent twice."""
        values = self.header_all(name)
        if len(values) > 1:
            raise AssertionError(f"header {name!r} repeated: {values!r}")
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [_decode(v) for n, v in self.headers if n == name]


class Writer:
    """How a handler answers: a whole response, a chunked one, raw bytes, a reset or a FIN."""

    def __init__(self, sock: socket.socket, seen: Seen, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        """Set when the server stops: handlers that wait should wait on it."""
        self.sent_at = seen.sent_at
        self.state = "idle"  # idle → streaming → done, or raw / closed
        self.keep_alive = True
        self._head_only = seen.method == "HEAD"

    def _head(self, status: int, headers: list[tuple[str, str | bytes]],
              reason: str | None) -> bytes:
        if self.state != "idle":
            raise RuntimeError(f"response already started ({self.state})")
        if any(n.lower() == "connection" and b"close" in _b(v).lower() for n, v in headers):
            self.keep_alive = False
        line = f"HTTP/1.1 {status} {reason or reason_phrase(status)}\r\n".encode("latin-1")
        return line + encode_headers(headers) + b"\r\n"

    def respond(self, status: int, headers: HeaderList = (), body: bytes = b"",
                reason: str | None = None) -> None:
        """Send a whole response; Content-Length is added unless it or Transfer-Encoding is set
        (with Transfer-Encoding, `body` must already be framed)."""
        headers = list(headers)
        names = {n.lower() for n, _ in headers}
        if "content-length" not in names and "transfer-encoding" not in names:
            headers.append(("Content-Length", str(len(body))))
        data = self._head(status, headers, reason)
        self.sock.sendall(data if self._head_only else data + body)
        self.state = "done"

    def start(self, status: int, headers: HeaderList = (), reason: str | None = None) -> None:
        """Start a chunked response (Transfer-Encoding: chunked added unless given)."""
        headers = list(headers)
        if "transfer-encoding" not in {n.lower() for n, _ in headers}:
            headers.append(("Transfer-Encoding", "chunked"))
        self.sock.sendall(self._head(status, headers, reason))
        self.state = "streaming"

    def chunk(self, data: bytes) -> None:
        """Write one chunk now (TCP_NODELAY is on) and record when."""
        if self.state != "streaming":
            raise RuntimeError("chunk() before start()")
        if data and not self._head_only:
            self.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        self.sent_at.append((time.monotonic(), len(data)))

    def end(self, trailers: HeaderList | None = None) -> None:
        """Finish the chunked body, with optional trailer fields."""
        if self.state != "streaming":
            raise RuntimeError("end() before start()")
        if not self._head_only:
            self.sock.sendall(b"0\r\n" + encode_headers(trailers or ()) + b"\r\n")
        self.state = "done"

    def raw(self, data: bytes) -> None:
        """Write arbitrary bytes; the connection is closed after the handler returns."""
        self.sock.sendall(data)
        self.keep_alive = False
        if self.state == "idle":
            self.state = "raw"

    def reset(self) -> None:
        """Abort the connection with a TCP RST now."""
        rst_close(self.sock)
        self.state = "closed"
        self.keep_alive = False

    def close(self) -> None:
        """Close the connection with a FIN, without (finishing) a response."""
        quiet_shutdown(self.sock)
        self.sock.close()
        self.state = "closed"
        self.keep_alive = False

    def peer_closed(self) -> bool:
        """True once the client has hung up (so stalling handlers can give up)."""
        return self.state == "closed" or peer_closed(self.sock)


def _b(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else v.encode("utf-8")


class AppServer(LoopbackServer):
    """A threaded HTTP/1.1 app on 127.0.0.1 (keep-alive, one thread per connection).

    `requests` lists every request except health checks (GET/HEAD `health_path`, answered
    `health_status`, listed in `health_checks`). With `ready_after_s` the port is bound at once
    but only listens after that delay, so connects are refused until then (readiness tests).
    `health_status` may be a callable returning the status for each check; `handler` may be
    replaced at any time. Handlers that wait should wait on `w.stopping` so `stop()` is prompt.
    """

    def __init__(self, handler: Handler | None = None, port: int = 0, *,
                 ready_after_s: float = 0.0, health_status: int | Callable[[], int] = 200,
                 health_path: str | None = "/healthz") -> None:
        super().__init__(port, listen_after_s=ready_after_s)
        self.handler: Handler = handler or echo
        self.ready_after_s = ready_after_s
        self.health_status = health_status
        self.health_path = health_path
        self.requests: list[Seen] = []
        self.health_checks: list[Seen] = []
        self.handler_errors: list[str] = []
        """Tracebacks of handler exceptions (the client got a 500 or a closed connection)."""

    # ---- waiting --------------------------------------------------------------------------

    def wait_requests(self, n: int = 1, timeout: float = 10.0) -> list[Seen]:
        """Until at least n (non-health) requests arrived; returns a copy of `requests`."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"app saw {len(self.requests)} requests, wanted {n} "
                                         f"within {timeout}s")
                self._cv.wait(min(left, 0.25))
            return list(self.requests)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the port is listening (see ready_after_s)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.ready_at is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"app not listening after {timeout}s")
                self._cv.wait(min(left, 0.25))

    # ---- one connection -------------------------------------------------------------------

    def serve(self, sock: socket.socket, client_port: int, conn_id: int) -> None:
        reader = HttpReader(sock)
        try:
            while not self.stopping.is_set():
                head = reader.read_head()
                if head is None or not self._serve_one(sock, reader, head, client_port, conn_id):
                    break
        except (OSError, ProtocolError):
            pass

    def _serve_one(self, sock: socket.socket, reader: HttpReader, head: Head,
                   client_port: int, conn_id: int) -> bool:
        if (head.get("expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body, trailers = reader.read_body(head)
        path, sep, query = head.target.partition("?")
        seen = Seen(head.method, head.target, path, query, list(head.headers), body,
                    client_port, conn_id, time.monotonic(), head.version, trailers)
        w = Writer(sock, seen, self.stopping)
        if not head.keep_alive():
            w.keep_alive = False
        is_health = self.health_path is not None and path == self.health_path \
            and head.method in ("GET", "HEAD")
        with self._cv:
            (self.health_checks if is_health else self.requests).append(seen)
            self._cv.notify_all()
        try:
            if is_health:
                hs = self.health_status
                status = hs() if callable(hs) else hs
                w.respond(status, [("Content-Type", "text/plain")], b"")
            else:
                self.handler(seen, w)
            if w.state == "idle":
                w.respond(500, [("Content-Type", "text/plain")], b"handler did not answer\n")
            elif w.state == "streaming":
                w.end()
        except Exception:  # noqa: BLE001  (a handler bug: kept in handler_errors for the test)
            tb = traceback.format_exc()
            with self._cv:
                self.handler_errors.append(tb)
            if w.state == "idle":
                w.respond(500, [("Content-Type", "text/plain"), ("Connection", "close")],
                          tb.encode("utf-8", "replace"))
            return False
        return w.keep_alive and w.state == "done"


# ---- ready-made handlers --------------------------------------------------------------------

def echo(seen: Seen, w: Writer) -> None:
    """200 JSON: method, target, path, query, headers [[name, value]], body_base64, client_port,
    conn_id (header values decoded as `Seen.header` does)."""
    payload = {
        "method": seen.method,
        "target": seen.target,
        "path": seen.path,
        "query": seen.query,
        "headers": [[n, _decode(v)] for n, v in seen.headers],
        "body_base64": base64.b64encode(seen.body).decode("ascii"),
        "client_port": seen.client_port,
        "conn_id": seen.conn_id,
    }
    w.respond(200, [("Content-Type", "application/json")], json.dumps(payload).encode("utf-8"))


def fixed(status: int, headers: HeaderList = (), body: bytes | str = b"") -> Handler:
    """Always the same response."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    headers = list(headers)

    def handler(seen: Seen, w: Writer) -> None:
        w.respond(status, headers, data)
    return handler


def sleep(seconds: float) -> Handler:
    """Echo after `seconds` (cut short when the server stops)."""
    def handler(seen: Seen, w: Writer) -> None:
        if not w.stopping.wait(seconds):
            echo(seen, w)
    return handler


def sse(events: list[bytes], pause_s: float) -> Handler:
    """text/event-stream, one chunk per event, `pause_s` between events.

    The returned handler's `events_at` lists (monotonic time, event) for every event written.
    """
    events_at: list[tuple[float, bytes]] = []

    def handler(seen: Seen, w: Writer) -> None:
        w.start(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        for i, ev in enumerate(events):
            if i and w.stopping.wait(pause_s):
                return
            w.chunk(ev)
            events_at.append((time.monotonic(), ev))
        w.end()
    handler.events_at = events_at  # type: ignore[attr-defined]
    return handler


_PATTERN_PERIOD = 251  # prime, so the pattern never lines up with chunk or buffer sizes
_PATTERN = bytes(range(_PATTERN_PERIOD)) * (1 + (1 << 20) // _PATTERN_PERIOD)


def pattern(offset: int, n: int) -> bytes:
    """The deterministic download bytes [offset, offset + n): byte i is i % 251."""
    out = bytearray()
    while n > 0:
        start = (offset % _PATTERN_PERIOD)
        take = min(n, len(_PATTERN) - _PATTERN_PERIOD)
        out += _PATTERN[start:start + take]
        offset += take
        n -= take
    return bytes(out)


def download(total_bytes: int, chunk: int = 65536, *, chunked: bool = True) -> Handler:
    """application/octet-stream of `pattern(0, total_bytes)`, generated chunk by chunk
    (chunked framing, or Content-Length with chunked=False)."""
    def handler(seen: Seen, w: Writer) -> None:
        headers = [("Content-Type", "application/octet-stream")]
        if chunked:
            w.start(200, headers)
        else:
            w.respond(200, headers + [("Content-Length", str(total_bytes))])
        for off in range(0, total_bytes, chunk):
            data = pattern(off, min(chunk, total_bytes - off))
            if chunked:
                w.chunk(data)
            elif seen.method != "HEAD":
                w.sock.sendall(data)
                w.sent_at.append((time.monotonic(), len(data)))
        if chunked:
            w.end()
    return handler


def reset_mid_response(after_bytes: int, *, chunked: bool = False,
                       pause_s: float = 0.05) -> Handler:
    """Announce more body than is sent (Content-Length, or chunked), send `after_bytes` of
    `pattern`, wait `pause_s` so the client can read them, then RST."""
    def handler(seen: Seen, w: Writer) -> None:
        data = pattern(0, after_bytes)
        if chunked:
            w.start(200, [("Content-Type", "application/octet-stream")])
            if data:
                w.chunk(data)
        else:
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Length: {after_bytes + 65536}\r\n\r\n").encode("latin-1")
            w.raw(head + data)
        w.stopping.wait(pause_s)
        w.reset()
    return handler


def reset_before_response() -> Handler:
    """RST as soon as the request has been read."""
    def handler(seen: Seen, w: Writer) -> None:
        w.reset()
    return handler


def hang() -> Handler:
    """Never answer; give up only when the server stops or the client hangs up."""
    def handler(seen: Seen, w: Writer) -> None:
        while not w.stopping.wait(0.05) and not w.peer_closed():
            pass
        if w.state != "closed":
            w.close()
    return handler


def malformed() -> Handler:
    """Answer `HTTP/1.1 abc` (not a status code), then close."""
    def handler(seen: Seen, w: Writer) -> None:
        w.raw(b"HTTP/1.1 abc\r\n\r\n")
        w.close()
    return handler


def routes(table: dict[str, Handler], default: Handler = echo) -> Handler:
    """Dispatch on the exact path (no query)."""
    def handler(seen: Seen, w: Writer) -> None:
        table.get(seen.path, default)(seen, w)
    return handler


# ---- process mode ---------------------------------------------------------------------------

def handler_from_spec(spec: str) -> Handler:
    """`name` or `name:arg` → handler: echo, hang, malformed, reset_before_response,
    sleep:S, download:N, fixed:STATUS, reset_mid_response:N, sse:N (N events, 0.1 s apart)."""
    name, _, arg = spec.partition(":")
    makers: dict[str, Callable[[], Handler]] = {
        "echo": lambda: echo,
        "hang": hang,
        "malformed": malformed,
        "reset_before_response": reset_before_response,
        "sleep": lambda: sleep(float(arg or 1)),
        "download": lambda: download(int(arg or 1 << 20)),
        "fixed": lambda: fixed(int(arg or 200), [("Content-Type", "text/plain")], b"fixed\n"),
        "reset_mid_response": lambda: reset_mid_response(int(arg or 1024)),
        "sse": lambda: sse([b"data: %d\n\n" % i for i in range(int(arg or 3))], 0.1),
    }
    if name not in makers:
        raise SystemExit(f"unknown handler {spec!r}; one of {sorted(makers)}")
    return makers[name]()


def serve_until_signalled(server: AppServer, sigterm_file: str | None, *, announce: bool = False,
                          exit_delay: float = 0.0) -> None:
    """Process mode: serve until SIGTERM or SIGINT. `announce` prints `READY <port>` once
    listening; SIGTERM writes `SIGTERM <epoch seconds>` to `sigterm_file`; `exit_delay` lingers
    after the signal (a slow shutdown)."""
    got: list[str] = []
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        got.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with server:
        if announce:
            while server.ready_at is None and not stop.wait(0.01):
                pass
            if server.ready_at is not None:
                print(f"READY {server.port}", flush=True)
        while not stop.wait(0.2):
            pass
        if "SIGTERM" in got and sigterm_file:
            with open(sigterm_file, "w") as f:
                f.write(f"SIGTERM {time.time():.6f}\n")
        if exit_delay:
            time.sleep(exit_delay)


def serve_forever_script(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tests.support.apps` (blocks until SIGTERM/SIGINT)."""
    import argparse  # only the process mode needs it
    import sys

    p = argparse.ArgumentParser(prog="python -m tests.support.apps")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--handler", default="echo")
    p.add_argument("--sigterm-file")
    p.add_argument("--ready-after", type=float, default=0.0)
    p.add_argument("--health-path", default="/healthz", help='"none" disables health answers')
    p.add_argument("--health-status", type=int, default=200)
    p.add_argument("--exit-delay", type=float, default=0.0,
                   help="seconds to linger after SIGTERM before exiting (slow shutdown)")
    args = p.parse_args(argv)

    server = AppServer(handler_from_spec(args.handler), args.port,
                       ready_after_s=args.ready_after,
                       health_path=None if args.health_path in ("", "none") else args.health_path,
                       health_status=args.health_status)
    serve_until_signalled(server, args.sigterm_file, announce=True, exit_delay=args.exit_delay)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_forever_script())
