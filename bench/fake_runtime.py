"""A lean fake Lambda Runtime + Extensions API for the benchmarks: one thread per connection.

Unlike `tests/support/runtime_api.py` it checks little and records only timestamps, so its own
cost per invocation stays small (it is still part of every measured path: see `rt_client.py`
for the round trip without lwa). Times are `time.monotonic()`, comparable across processes.

    server = FakeRuntime().start()
    server.push_many([(request_id, event_bytes), ...])
    server.wait_done(ids, timeout)
    server.served[id], server.done[id].at, server.done[id].first_body_at, server.first_next_at
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

SEPARATOR = b"\x00" * 8
NEXT = "/2018-06-01/runtime/invocation/next"
INVOCATION = "/2018-06-01/runtime/invocation/"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
_ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n" b'{"status":"OK"}\n'
)
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_REGISTERED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Extension-Identifier: bench-ext\r\n"
    b"Content-Length: 64\r\n\r\n" + b'{"functionName":"fn","functionVersion":"$LATEST","handler":"x"}'.ljust(64)
)
KEEP_BODY = 4096  # bytes of each response body kept for sanity checks


@dataclass
class Done:
    """A response, streamed response or error for one request id."""

    kind: str  # "response" | "stream" | "error"
    at: float  # the whole body had arrived
    size: int
    head: bytes  # the first KEEP_BODY bytes of the body
    first_body_at: float | None = None  # streams: the first byte after the 8-NUL separator


class _Reader:
    """Buffered reads over a socket; a read position avoids re-copying big bodies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.last_at = 0.0

    def fill(self) -> None:
        if self.pos > 1 << 20:
            del self.buf[: self.pos]
            self.pos = 0
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("peer closed")
        self.last_at = time.monotonic()
        self.buf += data

    def until(self, marker: bytes) -> bytes:
        while True:
            end = self.buf.find(marker, self.pos)
            if end >= 0:
                out = bytes(self.buf[self.pos:end])
                self.pos = end + len(marker)
                return out
            self.fill()

    def take(self, n: int) -> bytes:
        self.skip(n)
        return bytes(self.buf[self.pos - n:self.pos])

    def skip(self, n: int) -> None:
        """Consume n bytes without copying them (big streamed bodies)."""
        while len(self.buf) - self.pos < n:
            self.fill()
        self.pos += n


