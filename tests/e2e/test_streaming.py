"""Response streaming end to end (docs/behaviour.md §7, decision "streaming"): a real `python -m lwa` in
`AWS_LWA_INVOKE_MODE=response_stream` between the fake Runtime API and a raw-socket app.

Most tests share one lwa (module fixture) and swap the app's route handlers; the memory test
runs its own lwa against a Runtime API that checks the 300 MB stream on the fly and keeps
none of it, so only lwa's own footprint is measured.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from types import SimpleNamespace

import pytest

from tests.support.apps import (
    AppServer,
    download,
    fixed,
    hang,
    pattern,
    reset_before_response,
    reset_mid_response,
    routes,
    sse,
)
from tests.support.events import load_event
from tests.support.http11 import HttpReader, ProtocolError
from tests.support.process import Lwa, base_env
from tests.support.runtime_api import RuntimeApiServer

SEP = b"\x00" * 8
STREAM_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
V2_EVENT = "function-url/rust-runtime__lambda_function_url_request.json"
V1_EVENT = "apigw-v1/rust-runtime__example-apigw-request.json"
SQS_EVENT = "passthrough/rust-runtime__example-sqs-event.json"
MB = 1 << 20


def http_event(kind: str, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict:
    """A real v1 or v2 (Function URL) event aimed at `method path`, headers replaced."""
    headers = {"host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})}
    if kind == "v2":
        event = copy.deepcopy(load_event(V2_EVENT))
        event.update(rawPath=path, rawQueryString="", headers=headers, body=None, isBase64Encoded=False)
        event.pop("cookies", None)
        event["requestContext"]["http"].update(method=method, path=path)
        return event
    event = copy.deepcopy(load_event(V1_EVENT))
    event.update(path=path, httpMethod=method, headers=headers, body=None, isBase64Encoded=False,
                 multiValueHeaders={k: [v] for k, v in headers.items()})
    event["requestContext"]["httpMethod"] = method
    return event


def trailer_error(result) -> dict:
    """The decoded Lambda-Runtime-Function-Error-Body trailer."""
    return json.loads(base64.b64decode(result.trailers["lambda-runtime-function-error-body"], validate=True))


def declared_trailers(result) -> list[str]:
    return [v.decode("latin-1") for n, v in result.raw_headers if n == "trailer"]


def arrival_of(result, end: int) -> float:
    """When the Runtime API had received the first `end` bytes of the streamed POST body."""
    got = 0
    for at, data in result.chunks:
        got += len(data)
        if got >= end:
            return at
    raise AssertionError(f"only {got} of {end} bytes arrived")


def only_result(runtime: RuntimeApiServer, rid: str, timeout: float = 10.0):
    """The one post for `rid`; a second one (a stream plus an /error, say) fails the test."""
    result = runtime.wait_result(rid, timeout)
    time.sleep(0.05)  # a duplicate would follow at once
    posts = runtime.results_for(rid)
    assert len(posts) == 1, [(p.kind, p.body[:200]) for p in posts]
    return result


# ---- the shared stack ---------------------------------------------------------------------------

def _stall(reached: threading.Event):
    """Start a chunked body, send 5 bytes, then stall until lwa hangs up (sets `reached`)."""
    def handler(seen, w):
        w.start(200, [("Content-Type", "text/plain")])
        w.chunk(b"first")
        while not w.stopping.wait(0.02):
            if w.peer_closed():
                reached.set()
                return
    return handler


def _head_only(status: int, headers: list[tuple[str, str]]):
    """Status and headers only, connection kept open: a reader waiting for a body would hang."""
    def handler(seen, w):
        w.sock.sendall(b"HTTP/1.1 %d X\r\n" % status + "".join(f"{n}: {v}\r\n" for n, v in headers).encode()
                       + b"\r\n")
        w.state = "done"
    return handler


@pytest.fixture(scope="module")
def stack():
    """One streaming lwa (compression also requested, so its refusal is tested too)."""
    table: dict = {}
    with RuntimeApiServer() as runtime, AppServer(routes(table)) as app:
        env = base_env(runtime.address, app.port, AWS_LWA_INVOKE_MODE="response_stream",
                       AWS_LWA_ENABLE_COMPRESSION="true", AWS_LWA_ERROR_STATUS_CODES="500-599",
                       AWS_LWA_READINESS_CHECK_PATH="/healthz")
        lwa = Lwa(env)
        try:
            runtime.wait_polling(1, timeout=15)
            yield SimpleNamespace(runtime=runtime, app=app, lwa=lwa, table=table)
        finally:
            code = lwa.stop()
        assert code == 0, lwa.output


def invoke(stack, event, timeout: float = 10.0, **push):
    rid = stack.runtime.push(event, **push)
    return only_result(stack.runtime, rid, timeout)


# ---- wire format ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_prelude_separator_and_body(stack, kind):
    body = b"<p>streamed \xc3\xa9</p>"
    stack.table["/page"] = fixed(200, [("Content-Type", "text/html"), ("Set-Cookie", "a=1; Path=/"),
                                       ("Set-Cookie", "b=2; HttpOnly"), ("X-Multi", "1"), ("X-Multi", "2")], body)
    result = invoke(stack, http_event(kind, "/page", headers={"accept-encoding": "gzip, br"}))

    assert result.kind == "stream"
    assert result.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert result.headers["transfer-encoding"] == "chunked"
    assert result.headers["content-type"] == STREAM_CONTENT_TYPE
    assert declared_trailers(result) == ["Lambda-Runtime-Function-Error-Type", "Lambda-Runtime-Function-Error-Body"]
    assert result.trailers == {}
    head, rest = result.body.split(SEP, 1)
    assert json.loads(head) == {
        "statusCode": 200,
        "headers": {"content-type": "text/html", "x-multi": "1, 2", "content-length": str(len(body))},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
    }
    assert head == json.dumps(json.loads(head), separators=(",", ":"), ensure_ascii=False).encode()
    # Exactly 8 NULs, then the raw body: not compressed, though compression was asked for.
    assert rest == body
    assert "Compression is not supported with response streaming" in stack.lwa.output


def test_no_content_type_defaults_to_octet_stream(stack):
    stack.table["/raw"] = fixed(200, [], b"\x00\xffraw")
    result = invoke(stack, http_event("v2", "/raw"))
    assert result.prelude["headers"]["content-type"] == "application/octet-stream"
    assert result.stream_body == b"\x00\xffraw"


def test_sse_events_are_forwarded_one_by_one(stack):
    events = [b"data: %d\n\n" % i for i in range(4)]
    handler = sse(events, pause_s=0.3)
    stack.table["/sse"] = handler
    result = invoke(stack, http_event("v2", "/sse"))

    assert result.prelude["headers"]["content-type"] == "text/event-stream"
    assert result.stream_body == b"".join(events)
    start = result.body.index(SEP) + len(SEP)
    sent = [at for at, _ in handler.events_at]
    end = start
    for i, ev in enumerate(events[:-1]):
        end += len(ev)
        arrived = arrival_of(result, end)
        # Event i was at the Runtime API before the app had even written event i + 1.
        assert arrived < sent[i + 1], f"event {i} arrived {arrived - sent[i]:.3f}s after it was sent"


@pytest.mark.parametrize("method, status, headers", [
    ("GET", 204, [("X-A", "1")]),
    ("GET", 304, [("ETag", '"v1"'), ("Content-Length", "1234")]),
    ("GET", 302, [("Location", "/elsewhere"), ("Content-Length", "0")]),
    ("HEAD", 200, [("Content-Type", "text/plain"), ("Content-Length", "1000")]),
], ids=["204", "304", "302", "HEAD"])
def test_body_less_responses_end_the_stream_at_once(stack, method, status, headers):
    """The app keeps the connection open after the head: only knowing there is no body ends it."""
    stack.table["/nobody"] = _head_only(status, headers)
    result = invoke(stack, http_event("v2", "/nobody", method=method), timeout=5.0)
    assert result.prelude["statusCode"] == status
    assert result.stream_body == b""
    assert result.trailers == {}


def test_pass_through_is_answered_buffered(stack):
    stack.table["/events"] = fixed(200, [("Content-Type", "application/json")], b'{"batchItemFailures": []}')
    result = invoke(stack, load_event(SQS_EVENT))
    assert result.kind == "response"
    assert "lambda-runtime-function-response-mode" not in result.headers
    assert result.body == b'{"batchItemFailures": []}'
    seen = stack.app.requests[-1]
    assert (seen.method, seen.path) == ("POST", "/events")


def test_error_status_code_posts_error_and_streams_nothing(stack):
    stack.table["/busy"] = fixed(503, [("Content-Type", "text/plain")], b"busy")
    result = invoke(stack, http_event("v2", "/busy"))
    assert result.kind == "error"
    assert result.json() == {"errorType": "HttpStatusError", "errorMessage": '{"statusCode":503,"body":"busy"}'}


# ---- failures in the middle of a stream ---------------------------------------------------------

@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_app_reset_mid_stream_ends_with_error_trailers(stack, chunked):
    stack.table["/reset"] = reset_mid_response(200_000, chunked=chunked)
    result = invoke(stack, http_event("v2", "/reset"))

    assert result.kind == "stream"
    assert declared_trailers(result) == ["Lambda-Runtime-Function-Error-Type", "Lambda-Runtime-Function-Error-Body"]
    assert result.trailers["lambda-runtime-function-error-type"] == "Runtime.StreamError"
    error = trailer_error(result)
    assert set(error) == {"errorMessage", "errorType"}
    assert error["errorType"] == "AppResponseTruncated"
    body = result.stream_body
    # What did arrive is the app's bytes, unchanged; no error text was appended to the body.
    assert 0 < len(body) <= 200_000 and body == pattern(0, len(body))

    stack.table["/ok"] = fixed(200, [("Content-Type", "text/plain")], b"still serving")
    assert invoke(stack, http_event("v2", "/ok")).stream_body == b"still serving"


def _cut_short(seen, w):
    """Announce 1000 bytes, send 500, then close cleanly (FIN, no reset)."""
    w.raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
          + pattern(0, 500))
    w.close()


def test_app_closing_before_its_content_length_ends_with_error_trailers(stack):
    stack.table["/short"] = _cut_short
    result = invoke(stack, http_event("v2", "/short"))
    assert result.stream_body == pattern(0, 500)
    assert trailer_error(result)["errorType"] == "AppResponseTruncated"


def _until_close(seen, w):
    """No Content-Length, no chunking: the body ends when the app closes the connection."""
    w.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ")
    w.stopping.wait(0.1)
    w.sock.sendall(b"world")
    w.close()


def test_body_delimited_by_close_is_a_complete_stream(stack):
    stack.table["/close"] = _until_close
    result = invoke(stack, http_event("v2", "/close"))
    assert result.stream_body == b"hello world" and result.trailers == {}


@pytest.mark.parametrize("path, handler, error_type", [
    ("/refuse", reset_before_response(), "AppConnectionError"),
    ("/silent", hang(), "AppTimeout"),
], ids=["reset", "no-answer"])
def test_failure_before_the_response_head_posts_an_error(stack, path, handler, error_type):
    """Nothing was streamed yet, so the failure is a plain /error (docs/behaviour.md §7.1)."""
    stack.table[path] = handler
    result = invoke(stack, http_event("v2", path), deadline_ms=int(time.time() * 1000) + 1000)
    assert result.kind == "error" and result.json()["errorType"] == error_type


def test_app_stalling_past_the_deadline_ends_with_app_timeout_trailers(stack):
    hung_up = threading.Event()
    stack.table["/stall"] = _stall(hung_up)
    deadline_ms = int(time.time() * 1000) + 1500
    result = invoke(stack, http_event("v2", "/stall"), deadline_ms=deadline_ms)

    assert result.stream_body == b"first"
    assert result.trailers["lambda-runtime-function-error-type"] == "Runtime.StreamError"
    assert trailer_error(result)["errorType"] == "AppTimeout"
    # lwa gave up and closed the app connection.
    assert hung_up.wait(5), "the app never saw lwa close the stalled connection"


def test_runtime_api_breaking_mid_stream_does_not_kill_lwa(stack):
    stack.table["/big"] = download(8 * MB)
    stack.runtime.inject("response", ("reset",))
    rid = stack.runtime.push(http_event("v2", "/big"))
    stack.runtime.wait_calls("POST", f"/2018-06-01/runtime/invocation/{rid}/response", timeout=10)
    stack.lwa.wait_log("the Runtime API connection broke while streaming", timeout=10)

    stack.table["/ok"] = fixed(200, [("Content-Type", "text/plain")], b"next one")
    result = invoke(stack, http_event("v2", "/ok"))
    assert result.stream_body == b"next one"
    assert stack.lwa.proc.poll() is None


# ---- memory stays flat ---------------------------------------------------------------------------

class _DroppingReader(HttpReader):
    """Chunked bodies go to `on_chunk` only and are not kept."""

    def _read_chunked(self, on_chunk):
        while True:
            line = self.read_line()
            if line is None:
                raise ProtocolError("EOF before chunk size")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                return b"", self._read_fields()
            on_chunk(self.read_exact(size))
            if self.read_line() != b"":
                raise ProtocolError("chunk not followed by CRLF")


class CheckingSink(RuntimeApiServer):
    """A Runtime API that compares a streamed body with `pattern` as it arrives and drops it."""

    reader_class = _DroppingReader

    def __init__(self) -> None:
        super().__init__(deadline_s=120.0)
        self.head = bytearray()
        self.body_bytes = 0
        self.mismatch_at: int | None = None

    def _on_chunk(self, result, data):
        if SEP not in self.head:
            self.head += data
            if SEP not in self.head:
                return
            self.head, _, data = bytes(self.head).partition(SEP)
            self.head += SEP
        if self.mismatch_at is None and data != pattern(self.body_bytes, len(data)):
            self.mismatch_at = self.body_bytes
        self.body_bytes += len(data)


def vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_300_mb_stream_keeps_memory_flat():
    total = 300 * MB
    with CheckingSink() as runtime, AppServer(routes({"/big": download(total, chunk=256 * 1024)})) as app:
        lwa = Lwa(base_env(runtime.address, app.port, AWS_LWA_INVOKE_MODE="response_stream",
                           AWS_LWA_READINESS_CHECK_PATH="/healthz"))
        try:
            runtime.wait_polling(1, timeout=15)
            before = vm_hwm_kb(lwa.proc.pid)
            started = time.monotonic()
            rid = runtime.push(http_event("v2", "/big"))
            result = runtime.wait_result(rid, timeout=120)
            elapsed = time.monotonic() - started
            peak = vm_hwm_kb(lwa.proc.pid)
        finally:
            code = lwa.stop()
    assert code == 0, lwa.output
    assert result.kind == "stream" and result.trailers == {}
    assert json.loads(runtime.head[:-len(SEP)])["headers"]["content-type"] == "application/octet-stream"
    assert runtime.body_bytes == total and runtime.mismatch_at is None
    print(f"\n300 MB streamed in {elapsed:.2f}s ({total / MB / elapsed:.0f} MB/s); "
          f"lwa VmHWM {before // 1024} MB before, {peak // 1024} MB after")
    assert peak < 60 * 1024, f"lwa peaked at {peak // 1024} MB (before the stream: {before // 1024} MB)"
