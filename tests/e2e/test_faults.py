"""Faults in the app and in the Runtime API: every invocation ends in exactly one clear outcome,
the loop keeps serving, and a request that may have reached the app is never sent twice.

lwa runs as a real subprocess (`python -m lwa`) against the fake Runtime API
(tests/support/runtime_api.py) and a real app on loopback: `AppServer` (tests/support/apps.py)
or the byte-level `RawApp` (tests/support/raw_app.py).
"""

from __future__ import annotations

import base64
import json
import random
import socket
import time
import uuid

import pytest

from tests.support import apps, raw_app
from tests.support.apps import AppServer
from tests.support.events import v2_event
from tests.support.http11 import listen_socket
from tests.support.runtime_api import RuntimeApiServer

WAIT_S = 10.0


def outcomes(api: RuntimeApiServer, rid: str) -> list:
    """Posts for `rid` that the Runtime API accepted as its outcome (injected rejections excluded)."""
    return [r for r in api.results_for(rid) if not r.rejected]


def one_outcome(api: RuntimeApiServer, rid: str, timeout: float = WAIT_S):
    """Wait for the outcome of `rid` and check it is the only one."""
    result = api.wait_result(rid, timeout)
    got = outcomes(api, rid)
    assert len(got) == 1, f"{len(got)} outcomes for {rid}: {[(r.kind, r.body[:200]) for r in got]}"
    return result


def error_of(result) -> dict:
    assert result.kind == "error", f"expected an error, got {result.kind}: {result.body[:300]!r}"
    assert result.headers.get("lambda-runtime-function-error-type") == "unhandled"
    return result.json()


def ok_response(api: RuntimeApiServer, event: dict | None = None) -> dict:
    """One normal invocation: proves the loop still serves after a fault."""
    rid = api.push(event or v2_event("GET", "/after"))
    result = one_outcome(api, rid)
    assert result.kind == "response", result.body[:300]
    envelope = result.json()
    assert envelope["statusCode"] == 200, envelope
    return envelope


def wall(monotonic_t: float) -> float:
    return monotonic_t + (time.time() - time.monotonic())


@pytest.fixture
def start(run_lwa):
    """Start lwa (conftest's `run_lwa`: exit 0 checked at teardown) and wait until it polls."""
    def go(api: RuntimeApiServer, port: int, *, polling: int = 1, **env: str):
        env.setdefault("AWS_LWA_READINESS_CHECK_PATH", "/healthz")
        lwa = run_lwa(api, port, **env)
        try:
            api.wait_polling(polling, timeout=15)
        except AssertionError:
            raise AssertionError(f"lwa never polled; output:\n{lwa.output}") from None
        return lwa
    return go


@pytest.fixture
def app():
    with AppServer(apps.echo) as server:
        yield server


def marked(requests, marker: str) -> list:
    return [r for r in requests if f"m={marker}" in r.target]


# ---- faults in the app -------------------------------------------------------------------------

def test_connection_refused_is_an_app_connection_error_and_the_next_invocation_works(api, start) -> None:
    reserved = listen_socket(0, listen=False)  # bound, never listening: connects are refused
    port = reserved.getsockname()[1]
    with AppServer(apps.echo) as health:
        start(api, port, AWS_LWA_READINESS_CHECK_PORT=str(health.port))
        rid = api.push(v2_event())
        err = error_of(one_outcome(api, rid))
        assert err["errorType"] == "AppConnectionError"
        assert f"127.0.0.1:{port}" in err["errorMessage"]
        reserved.close()
        with AppServer(apps.echo, port=port) as late:
            ok_response(api)
            assert len(late.requests) == 1


