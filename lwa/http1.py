"""Strict HTTP/1.1 reading (RFC 9110, RFC 9112) of what a peer sends: heads and body framing.

The app is an untrusted peer. What it answers is parsed strictly and with bounded memory:
anything that is not valid HTTP/1.1 is a `ProtocolError` at once, never a guess and never a
wait for bytes that will not come. `Reader` knows exactly where a message ends, so a caller can
tell whether a connection is clean enough to reuse (docs/behaviour.md, decision "app edge").
Pure Python on plain sockets; nothing heavy to import.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Iterator, NamedTuple

MAX_HEAD = 256 * 1024  # one whole head (status line and fields); more is refused
MAX_LINE = 64 * 1024  # one field line
MAX_INTERIM = 32  # 1xx answers before the final one
READ_SIZE = 65536
_CHUNK_LINE_MAX = 4096

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[\t\x20-\x7e\x80-\xff]*)?")
_DIGITS = re.compile(r"[0-9]{1,18}")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
# A whole field section in one match: token ":" value CRLF, values without NUL, CR or LF.
_FIELDS = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00\r\n]*\r\n)*")
_FIELD_PAIRS = re.compile(r"([^:\r\n]+):[ \t]*([^\r\n]*?)[ \t]*\r\n")


class ProtocolError(Exception):
    """The peer sent something that is not valid HTTP/1.1; the message says what."""


class Truncated(ProtocolError):
    """The connection ended before the message did."""


class NoResponse(ProtocolError):
    """The connection ended (or was reset) before the first byte of an answer."""


class Head(NamedTuple):
    """A response head: lowercase field names in wire order, values as text."""

    version: int  # minor version: 0 or 1
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]


class Framing(NamedTuple):
    """How the body after a head is delimited (RFC 9112 §6.3)."""

    kind: str  # "none", "length", "chunked" or "close"
    length: int = 0


NO_BODY = Framing("none")


def _text(raw: bytes) -> str:
    """Field bytes as text: UTF-8 when they are that (non-ASCII from apps is UTF-8 in practice),
    else Latin-1, which maps every byte (docs/behaviour.md §9.12)."""
    if raw.isascii():
        return raw.decode("ascii")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _field(line: bytes) -> tuple[str, str]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"a header line is longer than {MAX_LINE} bytes")
    if line[:1] in (b" ", b"\t"):
        raise ProtocolError("obsolete line folding (a header line starting with whitespace)")
    name, colon, value = line.partition(b":")
    if not colon:
        raise ProtocolError(f"a header line without a colon ({len(line)} bytes)")
    if not _TOKEN.fullmatch(name):
        # Only the name is quoted: values (cookies, tokens) and stray body bytes stay out of logs.
        raise ProtocolError(f"malformed header name {name[:60].decode('latin-1')!r}")
    value = value.strip(b" \t")
    if _BAD_VALUE.search(value):
        raise ProtocolError(f"a NUL or bare CR in header {name[:60].decode('ascii')!r}")
    return name.decode("ascii").lower(), _text(value)


def parse_head(data: bytes) -> Head:
    """Parse a complete response head (`data` ends with the empty line's CRLF CRLF).

    The common head (ASCII, every line well formed, under MAX_LINE) is checked by one regex over
    all of its fields and split by another; anything else takes the line-by-line path, which
    names what is wrong. Both accept exactly the same heads."""
    status_end = data.find(b"\r\n")
    block = data[status_end + 2 : -2]
    if len(data) <= MAX_LINE and block.isascii() and _FIELDS.fullmatch(block):
        match = _STATUS_LINE.fullmatch(data[:status_end])
        if match is not None and (match.group(3) or b"").isascii():
            fields = tuple([(n.lower(), v) for n, v in _FIELD_PAIRS.findall(block.decode("ascii"))])
            reason = (match.group(3) or b"").decode("ascii").strip()
            return Head(int(match.group(1)), int(match.group(2)), reason, fields)
    return _parse_head_by_line(data)


def _parse_head_by_line(data: bytes) -> Head:
    lines = data[:-4].split(b"\r\n")
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise ProtocolError("a bare CR or LF in the response head (lines must end with CRLF)")
    if len(lines[0]) > MAX_LINE:
        raise ProtocolError(f"the status line is longer than {MAX_LINE} bytes")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"malformed status line ({len(lines[0])} bytes, not 'HTTP/1.x NNN reason')")
    fields = tuple(_field(line) for line in lines[1:])
    reason = _text(match.group(3) or b"").strip()
    return Head(int(match.group(1)), int(match.group(2)), reason, fields)


def _values(head: Head, name: str) -> list[str]:
    return [v.strip() for n, v in head.headers if n == name for v in v.split(",") if v.strip()]


def framing(head: Head, method: str) -> Framing:
    """The body's framing, or ProtocolError for an ambiguous one (RFC 9112 §6.3): Transfer-Encoding
    together with Content-Length, conflicting lengths, a transfer coding lwa cannot undo."""
    if method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return NO_BODY
    codings = _values(head, "transfer-encoding")
    lengths = _values(head, "content-length")
    if codings:
        if lengths:
            raise ProtocolError("the response has both Transfer-Encoding and Content-Length")
        if head.version == 0:
            raise ProtocolError("an HTTP/1.0 response with Transfer-Encoding")
        if [c.lower() for c in codings] != ["chunked"]:
            raise ProtocolError(f"unsupported Transfer-Encoding {', '.join(codings)[:80]!r}")
        return Framing("chunked")
    if lengths:
        if any(not _DIGITS.fullmatch(v) for v in lengths) or len(set(map(int, lengths))) != 1:
            raise ProtocolError(f"invalid or conflicting Content-Length {', '.join(lengths)[:80]!r}")
        return Framing("length", int(lengths[0]))
    return Framing("close")


def keep_alive(head: Head, frame: Framing) -> bool:
    """May the connection carry another request once this message was read completely?"""
    if head.version == 0 or frame.kind == "close":
        return False
    return not any(v.lower() == "close" for v in _values(head, "connection"))


class Reader:
    """Buffered reads from one connection; tracks exactly what is left after a message.

    `recv(n)` is a socket's method (or a file's `read1`): it blocks, returns b"" at EOF and
    raises OSError (timeouts included), which pass through untouched."""

    __slots__ = ("recv", "buf", "pos", "eof", "seen")

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self.recv = recv
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.seen = False  # any byte received at all: from then on nothing may be retried

    @property
    def pending(self) -> int:
        """Bytes received but not yet consumed: a connection with any is not clean to reuse."""
        return len(self.buf) - self.pos

    def _fill(self) -> int:
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0
        data = b"" if self.eof else self.recv(READ_SIZE)
        if not data:
            self.eof = True
        self.seen = self.seen or bool(data)
        self.buf += data
        return len(data)

    def _take(self, size: int) -> bytes:
        data = bytes(self.buf[self.pos : self.pos + size])
        self.pos += len(data)
        return data

    def read_head(self) -> bytes:
        """The next head, up to and including its empty line; fails at once on a bare LF or an
        oversized head rather than waiting for a terminator that may never come."""
        checked = 0  # bytes after `pos` already scanned for bare LFs
        while True:
            end = self.buf.find(b"\r\n\r\n", max(self.pos + checked - 3, self.pos))
            if end >= 0:
                return self._take(end + 4 - self.pos)
            lf = self.buf.find(b"\n", self.pos + checked)
            while lf >= 0:
                if lf == self.pos or self.buf[lf - 1] != 0x0D:
                    raise ProtocolError("a bare LF in the response head (lines must end with CRLF)")
                lf = self.buf.find(b"\n", lf + 1)
            if self.pending > MAX_HEAD:
                raise ProtocolError(f"the response head is longer than {MAX_HEAD} bytes")
            checked = had = self.pending
            if not self._fill():
                if had == 0:
                    raise NoResponse("the connection closed without an answer")
                raise Truncated("the connection closed in the middle of the response head")

    def read_line(self, limit: int) -> bytes:
        """One CRLF-terminated line (without the CRLF), at most `limit` bytes."""
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                if end - self.pos > limit:
                    break
                line = self._take(end - self.pos)
                self.pos += 2
                return line
            if self.pending > limit + 2:
                break
            if not self._fill():
                raise Truncated("the connection closed in the middle of the chunked body")
        raise ProtocolError(f"a chunked-body line is longer than {limit} bytes")

    def read_some(self, most: int) -> bytes:
        """Up to `most` bytes: buffered ones first, else one receive; b"" at EOF."""
        if not self.pending:
            if self.eof:
                return b""
            data = self.recv(min(most, READ_SIZE))  # straight through: no copy into the buffer
            if not data:
                self.eof = True
            return data
        return self._take(min(most, self.pending))

    def body(self, frame: Framing) -> Iterator[bytes]:
        """The body's pieces as they arrive; raises Truncated / ProtocolError on a broken one."""
        if frame.kind == "length":
            left = frame.length
            while left:
                data = self.read_some(min(left, READ_SIZE))
                if not data:
                    raise Truncated(f"the connection closed {left} bytes before the end of the body")
                left -= len(data)
                yield data
        elif frame.kind == "chunked":
            yield from self._chunks()
        elif frame.kind == "close":
            while True:
                data = self.read_some(READ_SIZE)
                if not data:
                    return
                yield data

    def _chunks(self) -> Iterator[bytes]:
        while True:
            line = self.read_line(_CHUNK_LINE_MAX)
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise ProtocolError(f"malformed chunk size line ({len(line)} bytes)")
            left = int(match.group(1), 16)
            if left == 0:
                break
            while left:
                data = self.read_some(min(left, READ_SIZE))
                if not data:
                    raise Truncated("the connection closed in the middle of a chunk")
                left -= len(data)
                yield data
            try:
                self.read_line(0)
            except Truncated:
                raise
            except ProtocolError:
                raise ProtocolError("a chunk's data is not followed by CRLF") from None
        size = 0
        while True:  # the trailer section: checked like header lines, then dropped
            line = self.read_line(MAX_LINE)
            if not line:
                return
            size += len(line)
            if size > MAX_HEAD:
                raise ProtocolError(f"the trailer section is longer than {MAX_HEAD} bytes")
            _field(line)


def read_head(reader: Reader) -> Head:
    """The next head, interim or final; 101 is refused, since lwa never asks to switch protocols."""
    head = parse_head(reader.read_head())
    if head.status == 101:
        raise ProtocolError("101 Switching Protocols, which was never asked for")
    return head


def read_response(reader: Reader, method: str, interim: int = 0) -> tuple[Head, Framing]:
    """The final response's head and framing: interim 1xx answers are read and dropped
    (RFC 9110 §15.2). `interim` counts those already dropped by the caller."""
    while interim <= MAX_INTERIM:
        head = read_head(reader)
        if head.status >= 200:
            return head, framing(head, method)
        interim += 1
    raise ProtocolError(f"more than {MAX_INTERIM} interim (1xx) responses")


def join_upto(chunks: Iterable[bytes], limit: int) -> bytes:
    """A body's pieces joined, stopping at the first one that takes the total past `limit`."""
    parts = []
    size = 0
    for data in chunks:
        parts.append(data)
        size += len(data)
        if size > limit:
            break
    return b"".join(parts)
