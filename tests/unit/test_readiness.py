"""The readiness probe's pure parts: the strict status line and the listener list from /proc."""

from __future__ import annotations

import socket

import pytest

from lwa.readiness import listening, parse_status_line


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"HTTP/1.1 200 OK\r", 200),
        (b"HTTP/1.1 200 OK", 200),
        (b"HTTP/1.0 503 Service Unavailable\r", 503),
        (b"HTTP/1.1 204\r", 204),
        (b"HTTP/1.1 204", 204),
        (b"HTTP/1.1 404 ", 404),
        (b"ICY 200 OK\r", None),
        (b"HTTP/2 200\r", None),
        (b"HTTP/1.1 2000 OK\r", None),
        (b"HTTP/1.1 20 OK\r", None),
        (b"HTTP/1.1  200 OK\r", None),
        (b"HTTP/1.x 200 OK\r", None),
        (b"http/1.1 200 OK\r", None),
        (b"HTTP/1.1 +20 OK\r", None),
        (b"HTTP/1.1 200OK\r", None),
        (b"", None),
    ],
)
def test_status_line(line, status):
    assert parse_status_line(line) == status


def test_listening_names_a_real_ipv4_listener_and_not_a_bound_socket():
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        found = listening()
        assert f"127.0.0.1:{port}" in found
        assert f"127.0.0.1:{bound.getsockname()[1]}" not in found
    assert f"127.0.0.1:{port}" not in listening()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_listening_names_ipv6_and_wildcard_listeners():
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server, socket.create_server(("0.0.0.0", 0)) as wildcard:
        found = listening()
        assert f"[::1]:{server.getsockname()[1]}" in found
        assert f"0.0.0.0:{wildcard.getsockname()[1]}" in found