@pytest.mark.parametrize("method,expected_seen", [("GET", 2), ("POST", 1), ("PATCH", 1)])
def test_reset_before_response_on_a_reused_connection(api, app, method, expected_seen, start) -> None:
    """RST after the app read the whole request: only an idempotent method is retried (once)."""
    start(api, app.port)
    ok_response(api)  # leaves a pooled keep-alive connection
    app.handler = apps.reset_before_response()
    marker = uuid.uuid4().hex
    rid = api.push(v2_event(method, "/reset", body=b"payload", marker=marker))
    err = error_of(one_outcome(api, rid))
    assert err["errorType"] == "AppConnectionError"
    seen = marked(app.requests, marker)
    assert len(seen) == expected_seen, [(s.method, s.conn_id) for s in seen]
    assert all(s.method == method and s.body == (b"payload") for s in seen)
    app.handler = apps.echo
    ok_response(api)


def test_reset_before_response_on_a_fresh_connection_is_not_retried(api, app, start) -> None:
    app.handler = apps.reset_before_response()
    start(api, app.port)
    marker = uuid.uuid4().hex
    rid = api.push(v2_event("GET", "/reset", marker=marker))
    assert error_of(one_outcome(api, rid))["errorType"] == "AppConnectionError"
    assert len(marked(app.requests, marker)) == 1
    app.handler = apps.echo
    ok_response(api)


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "reused"])
@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_reset_mid_request_body_is_never_sent_twice(api, raw, method, warm, start) -> None:
    """The app resets after 1 KB of a 4 MB body: whatever lwa saw (EPIPE/ECONNRESET while sending,
    or no answer), part of the request reached the app, so it must not be sent again."""
    start(api, raw.port)
    if warm:
        ok_response(api)
    raw.handler = raw_app.reset_mid_request(1024)
    marker = uuid.uuid4().hex
    rid = api.push(v2_event(method, "/upload", body=bytes(range(256)) * 16384, marker=marker))
    err = error_of(one_outcome(api, rid))
    assert err["errorType"] == "AppConnectionError", err
    seen = marked(raw.requests(), marker)
    if method == "PUT":  # idempotent: one retry allowed when the connection was reused
        assert 1 <= len(seen) <= (2 if warm else 1)
    else:
        assert len(seen) == 1, [(r.method, r.conn_id, r.index) for r in seen]
    raw.handler = raw_app.ok
    ok_response(api)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_stale_pooled_connection_retry_rule(api, raw, how, start) -> None:
    """A reused connection that fails before any response byte: GET/PUT/DELETE are retried once on a
    fresh connection (the app sees them twice, answers once); POST/PATCH are not (seen once, error)."""
    raw.handler = raw_app.fail_on_reuse(how)
    start(api, raw.port)
    ok_response(api)  # conn 1 answered its first request and sits in the pool
    for method in ("GET", "PUT", "DELETE"):
        marker = uuid.uuid4().hex
        rid = api.push(v2_event(method, "/idem", body=b"x" if method == "PUT" else None, marker=marker))
        result = one_outcome(api, rid)
        assert result.kind == "response", result.body[:300]
        seen = marked(raw.requests(), marker)
        assert [(r.method, r.index) for r in seen] == [(method, 1), (method, 0)]
        assert seen[0].conn_id != seen[1].conn_id
    for method in ("POST", "PATCH"):
        marker = uuid.uuid4().hex
        rid = api.push(v2_event(method, "/once", body=b"body", marker=marker))
        err = error_of(one_outcome(api, rid))
        assert err["errorType"] == "AppConnectionError"
        seen = marked(raw.requests(), marker)
        assert [(r.method, r.index, r.body) for r in seen] == [(method, 1, b"body")]
        ok_response(api)  # a fresh connection answers its first request


def test_a_post_whose_head_never_left_is_retried_on_a_fresh_connection(raw) -> None:
    """The `not sent` half of the retry rule, in-process with real sockets: a pooled connection
    that cannot send (its write side is shut, unseen by the pool's liveness check) fails on the
    very first write, so even a POST may go again, and reaches the app exactly once."""
    from lwa.app import App
    from lwa.config import load_config
    from lwa.model import AppRequest

    raw.handler = raw_app.answer_then_hold()
    pool = App(load_config({"AWS_LWA_PORT": str(raw.port)}))
    try:
        assert pool.send(AppRequest("GET", "/warm", (("host", "app"),)), time.monotonic() + 5).status == 200
        conn = pool._get()
        assert conn.sock is not None, "the warm connection is pooled"
        conn.sock.shutdown(socket.SHUT_WR)
        pool.put(conn)
        resp = pool.send(AppRequest("POST", "/once", (("host", "app"),), b"body"), time.monotonic() + 5)
        assert resp.status == 200 and resp.body == b"ok /once"
        posts = raw.requests(lambda r: r.method == "POST")
        assert [(r.index, r.body) for r in posts] == [(0, b"body")]
        assert posts[0].conn_id != raw.requests()[0].conn_id
    finally:
        pool.close()


