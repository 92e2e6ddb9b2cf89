"""The one urllib3 connection pool to the app, and each HTTP/1.1 exchange over it.

urllib3 keeps the connections (pool size, connecting, dropping dead or stray-byte ones). lwa
writes each request exactly as the translator built it (target as given, headers in order with
duplicates, nothing added but Host when the event had none, and Content-Length) and reads the
answer with its own strict parser (`http1`): http.client takes 1xx answers other than 100 as
final and accepts malformed heads (docs/behaviour.md, decision "app edge"). A connection goes
back to the pool only after a complete, clean answer to a completely sent request; every other
outcome closes it, so nothing of one invocation can reach the next. Every step is bounded by
the invocation deadline.
"""

from __future__ import annotations

import select
import socket
import time
from typing import TYPE_CHECKING, Iterator

from . import http1
from .errors import (
    AppConnectionError,
    AppResponseInvalidError,
    AppResponseTruncatedError,
    AppTimeoutError,
)
from .hiding import import_hiding
from .model import AppResponse

# urllib3 imports brotli only to decode "br" answers, which lwa never asks for: hidden for this
# import, brotli loads only when lwa compresses a response (docs/behaviour.md, decision "compression").
_urllib3 = import_hiding("urllib3", ("brotli", "brotlicffi"))
_NewConnectionError = _urllib3.exceptions.NewConnectionError
_ConnectTimeoutError = _urllib3.exceptions.ConnectTimeoutError

if TYPE_CHECKING:
    from .config import Config
    from .model import AppRequest

