"""The Runtime API client's HTTP/1.1 reading (`lwa.wire.Connection`) against a scripted peer on
loopback: every framing the Lambda APIs and the emulators use, answers cut into pieces at every
byte, a stale keep-alive socket, and peers that break the exchange."""

from __future__ import annotations

import socket
import threading

import pytest

from lwa.wire import Connection, NoAnswer, WireError


class Peer:
    """Accepts connections and answers each request with the next scripted reply: a list of byte
    pieces sent one by one, then `close` when the entry is the string "close"."""

    def __init__(self, replies: list) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.replies:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        buf = b""
        while self.replies:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            while len(buf) < length:
                buf += sock.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + buf[:length])
            buf = buf[length:]
            reply = self.replies.pop(0)
            if reply == "close":
                return
            for piece in reply:
                sock.sendall(piece)
            if reply and reply[-1] == b"":
                return  # close after this answer

    def close(self) -> None:
        self.listener.close()


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


@pytest.fixture
def peer_factory():
    peers: list[Peer] = []

    def make(*replies) -> tuple[Peer, Connection]:
        peer = Peer(list(replies))
        peers.append(peer)
        return peer, Connection(peer.address, timeout=5.0)

    yield make
    for peer in peers:
        peer.close()


EVENT = b'{"version":"2.0","rawPath":"/"}'
NEXT_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: abc-1\r\n"
    b"Lambda-Runtime-Deadline-Ms: 1700000000000\r\nContent-Length: %d\r\n\r\n%s" % (len(EVENT), EVENT)
)


def test_an_answer_in_one_piece_and_byte_by_byte_reads_the_same(peer_factory):
    _, conn = peer_factory([NEXT_ANSWER], bytewise(NEXT_ANSWER))
    first = conn.request("GET", "/next")
    second = conn.request("GET", "/next")
    for resp in (first, second):
        assert resp.status == 200
        assert resp.body == EVENT
        assert resp.headers["lambda-runtime-aws-request-id"] == "abc-1"
        assert resp.headers["content-type"] == "application/json"
    conn.close()


def test_bare_lf_heads_and_mixed_line_ends_are_read(peer_factory):
    bare = b"HTTP/1.1 202 Accepted\nContent-Length: 2\nX-A:  b \n\nok"
    mixed = b"HTTP/1.1 200 OK\r\nContent-Length: 3\nX-A: c\r\n\nyes"
    _, conn = peer_factory([bare], [mixed])
    resp = conn.request("POST", "/r", body=b"x")
    assert (resp.status, resp.body, resp.headers["x-a"]) == (202, b"ok", "b")
    resp = conn.request("GET", "/r")
    assert (resp.status, resp.body, resp.headers["x-a"]) == (200, b"yes", "c")


def test_interim_answers_are_skipped(peer_factory):
    _, conn = peer_factory([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"])
    resp = conn.request("POST", "/r", body=b"{}")
    assert (resp.status, resp.body) == (202, b"")
    assert "link" not in resp.headers


def test_a_chunked_answer_with_extensions_and_trailers(peer_factory):
    body = b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    _, conn = peer_factory(bytewise(answer), [b"HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nk"])
    assert conn.request("GET", "/c").body == b"hello world"
    assert conn.request("GET", "/after").body == b"k"  # the connection stayed in step


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        ([b"HTTP/1.1 200 OK\r\n\r\npart one, ", b"part two", b""], b"part one, part two"),  # close-delimited
        ([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"], b"a"),
    ],
    ids=["close-delimited", "connection-close"],
)
def test_an_answer_that_ends_the_connection_closes_it_and_the_next_request_reconnects(peer_factory, reply, body):
    peer, conn = peer_factory(reply, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    assert conn.request("GET", "/a").body == body
    assert conn.sock is None
    assert conn.request("GET", "/b").body == b"ok"
    assert peer.connections == 2


def test_no_body_for_head_204_and_304(peer_factory):
    _, conn = peer_factory([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"],
                           [b"HTTP/1.1 204 No Content\r\n\r\n"],
                           [b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"],
                           [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"])
    assert conn.request("HEAD", "/").body == b""
    assert conn.request("GET", "/").status == 204
    assert conn.request("GET", "/").status == 304
    assert conn.request("GET", "/").body == b"!"


def test_a_big_body_arrives_whole(peer_factory):
    body = bytes(range(256)) * (3 * 4096 + 7)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    pieces = [answer + body[:100]] + [body[i:i + 70000] for i in range(100, len(body), 70000)]
    _, conn = peer_factory(pieces)
    assert conn.request("GET", "/big").body == body


def test_a_stale_keep_alive_socket_is_retried_once_on_a_fresh_one(peer_factory):
    peer, conn = peer_factory([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"], "close",
                              [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"])
    assert conn.request("GET", "/").body == b"1"
    assert conn.request("POST", "/r", body=b"payload").body == b"2"
    assert peer.connections == 2
    assert peer.requests[1] == peer.requests[2]  # the same request, sent again whole


def test_a_fresh_socket_closed_without_an_answer_is_no_answer(peer_factory):
    _, conn = peer_factory("close")
    with pytest.raises(NoAnswer):
        conn.request("GET", "/")
    assert conn.sock is None


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b""], "in the middle of a response body"),
        ([b"HTTP/1.1 200 OK\r\nContent-Le", b""], "in the middle of a response head"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", b""], "in the middle of a response body"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n"], "malformed response framing"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], "malformed response framing"),
        ([b"HTTP/1.1 OK\r\n\r\n"], "bad status line"),
        ([b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * (1 << 20) + b"\r\n\r\n"], "longer than"),
    ],
)
def test_a_broken_answer_is_a_wire_error_and_the_socket_is_dropped(peer_factory, reply, message):
    _, conn = peer_factory(reply)
    with pytest.raises(WireError, match=message) as err:
        conn.request("GET", "/")
    assert not isinstance(err.value, NoAnswer)
    assert conn.sock is None


def test_the_timeout_changes_only_when_asked(peer_factory):
    ok = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]
    _, conn = peer_factory(ok, ok, ok)
    conn.request("GET", "/", timeout=None)
    assert conn.sock.gettimeout() is None
    conn.request("POST", "/", body=b"", timeout=30.0)
    assert conn.sock.gettimeout() == 30.0
    conn.request("GET", "/")
    assert conn.sock.gettimeout() == 5.0
