"""A small HTTP/1.1 toolkit for the loopback servers the tests run (the fake Runtime API, the
apps): reading request heads and bodies (Content-Length or chunked, with trailers and per-chunk
callbacks) exactly as they came off the wire, writing answers, and the socket moves a fault test
needs (reset, quiet close, "has the peer gone?"). Strict where the tests need to see mistakes:
a malformed head is a ProtocolError, never guessed at."""

from __future__ import annotations

import select
import socket
import struct
from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable, Iterable

MAX_LINE = 65536


class ProtocolError(Exception):
    """The peer sent bytes that are not valid HTTP/1.1 framing."""


class PeerClosed(ConnectionError):
    """The peer closed the connection in the middle of a message."""


@dataclass
class Head:
    """A request line plus header fields, exactly as received (names lowercased)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, bytes]]

    def values(self, name: str) -> list[bytes]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def get(self, name: str) -> str | None:
        """All values of `name` joined with ", " (RFC 9110 §5.3), latin-1; None if absent."""
        vals = self.values(name)
        return b", ".join(vals).decode("latin-1") if vals else None

    def as_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for n, _ in self.headers:
            if n not in out:
                out[n] = self.get(n) or ""
        return out

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.get("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


class HttpReader:
    """Buffered reads over a blocking socket: lines, exact counts, whole HTTP/1.1 bodies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(262144)
        if not data:
            return False
        self.buf += data
        return True

    def read_line(self) -> bytes | None:
        """One line without its CRLF (a bare LF is accepted); None on EOF before any byte."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > MAX_LINE:
                raise ProtocolError("line too long")
            if not self._fill():
                if self.buf:
                    raise PeerClosed("EOF in the middle of a line")
                return None

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise PeerClosed(f"EOF after {len(self.buf)} of {n} bytes")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _read_fields(self) -> list[tuple[str, bytes]]:
        fields: list[tuple[str, bytes]] = []
        while True:
            line = self.read_line()
            if line is None:
                raise PeerClosed("EOF in header section")
            if line == b"":
                return fields
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or b" " in name:
                raise ProtocolError(f"bad header line {line!r}")
            fields.append((name.decode("latin-1").lower(), value.strip(b" \t")))

    def read_head(self) -> Head | None:
        """The next request head; None when the peer closed cleanly between requests."""
        line = self.read_line()
        while line == b"":  # RFC 9112 §2.2: ignore empty lines before the request line
            line = self.read_line()
        if line is None:
            return None
        parts = line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            raise ProtocolError(f"bad request line {line!r}")
        method, target, version = (p.decode("latin-1") for p in parts)
        return Head(method, target, version, self._read_fields())

    def read_body(
        self, head: Head, on_chunk: Callable[[bytes], None] | None = None
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The request body (de-chunked) and its trailers; `on_chunk` sees each chunk on arrival."""
        te = (head.get("transfer-encoding") or "").lower()
        if te:
            if te.split(",")[-1].strip() != "chunked":
                raise ProtocolError(f"unsupported transfer-encoding {te!r}")
            return self._read_chunked(on_chunk)
        cl = head.values("content-length")
        if not cl:
            return b"", []
        if len(set(cl)) != 1 or not cl[0].isdigit():
            raise ProtocolError(f"bad content-length {cl!r}")
        return self.read_exact(int(cl[0])), []

    def _read_chunked(
        self, on_chunk: Callable[[bytes], None] | None
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        body = bytearray()
        while True:
            line = self.read_line()
            if line is None:
                raise PeerClosed("EOF before chunk size")
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {line!r}") from None
            if size == 0:
                return bytes(body), self._read_fields()
            data = self.read_exact(size)
            body += data
            if on_chunk is not None:
                on_chunk(data)
            if self.read_line() != b"":
                raise ProtocolError("chunk not followed by CRLF")


def encode_headers(headers: Iterable[tuple[str, str | bytes]]) -> bytes:
    """Header lines for the wire; str values are UTF-8 encoded, bytes go out verbatim."""
    out = bytearray()
    for name, value in headers:
        out += name.encode("latin-1") + b": "
        out += value if isinstance(value, bytes) else str(value).encode("utf-8")
        out += b"\r\n"
    return bytes(out)


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def build_response(
    status: int,
    headers: Iterable[tuple[str, str | bytes]] = (),
    body: bytes = b"",
    *,
    content_length: bool = True,
) -> bytes:
    """A complete HTTP/1.1 response (Content-Length added unless `content_length=False`)."""
    headers = list(headers)
    if content_length:
        headers.append(("Content-Length", str(len(body))))
    head = f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode("latin-1")
    return head + encode_headers(headers) + b"\r\n" + body


def rst_close(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER 0), like a crashed or killed peer.

    SHUT_RD first: it sends nothing but wakes a thread blocked in recv() on this socket,
    which a bare close() from another thread would not.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()


def quiet_shutdown(sock: socket.socket) -> None:
    """Wake any thread blocked on `sock` (recv/accept return) without raising."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def peer_closed(sock: socket.socket) -> bool:
    """True when the peer has gone (EOF or reset) — checked while we hold a request open."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def listen_socket(port: int = 0, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:port (SO_REUSEADDR so a restart can re-bind)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    if listen:
        s.listen(128)
    return s
