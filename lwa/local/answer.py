"""`serve`'s stand-in for the Runtime API: the one outcome of an invocation written back to the
HTTP client, as the front door would answer it (buffered, streamed, or 502 with the error JSON)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterable

from ..logs import log
from ..runtime import error_body
from ..wire import LAST_CHUNK, chunk
from . import session
from .frontdoor import http_answer

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

# Framing is the front door's own business: the app's copies never reach the client.
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection", "keep-alive"))
_NO_BODY = (204, 304)


def head_bytes(status: int, reason: str | None, pairs: Iterable[tuple[str, str]]) -> bytes:
    """A response head; header values with CR or LF are left out, non-Latin-1 ones go as UTF-8."""
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


def _has_body(handler: BaseHTTPRequestHandler, status: int) -> bool:
    return not (handler.command == "HEAD" or status in _NO_BODY or status < 200)


class HttpOutcome:
    """Stands in for the Runtime API in `serve`: the one outcome becomes the client's HTTP answer."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
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
            self.handler.wfile.write(head_bytes(status, reason, pairs) + (b"" if head_only else body))
        except OSError as exc:
            log.info("the HTTP client went away before the answer was written: %s", exc)
            self.handler.close_connection = True

    def post_response(self, request_id: str, payload: bytes) -> None:
        self._send(*http_answer(payload))

    def post_error(self, request_id: str, error_type: str, message: str) -> None:
        self._send(502, None, [("content-type", "application/json")], error_body(error_type, message))

    def open_stream(self, request_id: str) -> HttpStream:
        return HttpStream(self)

    def close(self) -> None:
        """`loop` calls this when writing the stream failed: here the HTTP client hung up."""
        log.info("serve: the HTTP client closed the connection mid-stream; the app connection was closed too")
        self.handler.close_connection = True


class HttpStream(session.StreamReplay):
    """A Lambda response stream replayed to the client: the prelude becomes the status line and
    headers, each body piece is written at once (docs/behaviour.md §7.1, as Function URLs do).

    HTTP/1.1 clients get one chunk per piece. An HTTP/1.0 client cannot read chunked framing
    (RFC 9112 §6.1), so its body is delimited by closing the connection instead."""

    def __init__(self, outcome: HttpOutcome) -> None:
        self.outcome = outcome
        self.handler = outcome.handler
        self.wfile = outcome.handler.wfile
        self.chunked = False
        self.raw = False  # close-delimited body, for an HTTP/1.0 client

    def on_prelude(self, head: bytes) -> None:
        prelude = json.loads(head)
        status = int(prelude.get("statusCode", 200))
        pairs: list[tuple[str, str]] = []
        for name, value in (prelude.get("headers") or {}).items():
            if name.lower() not in _FRAMING:
                pairs.extend((name, str(v)) for v in (value if isinstance(value, list) else [value]))
        pairs.extend(("set-cookie", str(c)) for c in prelude.get("cookies") or ())
        if _has_body(self.handler, status):
            if self.handler.request_version == "HTTP/1.1":
                self.chunked = True
                pairs.append(("transfer-encoding", "chunked"))
            else:
                self.raw = True
                self.handler.close_connection = True
                pairs.append(("connection", "close"))
        self.outcome.status = status
        self.wfile.write(head_bytes(status, None, pairs))

    def on_body(self, data: bytes) -> None:
        if self.chunked:
            self.wfile.write(chunk(data))
        elif self.raw:
            self.wfile.write(data)

    def finish(self, trailers: Iterable[tuple[str, str]] = ()) -> None:
        if trailers or self.pending is not None:
            # A failure after the head went out (`pump` writes the prelude first): cut the
            # connection without the last chunk, so the client sees a truncated body, as a
            # Function URL does.
            if trailers:
                log.error("the response stream failed after it started: %s", session.stream_error(trailers))
            self.handler.close_connection = True
            return
        if self.chunked:
            self.wfile.write(LAST_CHUNK)
