"""A small HTTP/1.1 client on plain sockets, for the Lambda APIs and the readiness probe.

Why not urllib3 here: it costs ~150 ms to import (ssl, http.client, email), which must not stand
between process start and the first poll; and it cannot send HTTP trailers, which the streaming
protocol needs for mid-stream errors (docs/behaviour.md §7.2).
"""

from __future__ import annotations

import socket

from . import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable

USER_AGENT = f"lwa/{__version__}"
_MAX_HEADER_LINE = 65536
_MAX_HEAD = 1 << 20
_READ_SIZE = 65536
_BIG_READ = 1 << 20
_COPY_LIMIT = 65536  # bigger bodies go out after the head, not copied into one buffer with it


class WireError(OSError):
    """The peer broke the HTTP exchange (closed early, sent garbage)."""


class NoAnswer(WireError):
    """The connection ended before the first byte of a response."""


class Response:
    """A whole answer. A `__slots__` class, not a NamedTuple: `typing` stays off the start-up path."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # lowercase names; a repeated header keeps its last value
        self.body = body


def connect_host(host: str) -> str | bytes:
    """The host for `socket.create_connection`: ASCII as bytes, since a str host makes getaddrinfo
    load the idna codec (encodings.idna, stringprep, unicodedata) even for "127.0.0.1", a few ms
    on the path to the first poll."""
    return host.encode("ascii") if host.isascii() else host


def split_netloc(netloc: str) -> tuple[str, int, str]:
    """`host:port[/base]` → (host, port, base path)."""
    base = ""
    if "/" in netloc:
        netloc, rest = netloc.split("/", 1)
        base = "/" + rest.rstrip("/") if rest.strip("/") else ""
    host, _, port = netloc.rpartition(":")
    if not host:
        host, port = netloc, "80"
    return host.strip("[]"), int(port), base


class Connection:
    """One keep-alive connection to `host:port`, reopened when the peer has closed it.

    Answers are read from one bytes buffer: a head is found with one search and split once, not
    read line by line; this runs twice per invocation (bench/run.py, section 2)."""

    def __init__(self, netloc: str, timeout: float | None = None) -> None:
        self.host, self.port, self.base = split_netloc(netloc)
        self.fixed = f"Host: {self.host}:{self.port}\r\nUser-Agent: {USER_AGENT}\r\n"  # in every request
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""  # received, not yet consumed

    def connect(self) -> None:
        """Open the connection now, if it is not open, so the first request finds it ready."""
        self._open()

    def _open(self) -> socket.socket:
        """The open socket, connecting first when there is none."""
        if self.sock is not None:
            return self.sock
        host = connect_host(self.host)
        sock = socket.create_connection((host, self.port), timeout=self.timeout)  # type: ignore[arg-type]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = b""
        return sock

    def _live(self) -> socket.socket:
        """The open socket of an exchange under way; gone means the exchange broke."""
        if self.sock is None:
            raise WireError("connection closed")
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def _head(self, method: str, path: str, headers: Iterable[tuple[str, str]], extra: str) -> bytes:
        fields = "".join([f"{k}: {v}\r\n" for k, v in headers])
        return f"{method} {self.base}{path} HTTP/1.1\r\n{self.fixed}{fields}{extra}\r\n".encode("latin-1")

    def request(
        self, method: str, path: str, headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
        timeout: float | None = -1.0,
    ) -> Response:
        """Send one request and read the whole answer; a stale reused socket is retried once."""
        extra = f"Content-Length: {len(body)}\r\n" if body is not None else ""
        head = self._head(method, path, headers, extra)
        # One send for a small request; a big body (MBs of response) is not copied again just to
        # join it to its head: two sends cost less than that copy (bench/run.py, 1 MiB).
        parts = (head, body) if body and len(body) > _COPY_LIMIT else (head + (body or b""),)
        want = self.timeout if timeout == -1.0 else timeout
        for attempt in (0, 1):
            fresh = self.sock is None
            sock = self._open()
            try:
                if sock.gettimeout() != want:  # settimeout is a syscall: only when it changes
                    sock.settimeout(want)
                for part in parts:
                    sock.sendall(part)
                return self._read_response(method)
            except (ConnectionError, NoAnswer):
                self.close()
                # A reused keep-alive socket the peer closed before answering: send once more.
                if fresh or attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def open_chunked(
        self, method: str, path: str, headers: list[tuple[str, str]], on_finish: Callable[[], None] | None = None,
    ) -> ChunkedWriter:
        """Start a request with a chunked body the caller writes piece by piece; `on_finish` is
        called once the peer has answered it."""
        sock = self._open()
        sock.settimeout(self.timeout)
        try:
            sock.sendall(self._head(method, path, headers, "Transfer-Encoding: chunked\r\n"))
        except BaseException:
            self.close()
            raise
        return ChunkedWriter(self, method, on_finish)

    def _fill(self) -> bool:
        """One receive into the buffer; False at the end of the stream."""
        data = self._live().recv(_READ_SIZE)
        self.buf += data
        return bool(data)

    def _take(self, size: int) -> bytes:
        """Exactly `size` bytes; a big body is gathered in pieces, not grown by concatenation."""
        buf = self.buf
        if len(buf) >= size:
            self.buf = buf[size:]
            return buf[:size]
        parts, have, sock = [buf], len(buf), self._live()
        while have < size:
            data = sock.recv(min(size - have, _BIG_READ))
            if not data:
                raise WireError("connection closed in the middle of a response body")
            parts.append(data)
            have += len(data)
        self.buf = b""
        return b"".join(parts)

    def _line(self) -> bytes:
        """One line of a chunked body, without its line end."""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line, self.buf = self.buf[:end], self.buf[end + 1:]
                return line.rstrip(b"\r")
            if len(self.buf) > _MAX_HEADER_LINE:
                raise WireError("a line of the response is too long")
            if not self._fill():
                raise WireError("connection closed in the middle of a response body")

    def _read_head(self) -> list[str]:
        """The next head's lines (CRLF or bare LF); NoAnswer when the peer closed before any."""
        while True:
            buf = self.buf
            crlf, lf = buf.find(b"\n\r\n", 0, _MAX_HEAD), buf.find(b"\n\n", 0, _MAX_HEAD)
            if crlf >= 0 and (lf < 0 or crlf < lf):
                self.buf = buf[crlf + 3:]
                return buf[:crlf].decode("latin-1").split("\n")
            if lf >= 0:
                self.buf = buf[lf + 2:]
                return buf[:lf].decode("latin-1").split("\n")
            if len(buf) >= _MAX_HEAD:
                raise WireError(f"the response head is longer than {_MAX_HEAD} bytes")
            try:
                more = self._fill()
            except ConnectionError as exc:
                if b"\n" not in buf:
                    raise NoAnswer(str(exc) or "connection reset before a response") from None
                raise
            if not more:
                if b"\n" not in buf:
                    raise NoAnswer("connection closed before a response")
                raise WireError("connection closed in the middle of a response head")

    def _read_response(self, method: str = "GET") -> Response:
        try:
            while True:
                lines = self._read_head()
                parts = lines[0].split(None, 2)
                try:
                    status = int(parts[1])
                except (IndexError, ValueError):
                    raise WireError(f"bad status line {lines[0][:80]!r}") from None
                if not 100 <= status < 200:
                    break
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            return Response(status, headers, self._read_body(method, status, headers))
        except ConnectionError as exc:
            raise WireError(f"connection broke in the middle of a response: {exc}") from None
        except ValueError as exc:  # a garbled Content-Length or chunk size
            self.close()
            raise WireError(f"malformed response framing: {exc}") from None

    def _read_body(self, method: str, status: int, headers: dict[str, str]) -> bytes:
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        else:
            parts, self.buf = [self.buf], b""
            while self._fill():
                parts.append(self.buf)
                self.buf = b""
            body = b"".join(parts)
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._line():
                    pass
                return b"".join(parts)
            parts.append(self._take(size))
            self._line()


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


class ChunkedWriter:
    """The body of a chunked request: `write` sends one chunk at once, `finish` adds trailers."""

    def __init__(self, conn: Connection, method: str, on_finish: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.method = method
        self.on_finish = on_finish

    def write(self, data: bytes) -> None:
        if data:
            self.conn._live().sendall(chunk(data))

    def finish(self, trailers: Iterable[tuple[str, str]] = ()) -> Response:
        tail = "".join(f"{k}: {v}\r\n" for k, v in trailers)
        try:
            self.conn._live().sendall(b"0\r\n" + tail.encode("latin-1") + b"\r\n")
            resp = self.conn._read_response(self.method)
        except BaseException:
            self.conn.close()
            raise
        if self.on_finish is not None:
            self.on_finish()
        return resp
