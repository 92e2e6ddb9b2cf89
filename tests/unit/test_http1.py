"""`http1.parse_head`: its one-regex fast path accepts and returns exactly what the line-by-line
path does, for well-formed heads and for every kind of damage (hypothesis), and the strict rules
still hold on both paths. Likewise the request head lwa writes to the app: encoded in one piece,
or piece by piece when a value holds a lone surrogate, the same bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwa import http1
from lwa.app import App
from lwa.config import load_config
from lwa.model import AppRequest

PIECES = [b"a", b"Z", b"-", b"_", b":", b" ", b"\t", b"\r", b"\n", b"\x00", b"\x01", b"\x7f", b"\xc3\xa9", b"\xff",
          b"1", b"(", b"\r\n", b"Content-Length", b"Set-Cookie: a=1", b"X-Ok: yes"]
STATUS_LINES = [b"HTTP/1.1 200 OK", b"HTTP/1.0 404", b"HTTP/1.1 204 ", b"HTTP/1.1 200 caf\xc3\xa9", b"HTTP/2 200",
                b"HTTP/1.1 103 Early Hints", b"HTTP/1.1 99 x", b"HTTP/1.1 200 \x80"]

line = st.lists(st.sampled_from(PIECES), max_size=10).map(b"".join)
head = st.builds(
    lambda status, lines: b"\r\n".join([status, *lines]) + b"\r\n\r\n",
    st.sampled_from(STATUS_LINES),
    st.lists(line, max_size=6),
)


def outcome(parse, data: bytes):
    try:
        return "ok", parse(data)
    except http1.ProtocolError as exc:
        return "error", type(exc)


@settings(max_examples=800, deadline=None)
@given(head)
def test_the_fast_path_agrees_with_the_line_by_line_parse(data: bytes) -> None:
    if data.count(b"\r\n\r\n") != 1:  # a head ends at its first empty line
        return
    assert outcome(http1.parse_head, data) == outcome(http1._parse_head_by_line, data)


def test_a_common_head_parses_to_lowercase_names_and_stripped_values() -> None:
    got = http1.parse_head(b"HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nSet-Cookie: a=1\r\n"
                           b"Set-Cookie:\tb=2\t\r\nX-Empty:\r\n\r\n")
    assert got == http1.Head(1, 200, "OK", (("content-type", "text/plain"), ("set-cookie", "a=1"),
                                            ("set-cookie", "b=2"), ("x-empty", "")))


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        b"HTTP/1.1 200 OK\nX: bare-lf\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * http1.MAX_LINE + b"\r\n\r\n",
    ],
)
def test_malformed_heads_are_refused(data: bytes) -> None:
    with pytest.raises(http1.ProtocolError):
        http1.parse_head(data)


values = st.text(st.sampled_from(["a", " ", "é", "\u2713", "\ud800", "\udcff", "\U0001f600", ";", "="]), max_size=8)
requests = st.builds(
    AppRequest,
    st.sampled_from(["GET", "POST", "PATCH"]),
    st.sampled_from(["/", "/a%20b?x=1", "/caf%C3%A9"]),
    st.lists(st.tuples(st.sampled_from(["x-a", "cookie", "host", "x-amzn-lambda-context"]), values), max_size=4)
    .map(tuple),
    st.binary(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(requests)
def test_the_request_head_is_the_same_encoded_whole_or_piece_by_piece(req: AppRequest) -> None:
    app = App(load_config({"AWS_LWA_PORT": "3000"}))
    assert app._head(req) == app._head_by_piece(req)
