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
    from io import BufferedReader
    from typing import Callable, Iterable

USER_AGENT = f"lwa/{__version__}"
_MAX_HEADER_LINE = 65536
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
    """One keep-alive connection to `host:port`, reopened when the peer has closed it."""

    def __init__(self, netloc: str, timeout: float | None = None) -> None:
        self.host, self.port, self.base = split_netloc(netloc)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.rfile: BufferedReader | None = None

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
        self.rfile = sock.makefile("rb")
        return sock

    def _live(self) -> socket.socket:
        """The open socket of an exchange under way; gone means the exchange broke."""
        if self.sock is None:
            raise WireError("connection closed")
        return self.sock

    def _reader(self) -> BufferedReader:
        if self.rfile is None:
            raise WireError("connection closed")
        return self.rfile

    def close(self) -> None:
        if self.sock is not None:
            try:
                if self.rfile is not None:
                    self.rfile.close()
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.rfile = None

    def _head(self, method: str, path: str, headers: list[tuple[str, str]], extra: str) -> bytes:
        lines = [f"{method} {self.base}{path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")

    def request(
        self, method: str, path: str, headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
        timeout: float | None = -1.0,
    ) -> Response:
        """Send one request and read the whole answer; a stale reused socket is retried once."""
        extra = f"Content-Length: {len(body)}\r\n" if body is not None else ""
        head = self._head(method, path, list(headers), extra)
        # One send for a small request; a big body (MBs of response) is not copied again just to
        # join it to its head: two sends cost less than that copy (bench/run.py, 1 MiB).
        parts = (head, body) if body and len(body) > _COPY_LIMIT else (head + (body or b""),)
        for attempt in (0, 1):
            fresh = self.sock is None
            sock = self._open()
            try:
                sock.settimeout(self.timeout if timeout == -1.0 else timeout)
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

    def _readline(self) -> bytes:
        line = self._reader().readline(_MAX_HEADER_LINE)
        if not line.endswith(b"\n"):
            raise WireError("connection closed in the middle of a response head" if line else "connection closed")
        return line

    def _read_response(self, method: str = "GET") -> Response:
        try:
            status_line = self._readline()
        except (ConnectionError, WireError) as exc:
            raise NoAnswer(str(exc) or "connection closed before a response") from None
        try:
            return self._read_rest(status_line, method)
        except ConnectionError as exc:
            raise WireError(f"connection broke in the middle of a response: {exc}") from None
        except ValueError as exc:  # a garbled Content-Length or chunk size
            self.close()
            raise WireError(f"malformed response framing: {exc}") from None

    def _read_rest(self, status_line: bytes, method: str) -> Response:
        try:
            parts = status_line.split(None, 2)
            status = int(parts[1])
        except (IndexError, ValueError):
            raise WireError(f"bad status line {status_line[:80]!r}") from None
        headers: dict[str, str] = {}
        while True:
            line = self._readline()
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            return self._read_response(method)
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body = self._reader().read(length)
            if len(body) != length:
                raise WireError("connection closed in the middle of a response body")
        else:
            body = self._reader().read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self._readline() not in (b"\r\n", b"\n"):
                    pass
                return b"".join(parts)
            parts.append(self._reader().read(size))
            self._readline()


class ChunkedWriter:
    """The body of a chunked request: `write` sends one chunk at once, `finish` adds trailers."""

    def __init__(self, conn: Connection, method: str, on_finish: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.method = method
        self.on_finish = on_finish

    def write(self, data: bytes) -> None:
        if data:
            self.conn._live().sendall(b"%x\r\n%s\r\n" % (len(data), data))

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