def test_reset_mid_response_is_truncated_and_the_loop_goes_on(api, app, start) -> None:
    start(api, app.port)
    for chunked in (False, True):
        app.handler = apps.reset_mid_response(5000, chunked=chunked)
        marker = uuid.uuid4().hex
        rid = api.push(v2_event("GET", "/dl", marker=marker))
        err = error_of(one_outcome(api, rid))
        assert err["errorType"] == "AppResponseTruncated", err
        assert len(marked(app.requests, marker)) == 1  # response bytes were read: no retry
        app.handler = apps.echo
        ok_response(api)


def test_hang_past_the_deadline_is_app_timeout_posted_before_the_deadline(api, app, start) -> None:
    start(api, app.port)
    app.handler = apps.hang()
    deadline_ms = int(time.time() * 1000) + 1500
    rid = api.push(v2_event("GET", "/hang"), deadline_ms=deadline_ms)
    result = one_outcome(api, rid, timeout=5)
    err = error_of(result)
    assert err["errorType"] == "AppTimeout", err
    posted = wall(result.received_at)
    assert posted < deadline_ms / 1000.0, f"posted {posted - deadline_ms / 1000.0:+.3f}s after the deadline"
    assert posted > deadline_ms / 1000.0 - 1.0  # it did wait for the app, not give up at once
    app.handler = apps.echo
    ok_response(api)


def test_deadline_margin_is_configurable(api, app, start) -> None:
    start(api, app.port, AWS_LWA_DEADLINE_MARGIN_MS="600")
    app.handler = apps.hang()
    deadline_ms = int(time.time() * 1000) + 1500
    rid = api.push(v2_event("GET", "/hang"), deadline_ms=deadline_ms)
    result = one_outcome(api, rid, timeout=5)
    assert error_of(result)["errorType"] == "AppTimeout"
    assert wall(result.received_at) < deadline_ms / 1000.0 - 0.4  # 600 ms margin, 200 ms slack


@pytest.mark.parametrize("fault", ["drip", "stall_reading"])
def test_slow_app_is_cut_at_the_deadline(api, raw, fault, start) -> None:
    """A body that trickles in, or an app that never reads a 4 MB upload: the deadline still holds."""
    start(api, raw.port)
    raw.handler = raw_app.drip(200, 0.05) if fault == "drip" else raw_app.stall_reading()
    deadline_ms = int(time.time() * 1000) + 1500
    body = b"z" * (4 << 20) if fault == "stall_reading" else None
    rid = api.push(v2_event("POST", "/slow", body=body), deadline_ms=deadline_ms)
    result = one_outcome(api, rid, timeout=5)
    assert error_of(result)["errorType"] == "AppTimeout"
    assert wall(result.received_at) < deadline_ms / 1000.0
    raw.handler = raw_app.ok
    ok_response(api)


def test_deadline_already_past_fails_without_calling_the_app(api, app, start) -> None:
    start(api, app.port)
    marker = uuid.uuid4().hex
    rid = api.push(v2_event("GET", "/late", marker=marker), deadline_ms=int(time.time() * 1000) + 50)
    assert error_of(one_outcome(api, rid))["errorType"] == "AppTimeout"
    assert marked(app.requests, marker) == []
    ok_response(api)


