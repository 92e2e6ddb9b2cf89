"""A fake AWS Lambda Runtime API + Extensions API on 127.0.0.1, with fault injection.

It speaks the wire format of docs/behaviour.md §2.3, §3.1, §3.2 and §7 over tests/support/http11.py
(so chunked bodies, trailers and per-chunk arrival times are visible to tests), records every call,
and never blocks forever: `stop()` releases every waiting handler.

Status codes and error bodies for rejected posts were checked against AWS's Runtime Interface
Emulator (aws-lambda-rie from aws-sam-cli 1.170.0, see tests/support/rie_binary.py).
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .http11 import Head, HttpReader, ProtocolError, build_response, peer_closed, rst_close
from .loopback import LoopbackServer

# --------------------------------------------------------------------------------------------
# The fake Runtime API
# --------------------------------------------------------------------------------------------

MAX_RESPONSE_BYTES = 6291556
STREAM_SEPARATOR = b"\x00" * 8

_JSON = [("Content-Type", "application/json")]
_OK_202 = b'{"status":"OK"}\n'
_TOO_LARGE = (
    b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
    b'"errorType":"RequestEntityTooLarge"}\n'
)
_INVALID_ID = b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n'
_NOT_FOUND = b"404 page not found\n"

FAULT_ENDPOINTS = frozenset(
    {"next", "response", "error", "register", "init_error",
     "extension_next", "restore_next", "restore_error"}
)
_RESULT_KINDS = {"response", "error", "init_error", "restore_error"}

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/2020-01-01/extension/register"), "register"),
    ("GET", re.compile(r"/2020-01-01/extension/event/next"), "extension_next"),
    ("GET", re.compile(r"/2018-06-01/runtime/invocation/next"), "next"),
    ("POST", re.compile(r"/2018-06-01/runtime/invocation/([^/]+)/response"), "response"),
    ("POST", re.compile(r"/2018-06-01/runtime/invocation/([^/]+)/error"), "error"),
    ("POST", re.compile(r"/2018-06-01/runtime/init/error"), "init_error"),
    ("GET", re.compile(r"/2018-06-01/runtime/restore/next"), "restore_next"),
    ("POST", re.compile(r"/2018-06-01/runtime/restore/error"), "restore_error"),
]


def _state_error(kind: str) -> bytes:
    target = "InvocationErrorResponse" if kind == "error" else "InvocationResponse"
    return _error_json(f"State transition from RuntimeResponseSentState to {target} failed "
                       "for runtime. Error: State transition is not allowed",
                       "InvalidStateTransition")


@dataclass
class Result:
    """One POST the runtime made (response, stream, error, init error or restore error).

    A Result is listed as soon as its headers arrive (`started_at`); `chunks` fills up live
    for chunked posts; `received_at` is set when the body is complete (or the post died) and
    `answered_at` once `status_sent` is decided. `fault` is the injected fault this post
    consumed (None normally); `aborted` means the client vanished mid-body.
    """

    kind: str
    request_id: str | None
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    received_at: float | None = None
    status_sent: int | None = None
    started_at: float = 0.0
    answered_at: float | None = None
    raw_headers: list[tuple[str, bytes]] = field(default_factory=list)
    fault: tuple | None = None
    aborted: bool = False

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def rejected(self) -> bool:
        """True when an injected status/reset fault answered this post instead of the API."""
        return self.fault is not None and self.fault[0] in ("status", "reset")

    def _split(self) -> tuple[bytes, bytes]:
        head, sep, rest = self.body.partition(STREAM_SEPARATOR)
        if not sep:
            raise AssertionError(f"no 8-NUL separator in stream body {self.body[:200]!r}")
        return head, rest

    @property
    def prelude(self) -> Any:
        """The streaming prelude JSON (bytes before the 8 NUL bytes), parsed."""
        return json.loads(self._split()[0])

    @property
    def stream_body(self) -> bytes:
        """The streamed body: everything after the 8 NUL bytes."""
        return self._split()[1]

    @property
    def error_type(self) -> str | None:
        """`Lambda-Runtime-Function-Error-Type` from the trailers, else from the headers."""
        key = "lambda-runtime-function-error-type"
        return self.trailers.get(key, self.headers.get(key))


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    deadline_ms: int | None
    headers: list[tuple[str, str]]


class RuntimeApiServer(LoopbackServer):
    """Fake Runtime API + Extensions API on 127.0.0.1:0; one thread per connection.

    Use as a context manager (`LoopbackServer`). `address` goes into AWS_LAMBDA_RUNTIME_API. Events go in with
    `push()` and are served FIFO to `GET /invocation/next`; everything the runtime posts is
    recorded as a `Result`. All waits take a timeout and raise AssertionError on expiry.
    Rejected posts follow RIE: unknown/never-served id → 400 InvalidRequestID; a second post
    for an id already answered → 403 InvalidStateTransition. A 413 answer consumes the id.
    """

    name = "runtime-api"

    def __init__(
        self,
        *,
        function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn",
        deadline_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.function_arn = function_arn
        self.deadline_s = deadline_s
        self._events: deque[_Invocation] = deque()
        self._faults: dict[str, deque[tuple]] = {k: deque() for k in FAULT_ENDPOINTS}
        self._results: dict[str, list[Result]] = {}
        self._answered: set[str] = set()
        self._polling = 0
        self._extension_polling = 0
        self._extensions: dict[str, str] = {}
        self._shutdown: tuple[str, int] | None = None
        self._restore_held = False
        # Public records (read them; append only happens under the lock).
        self.calls: list[tuple[float, str, str, dict[str, str]]] = []
        self.registrations: list[dict[str, Any]] = []
        self.init_errors: list[Result] = []
        self.restore_errors: list[Result] = []
        self.served: dict[str, tuple[float, dict[str, str]]] = {}
        """request id → (monotonic time served by /next, headers sent with it)."""

    # ---- test-facing API ------------------------------------------------------------------

    def push(
        self,
        event: bytes | str | Any,
        *,
        request_id: str | None = None,
        deadline_ms: int | None = None,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        tenant_id: str | None = None,
        invocation_id: str | None = None,
        extra_headers: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> str:
        """Queue one invocation and return its request id.

        bytes go out verbatim, str as UTF-8 (not JSON-quoted), anything else as json.dumps.
        Without `deadline_ms` the deadline is the moment /next serves it + `deadline_s`, as the
        function timeout starts when the invocation starts.
        """
        if isinstance(event, bytes):
            body = event
        elif isinstance(event, str):
            body = event.encode("utf-8")
        else:
            body = json.dumps(event).encode("utf-8")
        rid = request_id or str(uuid.uuid4())
        headers = [("Lambda-Runtime-Invoked-Function-Arn", self.function_arn)]
        optional = [
            ("Lambda-Runtime-Trace-Id", trace_id),
            ("Lambda-Runtime-Client-Context", client_context),
            ("Lambda-Runtime-Cognito-Identity", cognito_identity),
            ("Lambda-Runtime-Aws-Tenant-Id", tenant_id),
            ("Lambda-Runtime-Invocation-Id", invocation_id),
        ]
        headers += [(k, v) for k, v in optional if v is not None]
        if extra_headers:
            items = extra_headers.items() if isinstance(extra_headers, dict) else extra_headers
            headers += list(items)
        with self._cv:
            self._events.append(_Invocation(rid, body, deadline_ms, headers))
            self._cv.notify_all()
        return rid

    @property
    def polling(self) -> int:
        """`GET /invocation/next` calls blocked here right now."""
        with self._cv:
            return self._polling

    @property
    def pending(self) -> int:
        """Events pushed but not yet served to a /next call."""
        with self._cv:
            return len(self._events)

    def _wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"calls so far: {self._call_summary()}")
                self._cv.wait(min(left, 0.25))

    def _call_summary(self) -> list[str]:
        return [f"{m} {p}" for _, m, p, _ in self.calls[-20:]]

    def wait_result(self, request_id: str, timeout: float = 10.0) -> Result:
        """The first complete post for `request_id` that no injected fault rejected."""
        def find() -> Result | None:
            for r in self._results.get(request_id, []):
                if not r.rejected:
                    return r if r.answered_at is not None else None
            return None
        return self._wait(find, timeout, f"a result for {request_id}")

    def results_for(self, request_id: str) -> list[Result]:
        """Every post for the id in arrival order: rejected, duplicate, in-progress ones too."""
        with self._cv:
            return list(self._results.get(request_id, []))

    def wait_chunks(self, request_id: str, n: int, timeout: float = 10.0) -> Result:
        """Wait until the (possibly still open) chunked post for the id has >= n chunks."""
        def find() -> Result | None:
            for r in self._results.get(request_id, []):
                if len(r.chunks) >= n:
                    return r
            return None
        return self._wait(find, timeout, f"{n} chunks for {request_id}")

    def wait_polling(self, n: int = 1, timeout: float = 10.0) -> None:
        """Until n `GET /invocation/next` calls are blocked here at the same time."""
        self._wait(lambda: self._polling >= n, timeout, f"{n} blocked /next calls")

    def wait_extension_polling(self, n: int = 1, timeout: float = 10.0) -> None:
        """Until n `GET /extension/event/next` calls are blocked here at the same time."""
        self._wait(lambda: self._extension_polling >= n, timeout,
                   f"{n} blocked extension event/next calls")

    def wait_calls(self, method: str, path_prefix: str, n: int = 1,
                   timeout: float = 10.0) -> list[tuple[float, str, str, dict[str, str]]]:
        """Until `calls` holds n requests with that method and path prefix; returns them."""
        def find() -> list | None:
            hits = [c for c in self.calls if c[1] == method and c[2].startswith(path_prefix)]
            return hits if len(hits) >= n else None
        return self._wait(find, timeout, f"{n} x {method} {path_prefix}")

    def wait_registration(self, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self._wait(lambda: list(self.registrations) if len(self.registrations) >= n
                          else None, timeout, f"{n} extension registrations")

    def shutdown_extension(self, reason: str = "spindown", deadline_ms: int | None = None) -> None:
        """Every blocked (and later) extension event/next answers SHUTDOWN."""
        if deadline_ms is None:
            deadline_ms = int(time.time() * 1000) + 2000
        with self._cv:
            self._shutdown = (reason, deadline_ms)
            self._cv.notify_all()

    def hold_restore(self) -> None:
        """Make `GET /runtime/restore/next` block until `release_restore()`."""
        with self._cv:
            self._restore_held = True

    def release_restore(self) -> None:
        with self._cv:
            self._restore_held = False
            self._cv.notify_all()

    def inject(self, endpoint: str, fault: tuple, times: int = 1) -> None:
        """Queue `times` copies of a fault; each matching request consumes one.

        endpoint: next, response, error, register, init_error (also extension_next,
        restore_next, restore_error). fault: ("status", code, body) answers that status
        (body: bytes/str/JSON-able) after reading the request; ("reset",) sends a TCP RST right
        after the request headers; ("delay", seconds) sleeps, then answers normally.
        """
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(FAULT_ENDPOINTS)}")
        if not fault or fault[0] not in ("status", "reset", "delay"):
            raise ValueError(f"unknown fault {fault!r}")
        with self._cv:
            self._faults[endpoint].extend([tuple(fault)] * times)

    # ---- connection handling --------------------------------------------------------------

    reader_class = HttpReader  # a subclass may read bodies differently (e.g. drop them as they come)

    def serve(self, sock: socket.socket, client_port: int, conn_id: int) -> None:
        reader = self.reader_class(sock)
        try:
            while not self.stopping.is_set():
                head = reader.read_head()
                if head is None or not self._handle(sock, reader, head):
                    break
        except (OSError, ProtocolError):
            pass

    def _send(self, sock: socket.socket, status: int, body: bytes = b"",
              headers: list[tuple[str, str]] | None = None) -> None:
        sock.sendall(build_response(status, _JSON if headers is None else headers, body))

    def _handle(self, sock: socket.socket, reader: HttpReader, head: Head) -> bool:
        """Serve one request; False means close the connection."""
        path = head.path
        with self._cv:
            self.calls.append((time.monotonic(), head.method, path, head.as_dict()))
            self._cv.notify_all()
        kind, rid, allowed = None, None, False
        for method, pattern, k in _ROUTES:
            m = pattern.fullmatch(path)
            if m:
                kind, rid = k, (m.group(1) if m.groups() else None)
                allowed = allowed or method == head.method
                if method == head.method:
                    break
        if kind is None or not allowed:
            reader.read_body(head)
            status = 404 if kind is None else 405
            body = _NOT_FOUND if kind is None else b"405 method not allowed\n"
            self._send(sock, status, body, [("Content-Type", "text/plain; charset=utf-8")])
            return head.keep_alive()

        with self._cv:
            fault = self._faults[kind].popleft() if self._faults[kind] else None

        result = None
        if kind in _RESULT_KINDS:
            result = self._new_result(kind, rid, head, fault)
        if fault and fault[0] == "reset":
            if result is not None:
                self._finish(result, None)
            rst_close(sock)
            return False
        if (head.get("expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

        if result is not None:
            try:
                body, trailers = reader.read_body(
                    head, on_chunk=lambda d: self._on_chunk(result, d))
            except (OSError, ProtocolError):
                result.aborted = True
                self._finish(result, None, consume=result.kind == "stream")
                raise
            result.body = body
            result.trailers = {n: v.decode("latin-1") for n, v in trailers}
            result.received_at = time.monotonic()
        else:
            body, _ = reader.read_body(head)

        if fault and fault[0] == "status":
            status, payload = fault[1], _fault_body(fault[2] if len(fault) > 2 else b"")
            if result is not None:
                self._finish(result, status)
            self._send(sock, status, payload)
            return head.keep_alive()
        if fault and fault[0] == "delay" and self.stopping.wait(fault[1]):
            return False

        return self._HANDLERS[kind](self, sock, head, body, rid, result)

    def _new_result(self, kind: str, rid: str | None, head: Head, fault: tuple | None) -> Result:
        mode = (head.get("lambda-runtime-function-response-mode") or "").lower()
        if kind == "response" and mode == "streaming":
            kind = "stream"
        r = Result(kind=kind, request_id=rid, headers=head.as_dict(), started_at=time.monotonic(),
                   raw_headers=[(n, v) for n, v in head.headers], fault=fault)
        with self._cv:
            if kind == "init_error":
                self.init_errors.append(r)
            elif kind == "restore_error":
                self.restore_errors.append(r)
            else:
                self._results.setdefault(rid or "", []).append(r)
            self._cv.notify_all()
        return r

    def _on_chunk(self, result: Result, data: bytes) -> None:
        with self._cv:
            result.chunks.append((time.monotonic(), data))
            self._cv.notify_all()

    def _finish(self, result: Result, status: int | None, *, consume: bool = False) -> None:
        with self._cv:
            result.status_sent = status
            result.answered_at = time.monotonic()
            if result.received_at is None:
                result.received_at = result.answered_at
            if consume and result.request_id is not None:
                self._answered.add(result.request_id)
            self._cv.notify_all()

    # ---- endpoints ------------------------------------------------------------------------

    def _do_next(self, sock: socket.socket, head: Head, body: bytes, rid: Any, result: Any) -> bool:
        with self._cv:
            self._polling += 1
            self._cv.notify_all()
        try:
            inv = self._block_until(sock, lambda: self._events.popleft() if self._events else None)
        finally:
            with self._cv:
                self._polling -= 1
                self._cv.notify_all()
        if inv is None:
            return False
        deadline = inv.deadline_ms
        if deadline is None:
            deadline = int((time.time() + self.deadline_s) * 1000)
        headers = [("Content-Type", "application/json"),
                   ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                   ("Lambda-Runtime-Deadline-Ms", str(deadline))] + inv.headers
        with self._cv:
            self.served[inv.request_id] = (time.monotonic(), {k.lower(): v for k, v in headers})
        try:
            self._send(sock, 200, inv.body, headers)
        except OSError:
            with self._cv:  # the poller vanished: give the event to the next one
                self.served.pop(inv.request_id, None)
                self._events.appendleft(inv)
                self._cv.notify_all()
            raise
        return head.keep_alive()

    def _block_until(self, sock: socket.socket, take: Callable[[], Any]) -> Any:
        """Wait (under the lock) until take() gives a value; None on stop or if the peer left."""
        while True:
            with self._cv:
                if self.stopping.is_set():
                    return None
                value = take()
                if value is not None:
                    return value
                self._cv.wait(0.1)
            if peer_closed(sock):
                return None

    def _post_status(self, kind: str, rid: str, size: int) -> tuple[int, bytes]:
        """Status for an invocation response/error post, applying Lambda's state rules."""
        if rid not in self.served:
            return 400, _INVALID_ID
        if rid in self._answered:
            return 403, _state_error(kind)
        self._answered.add(rid)
        if kind == "response" and size > MAX_RESPONSE_BYTES:
            return 413, _TOO_LARGE
        return 202, _OK_202

    def _do_response(self, sock: socket.socket, head: Head, body: bytes, rid: str,
                     result: Result) -> bool:
        with self._cv:
            status, payload = self._post_status(result.kind, rid, len(body))
        self._finish(result, status)
        self._send(sock, status, payload)
        return head.keep_alive()

    def _do_init_error(self, sock: socket.socket, head: Head, body: bytes, rid: Any,
                       result: Result) -> bool:
        self._finish(result, 202)
        self._send(sock, 202, _OK_202)
        return head.keep_alive()

    def _do_restore_next(self, sock: socket.socket, head: Head, body: bytes, rid: Any,
                         result: Any) -> bool:
        if self._block_until(sock, lambda: not self._restore_held or None) is None:
            return False
        self._send(sock, 200, b"", [])
        return head.keep_alive()

    def _do_register(self, sock: socket.socket, head: Head, body: bytes, rid: Any,
                     result: Any) -> bool:
        name = head.get("lambda-extension-name")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        ok = bool(name) and parsed is not None
        ident = str(uuid.uuid4())
        with self._cv:
            self.registrations.append({"name": name, "headers": head.as_dict(), "body": parsed,
                                       "raw_body": body, "identifier": ident if ok else None,
                                       "at": time.monotonic()})
            if ok:
                self._extensions[ident] = name
            self._cv.notify_all()
        if not name:
            self._send(sock, 403, _error_json("Empty extension name",
                                              "Extension.InvalidExtensionName"))
        elif parsed is None:
            self._send(sock, 403, _error_json("Invalid JSON body", "InvalidRequestFormat"))
        else:
            fn = self.function_arn.split(":")[6] if self.function_arn.count(":") >= 6 else "fn"
            payload = _json({"functionName": fn, "functionVersion": "$LATEST",
                             "handler": "run.sh"})
            self._send(sock, 200, payload, _JSON + [("Lambda-Extension-Identifier", ident)])
        return head.keep_alive()

    def _do_extension_next(self, sock: socket.socket, head: Head, body: bytes, rid: Any,
                           result: Any) -> bool:
        ident = head.get("lambda-extension-identifier")
        if ident not in self._extensions:
            self._send(sock, 403, _error_json("Invalid Lambda-Extension-Identifier",
                                              "Extension.InvalidExtensionIdentifier"))
            return head.keep_alive()
        with self._cv:
            self._extension_polling += 1
            self._cv.notify_all()
        try:
            shutdown = self._block_until(sock, lambda: self._shutdown)
        finally:
            with self._cv:
                self._extension_polling -= 1
                self._cv.notify_all()
        if shutdown is None:
            return False
        reason, deadline = shutdown
        payload = _json({"eventType": "SHUTDOWN", "shutdownReason": reason,
                         "deadlineMs": deadline})
        self._send(sock, 200, payload,
                   _JSON + [("Lambda-Extension-Event-Identifier", str(uuid.uuid4()))])
        return head.keep_alive()


    # The route table's kinds → handlers (a route's `kind` names its entry here).
    _HANDLERS: dict[str, Callable[..., bool]] = {
        "register": _do_register,
        "extension_next": _do_extension_next,
        "next": _do_next,
        "response": _do_response,
        "error": _do_response,
        "init_error": _do_init_error,
        "restore_next": _do_restore_next,
        "restore_error": _do_init_error,
    }

def _json(obj: Any) -> bytes:
    """Compact JSON plus a newline, as the Runtime API (Go's json.Encoder) writes it."""
    return json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n"


def _error_json(message: str, error_type: str) -> bytes:
    return _json({"errorMessage": message, "errorType": error_type})


def _fault_body(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return _json(body)