IDLE_LIMIT_S = 4.0  # pooled connections idle longer are not reused (docs/behaviour.md, decision "concurrency")
SEND_SIZE = 65536
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_NO_ANSWER = (http1.NoResponse, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
_TIMEOUT = (socket.timeout, TimeoutError)


def _wire_value(value: str) -> bytes:
    """Header value bytes: UTF-8 (context headers carry raw non-ASCII, docs/behaviour.md §5.6.1)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from a JSON "\ud800" escape in the event
        return value.encode("utf-8", "surrogatepass")


def _path(target: str) -> str:
    """The target without its query, for messages: query values may be personal data."""
    return target.split("?", 1)[0][:200]


class _Attempt:
    """One request on one connection: what was sent, and whether the connection may be reused."""

    __slots__ = ("conn", "deadline", "reader", "wrote", "complete", "early", "interim")

    def __init__(self, conn, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.reader = http1.Reader(self._recv)
        self.wrote = False  # the request head went out: the app may have the request
        self.complete = False  # the whole request went out
        self.early: http1.Head | None = None  # a final answer that came while the body was going out
        self.interim = 0  # 1xx answers read while sending

    def _recv(self, size: int) -> bytes:
        """One receive, bounded by what is left of the deadline: an app that trickles bytes
        cannot stretch the wait past it."""
        App.bound(self.conn, self.deadline)
        return self.conn.sock.recv(size)

    def send(self, head: bytes, body: bytes) -> None:
        """Send the request while watching for an early answer. Interim 1xx answers (an app may
        send 103 Early Hints before reading the body) are dropped and the body goes on; a final
        error answer (4xx/5xx, an early 413) stops the body, since the app will not read it; a
        final success answer is kept and the body still goes out (the app may want it)."""
        sock = self.conn.sock
        if len(body) <= SEND_SIZE:
            sock.sendall(head + body)
            self.wrote = self.complete = True
            return
        sock.sendall(head)
        self.wrote = True
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLOUT)
        view = memoryview(body)
        sent = 0
        while sent < len(view):
            left_ms = (self.deadline - time.monotonic()) * 1000.0
            events = poller.poll(left_ms) if left_ms > 0 else []
            if not events:
                raise socket.timeout("invocation deadline reached while sending the body")
            flags = events[0][1]
            if flags & (select.POLLHUP | select.POLLERR):
                return  # the app closed: whatever it answered is read next
            if flags & select.POLLIN:
                answer = http1.read_head(self.reader)
                if answer.status < 200:
                    self.interim += 1
                    if self.interim > http1.MAX_INTERIM:
                        raise http1.ProtocolError(f"more than {http1.MAX_INTERIM} interim (1xx) responses")
                    continue
                self.early = answer
                if answer.status >= 400:
                    return
                poller.modify(sock, select.POLLOUT)
                continue
            sent += sock.send(view[sent : sent + SEND_SIZE])
        self.complete = True

    def response(self, method: str) -> tuple[http1.Head, http1.Framing]:
        if self.early is not None:
            return self.early, http1.framing(self.early, method)
        return http1.read_response(self.reader, method, self.interim)


class Exchange:
    """An answered request whose body is still on the wire."""

    def __init__(self, app: App, attempt: _Attempt, head: http1.Head, frame: http1.Framing, deadline: float) -> None:
        self.app = app
        self.attempt: _Attempt | None = attempt
        self.frame = frame
        self.deadline = deadline
        self.status = head.status
        self.headers = head.headers
        self.reusable = attempt.complete and http1.keep_alive(head, frame)

    def chunks(self) -> Iterator[bytes]:
        """Each piece of the body as the app writes it; raises AppTimeout, AppResponseTruncated or
        AppResponseInvalid. The connection returns to the pool only once the body ended cleanly."""
        attempt = self.attempt
        if attempt is None:
            return
        try:
            yield from attempt.reader.body(self.frame)
        except _TIMEOUT:
            self.close()
            raise AppTimeoutError("the app did not finish its response before the invocation deadline") from None
        except http1.Truncated as exc:
            self.close()
            raise AppResponseTruncatedError(f"the app's response broke off: {exc}") from None
        except http1.ProtocolError as exc:
            self.close()
            raise AppResponseInvalidError(f"the app's response body is not valid HTTP/1.1: {exc}") from None
        except OSError as exc:
            self.close()
            if time.monotonic() >= self.deadline:
                raise AppTimeoutError("the app did not finish its response before the invocation deadline") from None
            raise AppResponseTruncatedError(f"the app's response broke off: {_describe(exc)}") from None
        except GeneratorExit:  # the consumer stopped early: the rest of the body is still on the wire
            self.close()
            raise
        self.close(reuse=self.reusable and attempt.reader.pending == 0)

    def read_all(self, limit: int) -> bytes:
        """The body, or its first `limit` bytes and a bit more when it is longer: memory stays
        bounded whatever the app sends; the caller sees `len(body) > limit` and reports it."""
        body = http1.join_upto(self.chunks(), limit)
        self.close()  # a no-op after a complete body; else the rest is still on the wire
        return body

    def close(self, reuse: bool = False) -> None:
        """Give the connection back: kept alive only when `reuse`, else closed."""
        attempt, self.attempt = self.attempt, None
        if attempt is None:
            return
        if not reuse:
            attempt.conn.close()
        self.app.put(attempt.conn)


class App:
    """Talks to the app on `host:port` through one pool shared by all slot threads."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pool = self._new_pool()
        host = f"[{config.host}]" if ":" in config.host else config.host
        self.host_header = (host if config.port == 80 else f"{host}:{config.port}").encode("ascii", "replace")

    def _new_pool(self):
        return _urllib3.HTTPConnectionPool(
            self.config.host, self.config.port, maxsize=max(self.config.concurrency, 1), block=False, retries=False
        )

    def _get(self):
        conn = self.pool._get_conn()  # urllib3 drops one the app closed or sent stray bytes on
        if conn.sock is not None:
            now, wall = time.monotonic(), time.time()
            last, last_wall = getattr(conn, "_lwa_idle_since", (now, wall))
            # Idle too long, or a wall-clock gap (freeze/thaw, SnapStart restore): the app or the
            # kernel may have dropped it, so never reuse it.
            if now - last > IDLE_LIMIT_S or abs(wall - last_wall) > IDLE_LIMIT_S:
                conn.close()
        return conn

    def put(self, conn) -> None:
        conn._lwa_idle_since = (time.monotonic(), time.time())
        self.pool._put_conn(conn)

    @staticmethod
    def bound(conn, deadline: float) -> None:
        """Bound the next socket call by what is left of the invocation deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("invocation deadline reached")
        conn.timeout = remaining
        if conn.sock is not None:
            conn.sock.settimeout(remaining)

    def _head(self, req: AppRequest) -> bytes:
        has_host = any(name == "host" for name, _ in req.headers)
        text = "\r\n".join([f"{req.method} {req.target} HTTP/1.1", *(f"{n}: {v}" for n, v in req.headers)])
        try:  # one encode for the whole head; a lone surrogate somewhere takes the piece-by-piece way
            head = text.encode("utf-8")
        except UnicodeEncodeError:
            return self._head_by_piece(req)
        host = b"" if has_host else b"\r\nhost: " + self.host_header
        return b"%s%s\r\ncontent-length: %d\r\n\r\n" % (head, host, len(req.body))

    def _head_by_piece(self, req: AppRequest) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (req.method.encode("ascii"), req.target.encode("utf-8", "surrogatepass"))]
        has_host = False
        for name, value in req.headers:
            has_host = has_host or name == "host"
            lines.append(name.encode("ascii") + b": " + _wire_value(value))
        if not has_host:
            lines.append(b"host: " + self.host_header)
        lines.append(b"content-length: %d" % len(req.body))
        lines.append(b"\r\n")
        return b"\r\n".join(lines)

    def open(self, req: AppRequest, deadline: float) -> Exchange:
        """Send `req` and read the final status and headers; the body stays on the wire.

        A reused connection that fails before any response byte is retried once on a fresh one,
        for idempotent methods or when the request head never went out (docs/behaviour.md,
        decision "concurrency")."""
        if deadline <= time.monotonic():
            raise AppTimeoutError(
                f"the invocation deadline had passed before lwa could send {req.method} {_path(req.target)}: "
                "the app was not asked"
            )
        head = self._head(req)
        for attempt_no in (0, 1):
            conn = self._get()
            reused = conn.sock is not None
            attempt = _Attempt(conn, deadline)
            try:
                return self._exchange(attempt, req, head)
            except _NO_ANSWER as exc:
                conn.close()
                self.put(conn)
                idempotent = not attempt.wrote or req.method.upper() in _IDEMPOTENT
                if reused and attempt_no == 0 and not attempt.reader.seen and idempotent:
                    continue
                raise AppConnectionError(f"the app closed the connection without answering: {_describe(exc)}") from None
            except Exception as exc:  # noqa: BLE001 - mapped to an lwa error or re-raised as it is
                conn.close()
                self.put(conn)
                raise self._error(exc, req) from None
        raise AssertionError("unreachable")

    def _exchange(self, attempt: _Attempt, req: AppRequest, head: bytes) -> Exchange:
        conn = attempt.conn
        self.bound(conn, attempt.deadline)
        if conn.sock is None:
            conn.connect()
            self.bound(conn, attempt.deadline)
        try:
            attempt.send(head, req.body)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The app may have answered and closed before reading the whole body (an early 413):
            # its answer is on the socket still. Read it; without one, the send error stands.
            if not attempt.wrote:
                raise
            try:
                return Exchange(self, attempt, *attempt.response(req.method), attempt.deadline)
            except (http1.ProtocolError, OSError):
                raise exc from None
        return Exchange(self, attempt, *attempt.response(req.method), attempt.deadline)

    def _error(self, exc: Exception, req: AppRequest) -> Exception:
        """The lwa error for what broke an exchange; anything unexpected stays as it is (a bug)."""
        if isinstance(exc, http1.Truncated):
            return AppResponseTruncatedError(f"the app's response broke off: {exc}")
        if isinstance(exc, http1.ProtocolError):
            return AppResponseInvalidError(f"the app's response is not valid HTTP/1.1: {exc}")
        # urllib3 files "connection refused" (NewConnectionError) under its connect timeouts.
        connect_timeout = isinstance(exc, _ConnectTimeoutError) and not isinstance(exc, _NewConnectionError)
        if isinstance(exc, _TIMEOUT) or connect_timeout:
            return AppTimeoutError(
                f"the app did not answer {req.method} {_path(req.target)} before the invocation deadline"
            )
        if isinstance(exc, (OSError, _urllib3.exceptions.HTTPError)):  # refused, unreachable, reset
            return AppConnectionError(f"cannot reach the app at {self.config.app_netloc}: {_describe(exc)}")
        return exc

    def send(self, req: AppRequest, deadline: float, limit: int = 1 << 20) -> AppResponse:
        """The whole exchange, buffered (a body over `limit` is cut just past it: see read_all)."""
        ex = self.open(req, deadline)
        return AppResponse(ex.status, ex.headers, ex.read_all(limit))

    def drop_connections(self) -> None:
        """Close every pooled connection (before a snapshot, after a restore)."""
        self.pool.close()
        self.pool = self._new_pool()

    def close(self) -> None:
        self.pool.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