MALFORMED = {
    "status_not_a_number": (b"HTTP/1.1 abc\r\n\r\n", "AppResponseInvalid"),
    "not_http": (b"garbage garbage\r\n\r\n", "AppResponseInvalid"),
    "empty_then_close": (b"", "AppConnectionError"),
    "head_cut_off": (b"HTTP/1.1 200 OK\r\nContent-Type: text/pl", "AppResponseTruncated"),
    "status_line_then_close": (b"HTTP/1.1 200 OK\r\n", "AppResponseTruncated"),
    "status_line_too_long": (b"HTTP/1.1 200 " + b"O" * 70000 + b"\r\n\r\n", "AppResponseInvalid"),
    "header_line_too_long": (b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", "AppResponseInvalid"),
    "head_too_large": (b"HTTP/1.1 200 OK\r\n" + b"X-H: " + b"v" * 1000 + b"\r\n" * 1
                       + (b"X-H: " + b"v" * 1000 + b"\r\n") * 300, "AppResponseInvalid"),
    "header_without_colon": (b"HTTP/1.1 200 OK\r\nBroken header line\r\nContent-Length: 2\r\n\r\nhi",
                             "AppResponseInvalid"),
    "body_shorter_than_content_length": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly this", "AppResponseTruncated"),
    "bad_chunk_size": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "AppResponseInvalid"),
    "chunked_cut_off": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "AppResponseTruncated"),
    "conflicting_content_lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!", "AppResponseInvalid"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_app_response(api, raw, name, start) -> None:
    payload, error_type = MALFORMED[name]
    start(api, raw.port)
    raw.handler = raw_app.raw_answer(payload)
    marker = uuid.uuid4().hex
    rid = api.push(v2_event("GET", "/bad", marker=marker))
    err = error_of(one_outcome(api, rid))
    assert err["errorType"] == error_type, err
    assert len(marked(raw.requests(), marker)) == 1
    raw.handler = raw_app.ok
    ok_response(api)