class FakeRuntime:
    """The Runtime API on 127.0.0.1:0; `address` goes into AWS_LAMBDA_RUNTIME_API."""

    def __init__(self, deadline_s: float = 60.0) -> None:
        self.deadline_s = deadline_s
        self.cv = threading.Condition()
        self.events: deque[tuple[str, bytes]] = deque()
        self.served: dict[str, float] = {}
        self.done: dict[str, Done] = {}
        self.first_next_at: float | None = None
        self.registered_at: float | None = None
        self.init_errors: list[bytes] = []
        self.errors: list[str] = []  # what broke a connection (bad framing, ...), for diagnosis
        self.stopped = False
        self.shutdown = False
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.conns: list[socket.socket] = []

    def start(self) -> FakeRuntime:
        threading.Thread(target=self._accept, daemon=True, name="fake-runtime").start()
        return self

    def __enter__(self) -> FakeRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.cv.notify_all()
        for sock in [self.listener, *self.conns]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def push_many(self, events: list[tuple[str, bytes]]) -> None:
        with self.cv:
            self.events.extend(events)
            self.cv.notify_all()

    def send_shutdown(self) -> None:
        with self.cv:
            self.shutdown = True
            self.cv.notify_all()

    def wait_done(self, ids: list[str], timeout: float) -> None:
        end = time.monotonic() + timeout
        with self.cv:
            while not all(i in self.done for i in ids):
                if self.errors:
                    raise RuntimeError(f"the fake Runtime API dropped a connection: {self.errors[0]}")
                left = end - time.monotonic()
                if left <= 0:
                    missing = sum(i not in self.done for i in ids)
                    raise TimeoutError(f"{missing} of {len(ids)} invocations unanswered after {timeout}s")
                self.cv.wait(min(left, 0.5))

    def wait_first_next(self, timeout: float) -> float:
        end = time.monotonic() + timeout
        with self.cv:
            while self.first_next_at is None:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no GET /invocation/next within {timeout}s")
                self.cv.wait(min(left, 0.5))
            return self.first_next_at

    # ---- serving ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        reader = _Reader(sock)
        try:
            while not self.stopped:
                head = reader.until(b"\r\n\r\n")
                at = reader.last_at
                lines = head.split(b"\r\n")
                method, path, _ = lines[0].decode("latin-1").split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                if method == "GET" and path == NEXT:
                    if not self._next(sock, at):
                        return
                elif method == "POST" and path.startswith(INVOCATION):
                    rid, _, kind = path[len(INVOCATION):].partition("/")
                    self._result(sock, reader, headers, rid, kind)
                elif path == "/2020-01-01/extension/register":
                    self._body(reader, headers)
                    with self.cv:
                        self.registered_at = at
                    sock.sendall(_REGISTERED)
                elif path == "/2020-01-01/extension/event/next":
                    with self.cv:
                        while not (self.shutdown or self.stopped):
                            self.cv.wait()
                    if self.stopped:
                        return
                    body = json.dumps({"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                                       "deadlineMs": int(time.time() * 1000) + 2000}).encode()
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                elif path == "/2018-06-01/runtime/init/error":
                    body = self._body(reader, headers)
                    with self.cv:
                        self.init_errors.append(bytes(body))
                        self.cv.notify_all()
                    sock.sendall(_ACCEPTED)
                else:
                    self._body(reader, headers)
                    sock.sendall(_NOT_FOUND)
        except ConnectionError:
            return
        except Exception as exc:  # noqa: BLE001 - kept for diagnosis; the connection ends
            if not self.stopped:
                self.errors.append(repr(exc))
            return
        finally:
            sock.close()

    def _next(self, sock: socket.socket, at: float) -> bool:
        with self.cv:
            if self.first_next_at is None:
                self.first_next_at = at
                self.cv.notify_all()
            while not self.events and not self.stopped:
                self.cv.wait()
            if self.stopped:
                return False
            rid, body = self.events.popleft()
        deadline = int((time.time() + self.deadline_s) * 1000)
        response = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: %s\r\n"
            b"Lambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: %s\r\n"
            b"Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (rid.encode(), deadline, ARN.encode(), len(body), body)
        )
        # Stamped before the send: on loopback the kernel may run the reader (and its answer)
        # before sendall returns here, which would make every latency look shorter than it is.
        served = time.monotonic()
        sock.sendall(response)
        with self.cv:
            self.served[rid] = served
        return True

    def _body(self, reader: _Reader, headers: dict) -> bytes:
        length = int(headers.get(b"content-length", b"0"))
        return reader.take(length)

    def _result(self, sock: socket.socket, reader: _Reader, headers: dict, rid: str, kind: str) -> None:
        first_body_at = None
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            kind = "stream" if kind == "response" else kind
            size = 0
            head = bytearray()
            seen_separator = False
            while True:
                size_line = reader.until(b"\r\n")
                n = int(size_line.split(b";", 1)[0], 16)
                if n == 0:
                    while reader.until(b"\r\n"):  # trailers, up to the empty line
                        pass
                    break
                if len(head) < KEEP_BODY or not seen_separator:
                    head += reader.take(n)[:KEEP_BODY]
                else:
                    reader.skip(n)
                if not seen_separator:
                    i = bytes(head).find(SEPARATOR)
                    if i >= 0:
                        seen_separator = True
                        if len(head) > i + len(SEPARATOR):
                            first_body_at = reader.last_at
                elif first_body_at is None:
                    first_body_at = reader.last_at
                size += n
                reader.take(2)
            at = reader.last_at
        else:
            body = self._body(reader, headers)
            size, head, at = len(body), bytearray(body[:KEEP_BODY]), reader.last_at
        sock.sendall(_ACCEPTED)
        with self.cv:
            self.done[rid] = Done(kind, at, size, bytes(head[:KEEP_BODY]), first_body_at)
            self.cv.notify_all()
