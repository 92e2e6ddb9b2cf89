"""The one urllib3 connection pool to the app; urllib3 errors become lwa errors here only.

Requests are written exactly as the translators built them: the target is sent as given (no
re-encoding, no dot-segment resolution), headers in order with duplicates, no header added but
Host (when the event had none). Every exchange is bounded by the invocation deadline.
"""

from __future__ import annotations

import http.client
import socket
import sys
import time
from typing import TYPE_CHECKING, Iterator

# urllib3 imports brotli when it is imported, only to decode "br" answers, which lwa never asks
# for (no Accept-Encoding added, decode_content=False). Hide it for this import, so brotli loads
# only when lwa compresses a response (SPEC Part A "compression").
_HIDDEN = [name for name in ("brotli", "brotlicffi") if name not in sys.modules]
sys.modules.update(dict.fromkeys(_HIDDEN))
try:
    import urllib3
    import urllib3.connection
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.util import SKIP_HEADER
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name, False) is None:
            del sys.modules[_name]

from .errors import AppConnectionError, AppResponseTruncatedError, AppTimeoutError
from .model import AppResponse

if TYPE_CHECKING:
    from .config import Config
    from .model import AppRequest

IDLE_LIMIT_S = 4.0  # pooled connections idle longer are not reused (SPEC Part A "concurrency")
READ_SIZE = 65536
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_NO_ANSWER = (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


class _Pairs:
    """Header pairs in the Mapping shape urllib3's `request()` iterates: duplicates and order kept."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.pairs)

    def items(self) -> list:
        return self.pairs


def _wire_value(value: str) -> bytes:
    """Header value bytes: UTF-8 (context headers carry raw non-ASCII, SPEC §5.6.1)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate from a JSON "\ud800" escape in the event
        return value.encode("utf-8", "surrogatepass")


def _text(value: str) -> str:
    """http.client decodes header bytes as latin-1; give back UTF-8 text when it is that (Q-12)."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class _LastLine:
    """Read-through for the response head that remembers the last line read."""

    __slots__ = ("fp", "last")

    def __init__(self, fp) -> None:
        self.fp = fp
        self.last = None

    def readline(self, limit: int = -1) -> bytes:
        self.last = self.fp.readline(limit)
        return self.last

    def close(self) -> None:
        self.fp.close()


class _Response(http.client.HTTPResponse):
    """http.client takes EOF as the end of a response head: a head cut off mid-header would pass
    as a complete, empty answer. Fail it instead, never report a broken answer as a success (Q-11)."""

    def begin(self) -> None:
        fp, probe = self.fp, _LastLine(self.fp)
        self.fp = probe
        try:
            super().begin()
        finally:
            if self.fp is probe:  # else http.client closed it (and set None) on a bad status line
                self.fp = fp
        if probe.last == b"":
            raise http.client.HTTPException("the connection closed in the middle of the response head")


class _Connection(urllib3.connection.HTTPConnection):
    """Notes when the request head has been handed to the kernel: from then on the app may have
    the request, so a non-idempotent one is never sent again (SPEC Part A "concurrency")."""

    response_class = _Response
    wrote = False

    def send(self, data) -> None:
        super().send(data)
        self.wrote = True

    def putheader(self, header: str, *values) -> None:
        """Our own header lines (bytes values) go out as they are: every name and value was
        checked when the request was built (sources/headers.py: tokens, no CR/LF/NUL), so
        http.client's per-header regexes would only repeat that on the hot path."""
        if len(values) == 1 and type(values[0]) is bytes:
            self._output(header.encode("ascii") + b": " + values[0])
        else:
            super().putheader(header, *values)


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class Exchange:
    """An answered request whose body is still on the wire (streaming mode)."""

    def __init__(self, app: App, conn, resp, deadline: float) -> None:
        self.app = app
        self.conn = conn
        self.resp = resp
        self.deadline = deadline
        self.status: int = resp.status
        self.headers: tuple[tuple[str, str], ...] = tuple(
            (name.lower(), _text(value)) for name, value in resp.headers.items()
        )

    def chunks(self) -> Iterator[bytes]:
        """Each piece of the body as the app writes it; raises AppTimeout / AppResponseTruncated."""
        try:
            while True:
                self.app._bound(self.conn, self.deadline)
                data = self.resp.read1(READ_SIZE, decode_content=False)
                if not data:
                    break
                yield data
        except (Urllib3Error, OSError, http.client.HTTPException) as exc:
            self.close(reuse=False)
            if time.monotonic() >= self.deadline or isinstance(exc, (socket.timeout, TimeoutError)):
                raise AppTimeoutError("the app did not finish its response before the invocation deadline") from None
            raise AppResponseTruncatedError(f"the app's response broke off: {_describe(exc)}") from None
        self.close(reuse=True)

    def read_all(self, limit: int | None = None) -> bytes:
        parts = []
        size = 0
        for data in self.chunks():
            parts.append(data)
            size += len(data)
            if limit is not None and size > limit:
                self.close(reuse=False)
                break
        return b"".join(parts)

    def close(self, reuse: bool = False) -> None:
        """Give the connection back (kept alive only after a complete, reusable exchange)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        original = getattr(self.resp, "_original_response", None)
        if not reuse or original is None or original.will_close:
            conn.close()
        self.app._put(conn)


class App:
    """Talks to the app on `host:port` through one pool shared by all slot threads."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pool = _Pool(config.host, config.port, maxsize=max(config.concurrency, 1), block=False, retries=False)

    def _get(self):
        conn = self.pool._get_conn()
        if conn.sock is not None:
            now, wall = time.monotonic(), time.time()
            last, last_wall = getattr(conn, "_lwa_idle_since", (now, wall))
            # Idle too long, or a wall-clock gap (freeze/thaw, SnapStart restore): the app or the
            # kernel may have dropped it, so never reuse it.
            if now - last > IDLE_LIMIT_S or abs(wall - last_wall) > IDLE_LIMIT_S:
                conn.close()
        return conn

    def _put(self, conn) -> None:
        conn._lwa_idle_since = (time.monotonic(), time.time())
        self.pool._put_conn(conn)

    @staticmethod
    def _bound(conn, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("invocation deadline reached")
        conn.timeout = remaining
        if conn.sock is not None:
            conn.sock.settimeout(remaining)

    def open(self, req: AppRequest, deadline: float) -> Exchange:
        """Send `req` and read the status and headers; the body stays on the wire.

        A reused connection that fails before any response byte is retried once on a fresh one,
        for idempotent methods or when the request could not be sent at all (SPEC Part A)."""
        headers = [(n, _wire_value(v)) for n, v in req.headers]
        names = {n for n, _ in req.headers}
        headers.append(("content-length", b"%d" % len(req.body)))
        if "user-agent" not in names:
            headers.append(("user-agent", SKIP_HEADER))
        if "accept-encoding" not in names:
            headers.append(("accept-encoding", SKIP_HEADER))
        wire_headers = _Pairs(headers)
        for attempt in (0, 1):
            conn = self._get()
            reused = conn.sock is not None
            conn.wrote = False  # "sent" = the head went out, even if the body then failed (EPIPE)
            try:
                self._bound(conn, deadline)
                conn.request(
                    req.method, req.target, body=req.body or None, headers=wire_headers,
                    preload_content=False, decode_content=False,
                )
                resp = conn.getresponse()
                return Exchange(self, conn, resp, deadline)
            except _NO_ANSWER as exc:
                conn.close()
                self._put(conn)
                if reused and attempt == 0 and (not conn.wrote or req.method.upper() in _IDEMPOTENT):
                    continue
                raise AppConnectionError(f"the app closed the connection without answering: {_describe(exc)}") from None
            except (socket.timeout, TimeoutError):
                conn.close()
                self._put(conn)
                raise AppTimeoutError(
                    f"the app did not answer {req.method} {req.target[:200]} before the invocation deadline"
                ) from None
            except (Urllib3Error, OSError, http.client.HTTPException) as exc:
                conn.close()
                self._put(conn)
                if isinstance(exc, http.client.HTTPException):
                    raise AppConnectionError(f"the app sent a malformed response: {_describe(exc)}") from None
                raise AppConnectionError(
                    f"cannot reach the app at {self.config.app_netloc}: {_describe(exc)}"
                ) from None
        raise AssertionError("unreachable")

    def send(self, req: AppRequest, deadline: float, limit: int | None = None) -> AppResponse:
        """The whole exchange, buffered; `limit` stops reading a body that can never be returned."""
        ex = self.open(req, deadline)
        return AppResponse(ex.status, ex.headers, ex.read_all(limit))  # HEAD: http.client reads no body

    def drop_connections(self) -> None:
        """Close every pooled connection (before a snapshot, after a restore)."""
        self.pool.close()
        self.pool = _Pool(
            self.config.host, self.config.port, maxsize=max(self.config.concurrency, 1), block=False, retries=False
        )

    def close(self) -> None:
        self.pool.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
