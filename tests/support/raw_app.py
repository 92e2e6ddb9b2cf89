"""Byte-level app faults beyond `apps.py`: a raw HTTP/1.1 app whose handlers see the request head first.

`RawApp` is a keep-alive HTTP/1.1 server on 127.0.0.1 whose handler is called as soon as a
request *head* has arrived, before its body is read, so a test can reset mid-request, answer
garbage, close without answering on a reused connection, or stall. Every request head is
recorded (`heads`), complete body or not, so tests can prove a request never reached the app
twice. GET `/healthz` is answered 200 by the server itself (lwa's readiness check).
Socket-level fault style after urllib3's test/with_dummyserver/test_socketlevel.py.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from .http11 import (
    Head,
    HttpReader,
    ProtocolError,
    build_response,
    peer_closed,
    quiet_shutdown,
    rst_close,
)
from .loopback import LoopbackServer

HEALTH_PATH = "/healthz"


@dataclass
class RawRequest:
    """One request head as the app received it; `body` is filled once a handler read it."""

    conn_id: int
    index: int  # 0 for the first request on its connection, 1 for the second, ...
    head: Head
    body: bytes | None = None
    at: float = field(default_factory=time.monotonic)

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def target(self) -> str:
        return self.head.target


class RawConn:
    """What a handler gets: the socket, a reader positioned after the head, and fault helpers."""

    def __init__(self, server: RawApp, sock: socket.socket, conn_id: int) -> None:
        self.server = server
        self.sock = sock
        self.reader = HttpReader(sock)
        self.conn_id = conn_id
        self.closed = False

    def read_body(self, req: RawRequest) -> bytes:
        body, _ = self.reader.read_body(req.head)
        req.body = body
        return body

    def read_some(self, n: int) -> bytes:
        """Up to `n` body bytes (at least one), whatever is buffered or arrives first."""
        if not self.reader.buf:
            self.reader._fill()
        data = bytes(self.reader.buf[:n])
        del self.reader.buf[:n]
        return data

    def send(self, data: bytes | memoryview) -> None:
        self.sock.sendall(data)

    def respond(self, status: int, headers=(), body: bytes = b"") -> None:
        self.sock.sendall(build_response(status, headers, body))

    def reset(self) -> None:
        rst_close(self.sock)
        self.closed = True

    def close(self) -> None:
        quiet_shutdown(self.sock)
        self.sock.close()
        self.closed = True

    def wait_peer_gone(self, limit_s: float = 30.0) -> None:
        """Stall until the client hangs up, the server stops, or `limit_s` passes."""
        end = time.monotonic() + limit_s
        while not self.server.stopping.wait(0.02) and time.monotonic() < end:
            if peer_closed(self.sock):
                return


Handler = Callable[[RawConn, RawRequest], bool]
"""Returns True to keep the connection for the next request (the body must have been read)."""


class RawApp(LoopbackServer):
    """Threaded raw HTTP/1.1 app; `handler` may be swapped between invocations."""

    name = "raw-app"

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.heads: list[RawRequest] = []
        self.errors: list[BaseException] = []

    def requests(self, predicate: Callable[[RawRequest], bool] = lambda r: True) -> list[RawRequest]:
        with self._cv:
            return [r for r in self.heads if predicate(r)]

    def wait_requests(self, n: int, timeout: float = 10.0) -> list[RawRequest]:
        end = time.monotonic() + timeout
        with self._cv:
            while len(self.heads) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"raw app saw {len(self.heads)} requests, wanted {n}")
                self._cv.wait(min(left, 0.1))
            return list(self.heads)

    def serve(self, sock: socket.socket, client_port: int, conn_id: int) -> None:
        conn = RawConn(self, sock, conn_id)
        index = 0
        try:
            while not self.stopping.is_set() and not conn.closed:
                head = conn.reader.read_head()
                if head is None:
                    break
                if head.path == HEALTH_PATH and head.method == "GET":
                    conn.reader.read_body(head)
                    conn.respond(200, [("Content-Type", "text/plain")], b"ok")
                    continue
                req = RawRequest(conn.conn_id, index, head)
                index += 1
                with self._cv:
                    self.heads.append(req)
                    self._cv.notify_all()
                if not self.handler(conn, req):
                    break
        except (OSError, ProtocolError):
            pass
        except Exception as exc:  # noqa: BLE001  (a handler bug: kept for the test to report)
            self.errors.append(exc)
        finally:
            if not conn.closed:
                conn.close()


# ---- ready-made raw handlers ----------------------------------------------------------------

def ok(conn: RawConn, req: RawRequest) -> bool:
    """Read the body, answer 200 text/plain `ok <target>` (keep-alive)."""
    conn.read_body(req)
    conn.respond(200, [("Content-Type", "text/plain")], b"ok " + req.target.encode("latin-1"))
    return True


def raw_answer(data: bytes) -> Handler:
    """Read the request, write `data` verbatim, then close (FIN)."""
    def handler(conn: RawConn, req: RawRequest) -> bool:
        conn.read_body(req)
        conn.send(data)
        conn.close()
        return False
    return handler


def reset_mid_request(after_bytes: int = 1024) -> Handler:
    """Read the head and about `after_bytes` of the body, then RST: the request never completes."""
    def handler(conn: RawConn, req: RawRequest) -> bool:
        got = 0
        while got < after_bytes:
            got += len(conn.read_some(after_bytes - got))
        conn.reset()
        return False
    return handler


def fail_on_reuse(how: str = "close") -> Handler:
    """First request on a connection: answered (keep-alive). Later ones: read whole, then no
    answer (`close` = FIN, `reset` = RST): the failure a stale pooled connection shows."""
    def handler(conn: RawConn, req: RawRequest) -> bool:
        conn.read_body(req)
        if req.index == 0:
            conn.respond(200, [("Content-Type", "text/plain")], b"first on conn %d" % conn.conn_id)
            return True
        if how == "reset":
            conn.reset()
        else:
            conn.close()
        return False
    return handler


def answer_then_hold() -> Handler:
    """Answer, then hold the connection without reading from it: the app never notices that the
    client shut its side, so the client's pooled socket still looks healthy."""
    def handler(conn: RawConn, req: RawRequest) -> bool:
        ok(conn, req)
        conn.server.stopping.wait(30)
        return False
    return handler


def stall_reading() -> Handler:
    """Read only the head and never the body, never answer: lwa's send blocks until its deadline."""
    def handler(conn: RawConn, req: RawRequest) -> bool:
        conn.wait_peer_gone()
        return False
    return handler


def drip(total: int = 64, every_s: float = 0.1) -> Handler:
    """Announce `total` bytes, then send one byte every `every_s` (a body that never finishes in time)."""
    def handler(conn: RawConn, req: RawRequest) -> bool:
        conn.read_body(req)
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(total):
            if conn.server.stopping.wait(every_s) or peer_closed(conn.sock):
                return False
            conn.send(b"x")
        return True
    return handler