@pytest.mark.parametrize("name,payload,status", [
    ("interim_100_then_answer", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200),
    ("no_length_read_to_close", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", 200),
    ("many_headers", b"HTTP/1.1 200 OK\r\n" + b"X-H: v\r\n" * 150 + b"Content-Length: 2\r\n\r\nhi", 200),
    ("unknown_status", b"HTTP/1.1 599 Whatever\r\nContent-Length: 2\r\n\r\nhi", 599),
    ("non_utf8_header_value", b"HTTP/1.1 200 OK\r\nX-Bin: \xff\xfe\x80\r\nContent-Length: 2\r\n\r\nhi", 200),
])
def test_odd_but_parseable_app_responses_are_answered(api, raw, name, payload, status, start) -> None:
    start(api, raw.port)
    raw.handler = raw_app.raw_answer(payload)
    rid = api.push(v2_event("GET", "/odd"))
    result = one_outcome(api, rid)
    assert result.kind == "response", result.body[:300]
    assert result.json()["statusCode"] == status
    raw.handler = raw_app.ok
    ok_response(api)


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
def test_app_restart_between_invocations_never_duplicates(api, app, rst, start) -> None:
    """Every pooled connection goes stale between invocations; the next ones (POST first or GET
    first) still work, and the app gets each POST exactly once."""
    start(api, app.port, AWS_LAMBDA_MAX_CONCURRENCY="2", polling=2)
    for round_ in range(4):
        for method in (("POST", "GET") if round_ % 2 else ("GET", "POST")):
            marker = uuid.uuid4().hex
            rid = api.push(v2_event(method, "/r", body=b"data" if method == "POST" else None, marker=marker))
            result = one_outcome(api, rid)
            assert result.kind == "response", result.body[:300]
            seen = marked(app.requests, marker)
            # a GET may be retried once if the close raced the pool's check; a POST never is
            assert 1 <= len(seen) <= (2 if method == "GET" else 1), [(s.method, s.conn_id) for s in seen]
        app.restart(rst=rst)
        time.sleep(0.05)  # a real restart takes far longer than it takes the kernel to deliver the FIN/RST


# ---- faults in the Runtime API -----------------------------------------------------------------

@pytest.mark.parametrize("fault", [("status", 500, "boom"), ("reset",), ("status", 429, "slow down")])
def test_next_failures_are_retried_with_backoff(api, app, fault, start) -> None:
    start(api, app.port)
    api.inject("next", fault, times=5)
    t0 = time.monotonic()
    # the blocked poll ends, the injected faults are consumed one per retry, then it blocks again
    rid = api.push(v2_event())
    first = api.wait_result(rid, WAIT_S)
    assert first.kind == "response"
    api.wait_polling(1)
    nexts = [c for c in api.calls if c[2].endswith("/invocation/next") and c[0] >= t0]
    assert len(nexts) >= 5
    # backoff 10, 20, 40, 80, 160 ms between the five failures: never a hot loop
    gaps = [b[0] - a[0] for a, b in zip(nexts, nexts[1:])][:5]
    assert sum(gaps) >= 0.1, gaps
    ok_response(api)


def test_next_fault_storm_is_bounded(api, app, start) -> None:
    """A Runtime API failing every poll is asked at most a few times a second (backoff up to 1 s)."""
    start(api, app.port)
    ok_response(api)
    api.inject("next", ("status", 500, "down"), times=1000)
    api.push(v2_event())  # ends the blocked poll; every later poll fails
    time.sleep(2.0)
    polls = [c for c in api.calls if c[2].endswith("/invocation/next")]
    assert len(polls) < 20, len(polls)


def test_slow_next_and_slow_posts_are_waited_for(api, app, start) -> None:
    start(api, app.port)
    api.inject("response", ("delay", 0.5))
    api.inject("error", ("delay", 0.5))
    rid = api.push(v2_event())
    assert one_outcome(api, rid).kind == "response"
    app.handler = apps.reset_before_response()
    rid = api.push(v2_event())
    assert error_of(one_outcome(api, rid))["errorType"] == "AppConnectionError"
    app.handler = apps.echo
    api.inject("next", ("delay", 0.5))
    ok_response(api)  # served by the poll already waiting
    ok_response(api)  # served by the slow one


@pytest.mark.parametrize("endpoint", ["response", "error"])
@pytest.mark.parametrize("fault", [("status", 500, "oops"), ("status", 502, ""), ("reset",)])
def test_one_failed_post_is_retried_and_accepted_once(api, app, endpoint, fault, start) -> None:
    start(api, app.port)
    ok_response(api)
    if endpoint == "error":
        app.handler = apps.reset_before_response()
    api.inject(endpoint, fault)
    rid = api.push(v2_event("POST", "/p", body=b"x"))
    result = one_outcome(api, rid)
    assert result.kind == endpoint
    rejected = [r for r in api.results_for(rid) if r.rejected]
    assert len(rejected) == 1
    app.handler = apps.echo
    ok_response(api)


@pytest.mark.parametrize("fault", [("status", 500, "down"), ("reset",)])
def test_a_response_that_can_never_be_delivered_is_logged_and_the_loop_goes_on(api, app, fault, start) -> None:
    """Every bounded retry of the /response post fails: lwa logs it, posts nothing else for that id,
    and keeps polling (a leftover injected fault is absorbed by the next invocation's retry)."""
    lwa = start(api, app.port)
    api.inject("response", fault, times=4)
    rid = api.push(v2_event())
    deadline = time.monotonic() + WAIT_S
    while len(api.results_for(rid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    api.wait_polling(1)
    ok_response(api)
    attempts = api.results_for(rid)
    assert 3 <= len(attempts) <= 4 and all(r.rejected for r in attempts)
    assert outcomes(api, rid) == []
    lwa.wait_log("could not deliver the response")


def test_response_refused_for_size_becomes_a_response_too_large_error(api, app, start) -> None:
    start(api, app.port)
    api.inject("response", ("status", 413, {"errorMessage": "Exceeded maximum allowed payload size",
                                            "errorType": "RequestEntityTooLarge"}))
    rid = api.push(v2_event())
    err = error_of(one_outcome(api, rid))
    assert err["errorType"] == "ResponseTooLarge"
    assert "AWS_LWA_INVOKE_MODE=response_stream" in err["errorMessage"]
    ok_response(api)


@pytest.mark.parametrize("status,error_type", [(400, "InvalidRequestID"), (403, "InvalidStateTransition")])
def test_response_refused_with_another_4xx_is_logged_not_followed_by_an_error_post(
        api, app, status, error_type, start) -> None:
    """400/403 mean the Runtime API holds no slot for another post for that id: say so, go on."""
    lwa = start(api, app.port)
    api.inject("response", ("status", status, {"errorType": error_type, "errorMessage": "refused"}))
    rid = api.push(v2_event())
    line = lwa.wait_log("could not deliver the response")
    assert str(status) in line and error_type in line
    ok_response(api)
    assert [r.kind for r in api.results_for(rid)] == ["response"]
    assert not [c for c in api.calls if c[2].endswith(f"/{rid}/error")]


@pytest.mark.parametrize("size,content_type", [
    (7 << 20, "text/plain"),              # over 6 MB of text
    (5 << 20, "application/octet-stream"),  # 5 MB of binary: over 6 MB once base64-encoded
])
def test_buffered_response_over_6mb_is_response_too_large(api, app, size, content_type, start) -> None:
    body = b"a" * size

    def big(seen, w) -> None:
        w.respond(200, [("Content-Type", content_type)], body)

    lwa = start(api, app.port)
    app.handler = big
    rid = api.push(v2_event("GET", "/big"))
    err = error_of(one_outcome(api, rid, timeout=20))
    assert err["errorType"] == "ResponseTooLarge"
    assert "AWS_LWA_INVOKE_MODE=response_stream" in err["errorMessage"]
    app.handler = apps.echo
    ok_response(api)
    assert lwa.proc.poll() is None


def test_mixed_faults_under_concurrency_each_get_their_own_outcome(api, app, start) -> None:
    """Four slots, a shuffled mix of healthy, hanging, resetting and truncating requests."""
    app.handler = apps.routes({
        "/hang": apps.hang(),
        "/reset": apps.reset_before_response(),
        "/trunc": apps.reset_mid_response(3000),
        "/malformed": apps.malformed(),
    })
    expected = {"/ok": "response", "/hang": "AppTimeout", "/reset": "AppConnectionError",
                "/trunc": "AppResponseTruncated", "/malformed": "AppResponseInvalid"}
    kinds = ["/ok"] * 24 + ["/hang"] * 4 + ["/reset"] * 4 + ["/trunc"] * 4 + ["/malformed"] * 4
    random.Random(7).shuffle(kinds)
    start(api, app.port, AWS_LAMBDA_MAX_CONCURRENCY="4", polling=4)
    pushed = []
    for path in kinds:
        marker = uuid.uuid4().hex
        deadline = int(time.time() * 1000) + (1500 if path == "/hang" else 20000)
        method = "POST" if path in ("/ok", "/trunc") else "GET"
        rid = api.push(v2_event(method, path, body=marker.encode() if method == "POST" else None, marker=marker),
                       deadline_ms=deadline)
        pushed.append((rid, path, marker))
    for rid, path, marker in pushed:
        result = one_outcome(api, rid, timeout=20)
        if expected[path] == "response":
            assert result.kind == "response", (path, result.body[:200])
            echoed = json.loads(result.json()["body"])
            assert echoed["query"] == f"m={marker}"
            assert base64.b64decode(echoed["body_base64"]) == marker.encode()
        else:
            assert error_of(result)["errorType"] == expected[path], (path, result.body[:200])
    for _rid, path, marker in pushed:
        if path in ("/ok", "/trunc"):  # POSTs: exactly once
            assert len(marked(app.requests, marker)) == 1, path
    ok_response(api)


def test_a_bound_but_not_listening_port_refuses_connections() -> None:
    """The reserved-port trick of the first test relies on this."""
    s = listen_socket(0, listen=False)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.getsockname()[1]), timeout=2).close()
    finally:
        s.close()
