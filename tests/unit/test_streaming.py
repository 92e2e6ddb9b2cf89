"""`lwa.streaming`: the prelude and error-trailer byte builders, and `pump` over a real
`wire.ChunkedWriter` on a socket pair (docs/behaviour.md §7.1, §7.2, decision "streaming", §9.31)."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from lwa.errors import AppResponseTruncatedError, AppTimeoutError
from lwa.runtime import ERROR_BODY_TRAILER, ERROR_TYPE_HEADER
from lwa.streaming import SEPARATOR, error_trailers, prelude, pump
from lwa.wire import ChunkedWriter, Connection
from tests.support.http11 import Head, HttpReader


def _split(head: bytes) -> dict:
    assert b"\x00" not in head  # the separator is not part of the prelude: pump sends it apart
    parsed = json.loads(head)
    assert head == json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()  # compact
    return parsed


def test_separator_is_eight_nuls():
    assert SEPARATOR == b"\x00" * 8


def test_prelude_shape_cookies_and_order():
    data = prelude(201, [
        ("content-type", "text/event-stream"), ("set-cookie", "a=1; Path=/"), ("cache-control", "no-cache"),
        ("set-cookie", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"), ("x-id", "7"),
    ])
    parsed = _split(data)
    assert list(parsed) == ["statusCode", "headers", "cookies"]
    assert parsed == {
        "statusCode": 201,
        "headers": {"content-type": "text/event-stream", "cache-control": "no-cache", "x-id": "7"},
        "cookies": ["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"],
    }
    assert list(parsed["headers"]) == ["content-type", "cache-control", "x-id"]


def test_prelude_joins_repeated_headers_and_drops_hop_by_hop():
    parsed = _split(prelude(200, [
        ("content-type", "text/plain"), ("x-m", "1"), ("transfer-encoding", "chunked"), ("connection", "keep-alive"),
        ("keep-alive", "timeout=5"), ("x-m", "2"), ("x-lambda-http-content-encoding", "text"), ("trailer", "x"),
    ]))
    assert parsed["headers"] == {"content-type": "text/plain", "x-m": "1, 2"}
    assert parsed["cookies"] == []


def test_prelude_defaults_the_content_type():
    assert _split(prelude(200, []))["headers"] == {"content-type": "application/octet-stream"}
    parsed = _split(prelude(302, [("location", "/x"), ("content-length", "0")]))
    assert parsed["headers"] == {"location": "/x", "content-length": "0", "content-type": "application/octet-stream"}
    assert _split(prelude(200, [("content-type", "image/png")]))["headers"] == {"content-type": "image/png"}


def test_prelude_keeps_non_ascii_values_as_utf8():
    parsed = _split(prelude(200, [("content-type", "text/plain"), ("x-name", "caf\u00e9 \u2713"),
                                  ("set-cookie", "n=\u00e9")]))
    assert parsed["headers"]["x-name"] == "caf\u00e9 \u2713"
    assert parsed["cookies"] == ["n=\u00e9"]


@pytest.mark.parametrize("error", [
    AppResponseTruncatedError("the app's response broke off: reset"),
    AppTimeoutError("caf\u00e9 \u2713\r\nLambda-Runtime-Function-Error-Type: spoofed"),
])
def test_error_trailers(error):
    trailers = error_trailers(error)
    assert [name for name, _ in trailers] == [ERROR_TYPE_HEADER, ERROR_BODY_TRAILER]
    assert ERROR_TYPE_HEADER == "Lambda-Runtime-Function-Error-Type"
    assert ERROR_BODY_TRAILER == "Lambda-Runtime-Function-Error-Body"
    assert trailers[0][1] == "Runtime.StreamError"
    # Values must be one clean header line each, whatever the message holds.
    assert all(v.isascii() and "\r" not in v and "\n" not in v for _, v in trailers)
    body = json.loads(base64.b64decode(trailers[1][1], validate=True))
    assert body == {"errorMessage": str(error), "errorType": error.error_type}


# ---- pump over a real chunked writer ------------------------------------------------------------

class _Peer:
    """The Runtime API end of a socket pair: reads one chunked body with trailers, answers 202."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.chunks: list[bytes] = []
        self.body = b""
        self.trailers: list[tuple[str, bytes]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            head = Head("POST", "/", "HTTP/1.1", [("transfer-encoding", b"chunked")])
            self.body, self.trailers = HttpReader(self.sock).read_body(head, on_chunk=self.chunks.append)
            self.sock.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        except BaseException as exc:  # noqa: BLE001  (reported by join())
            self.error = exc

    def join(self) -> None:
        self.thread.join(5)
        assert not self.thread.is_alive(), "the peer never saw the end of the chunked body"
        assert self.error is None, self.error


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    conn = Connection("127.0.0.1:9")
    conn.sock = ours
    try:
        yield ChunkedWriter(conn, "POST"), theirs
    finally:
        conn.close()
        theirs.close()


def test_pump_forwards_each_chunk_and_ends_cleanly(pair):
    writer, theirs = pair
    peer = _Peer(theirs)
    head = prelude(200, [("content-type", "text/plain")])
    assert pump(writer, head, iter([b"one ", b"", b"two", b"\x00\r\n0\r\n"])) is None
    peer.join()
    # The prelude and the separator are two chunks (cargo lambda watch needs them apart); empty
    # pieces are not sent.
    assert peer.chunks == [head, SEPARATOR, b"one ", b"two", b"\x00\r\n0\r\n"]
    assert peer.body == head + SEPARATOR + b"one two\x00\r\n0\r\n"
    assert peer.trailers == []


@pytest.mark.parametrize("error", [AppResponseTruncatedError("broke off"), AppTimeoutError("too slow")])
def test_pump_reports_a_failure_in_trailers_not_in_the_body(pair, error):
    writer, theirs = pair
    peer = _Peer(theirs)

    def chunks():
        yield b"partial"
        raise error

    head = prelude(200, [])
    assert pump(writer, head, chunks()) is error
    peer.join()
    assert peer.chunks == [head, SEPARATOR, b"partial"]
    trailers = {name: value.decode() for name, value in peer.trailers}
    assert trailers["lambda-runtime-function-error-type"] == "Runtime.StreamError"
    decoded = json.loads(base64.b64decode(trailers["lambda-runtime-function-error-body"]))
    assert decoded == {"errorMessage": str(error), "errorType": error.error_type}


def test_pump_lets_a_broken_runtime_connection_raise(pair):
    writer, theirs = pair
    theirs.close()
    with pytest.raises(OSError):
        pump(writer, prelude(200, []), iter([b"x" * 65536] * 8))
