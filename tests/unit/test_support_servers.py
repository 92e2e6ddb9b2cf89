"""The test servers speak correct HTTP: checked with http.client, urllib3 and raw sockets."""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
import urllib3

from tests.support import apps
from tests.support.apps import AppServer
from tests.support.runtime_api import MAX_RESPONSE_BYTES, RuntimeApiServer

RT = "/2018-06-01/runtime"
EXT = "/2020-01-01/extension"
ROOT = Path(__file__).resolve().parents[2]


_open: list[http.client.HTTPConnection | socket.socket] = []


@pytest.fixture(autouse=True)
def _close_clients():
    """Close every client connection a test opened, so sockets never outlive their test."""
    yield
    while _open:
        _open.pop().close()


def connect(port: int, timeout: float = 5.0) -> http.client.HTTPConnection:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    _open.append(c)
    return c


def raw_connect(port: int, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    _open.append(s)
    return s


def call(c: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r, r.read()


def next_invocation(api: RuntimeApiServer) -> str:
    r, _ = call(connect(api.port), "GET", f"{RT}/invocation/next")
    assert r.status == 200
    return r.getheader("Lambda-Runtime-Aws-Request-Id")


def in_thread(fn) -> tuple[threading.Thread, dict]:
    """Run fn in a thread; the dict gets 'value' or 'error'."""
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


# ---- Runtime API ------------------------------------------------------------------------------

def test_push_next_response_round_trip_on_one_keep_alive_connection() -> None:
    with RuntimeApiServer(deadline_s=5) as api:
        rid = api.push({"a": 1}, trace_id="Root=1-abc", client_context='{"custom":{"k":"v"}}',
                       cognito_identity='{"identityId":"i","identityPoolId":"p"}',
                       tenant_id="t-1", invocation_id="inv-1", extra_headers={"X-Extra": "x"})
        c = connect(api.port)
        r, body = call(c, "GET", f"{RT}/invocation/next")
        assert r.status == 200 and json.loads(body) == {"a": 1}
        assert r.getheader("Content-Type") == "application/json"
        assert r.getheader("Lambda-Runtime-Aws-Request-Id") == rid
        assert 4000 < int(r.getheader("Lambda-Runtime-Deadline-Ms")) - time.time() * 1000 <= 5000
        assert r.getheader("Lambda-Runtime-Invoked-Function-Arn") == \
            "arn:aws:lambda:us-east-1:123456789012:function:fn"
        assert r.getheader("Lambda-Runtime-Trace-Id") == "Root=1-abc"
        assert r.getheader("Lambda-Runtime-Client-Context") == '{"custom":{"k":"v"}}'
        assert r.getheader("Lambda-Runtime-Cognito-Identity") == \
            '{"identityId":"i","identityPoolId":"p"}'
        assert r.getheader("Lambda-Runtime-Aws-Tenant-Id") == "t-1"
        assert r.getheader("Lambda-Runtime-Invocation-Id") == "inv-1"
        assert r.getheader("X-Extra") == "x"

        r, body = call(c, "POST", f"{RT}/invocation/{rid}/response", b'{"statusCode":200}')
        assert (r.status, json.loads(body)) == (202, {"status": "OK"})
        res = api.wait_result(rid)
        assert (res.kind, res.request_id, res.status_sent) == ("response", rid, 202)
        assert res.json() == {"statusCode": 200} and res.chunks == [] and not res.aborted
        assert res.received_at >= res.started_at
        assert [(m, p) for _, m, p, _ in api.calls] == [
            ("GET", f"{RT}/invocation/next"), ("POST", f"{RT}/invocation/{rid}/response")]
        assert api.served[rid][1]["lambda-runtime-aws-request-id"] == rid


def test_default_event_encodings_and_fifo_order() -> None:
    with RuntimeApiServer() as api:
        ids = [api.push(b"\x00raw"), api.push("text"), api.push([1, 2])]
        c = connect(api.port)
        got = []
        for _ in ids:
            r, body = call(c, "GET", f"{RT}/invocation/next")
            got.append((r.getheader("Lambda-Runtime-Aws-Request-Id"), body))
        assert got == list(zip(ids, [b"\x00raw", b"text", b"[1, 2]"]))
        assert api.pending == 0


def test_concurrent_pollers_each_get_one_event() -> None:
    with RuntimeApiServer() as api:
        polls = [in_thread(lambda: call(connect(api.port), "GET", f"{RT}/invocation/next"))
                 for _ in range(3)]
        api.wait_polling(3)
        ids = {api.push({"i": i}) for i in range(3)}
        for t, _ in polls:
            t.join(5)
        got = {out["value"][0].getheader("Lambda-Runtime-Aws-Request-Id") for _, out in polls}
        assert got == ids
        with pytest.raises(AssertionError, match="timed out"):
            api.wait_result(next(iter(ids)), timeout=0.05)


def _chunked_post_head(port: int, rid: str) -> bytes:
    return (f"POST {RT}/invocation/{rid}/response HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Type\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Body\r\n"
            "Content-Type: application/vnd.awslambda.http-integration-response\r\n\r\n").encode()


def test_streamed_response_records_each_chunk_live_with_trailers() -> None:
    with RuntimeApiServer() as api:
        rid = api.push({})
        assert next_invocation(api) == rid
        prelude = b'{"statusCode":200,"headers":{"content-type":"text/plain"},"cookies":[]}'
        parts = [prelude + b"\x00" * 8, b"hello ", b"world"]
        s = raw_connect(api.port)
        with s:
            s.sendall(_chunked_post_head(api.port, rid))
            for i, part in enumerate(parts):
                sent = time.monotonic()
                s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                live = api.wait_chunks(rid, i + 1, timeout=5)  # seen before the next is written
                assert live.received_at is None and live.chunks[i] == (live.chunks[i][0], part)
                assert live.chunks[i][0] >= sent
            s.sendall(b"0\r\nLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n"
                      b"Lambda-Runtime-Function-Error-Body: eyJ4IjoxfQ==\r\n\r\n")
            r = http.client.HTTPResponse(s)
            r.begin()
            assert r.status == 202 and json.loads(r.read()) == {"status": "OK"}
        res = api.wait_result(rid)
        assert res.kind == "stream" and res.status_sent == 202
        assert [c for _, c in res.chunks] == parts
        times = [t for t, _ in res.chunks]
        assert times == sorted(times) and res.received_at >= times[-1]
        assert res.body == b"".join(parts)
        assert res.prelude == {"statusCode": 200, "headers": {"content-type": "text/plain"},
                               "cookies": []}
        assert res.stream_body == b"hello world"
        assert res.trailers == {"lambda-runtime-function-error-type": "Runtime.StreamError",
                                "lambda-runtime-function-error-body": "eyJ4IjoxfQ=="}
        assert res.error_type == "Runtime.StreamError"
        assert [v for n, v in res.raw_headers if n == "trailer"] == [
            b"Lambda-Runtime-Function-Error-Type", b"Lambda-Runtime-Function-Error-Body"]


def test_stream_cut_off_by_the_client_is_recorded_as_aborted() -> None:
    with RuntimeApiServer() as api:
        rid = api.push({})
        next_invocation(api)
        with raw_connect(api.port) as s:
            s.sendall(_chunked_post_head(api.port, rid) + b"3\r\nabc\r\n")
            api.wait_chunks(rid, 1)
        res = api.wait_result(rid)
        assert res.aborted and res.status_sent is None and [c for _, c in res.chunks] == [b"abc"]


def test_buffered_response_over_6mb_gets_413_and_is_still_recorded() -> None:
    with RuntimeApiServer() as api:
        big, exact = api.push({}), api.push({})
        pool = urllib3.HTTPConnectionPool("127.0.0.1", api.port, timeout=10, retries=False)
        try:
            for rid, size, status in [(big, MAX_RESPONSE_BYTES + 1, 413),
                                      (exact, MAX_RESPONSE_BYTES, 202)]:
                assert pool.request("GET", f"{RT}/invocation/next").headers[
                    "Lambda-Runtime-Aws-Request-Id"] == rid
                r = pool.request("POST", f"{RT}/invocation/{rid}/response", body=b"x" * size)
                assert r.status == status
                res = api.wait_result(rid)
                assert (res.kind, res.status_sent, len(res.body)) == ("response", status, size)
            assert r.json() == {"status": "OK"}
            assert api.results_for(big)[0].status_sent == 413
            r = pool.request("POST", f"{RT}/invocation/{big}/error", body=b"{}")
            assert r.status == 403  # like RIE: the 413 ended the invocation
        finally:
            pool.close()
        assert api.wait_result(big).status_sent == 413


def test_too_large_body_text_matches_lambda() -> None:
    with RuntimeApiServer() as api:
        rid = api.push({})
        next_invocation(api)
        r, body = call(connect(api.port), "POST", f"{RT}/invocation/{rid}/response",
                       b"y" * (MAX_RESPONSE_BYTES + 1))
        assert r.status == 413 and json.loads(body) == {
            "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "RequestEntityTooLarge"}


def test_second_post_for_an_id_is_recorded_and_rejected() -> None:
    with RuntimeApiServer() as api:
        rid, unserved = api.push({}), api.push({})
        c = connect(api.port)
        r, _ = call(c, "GET", f"{RT}/invocation/next")
        assert r.getheader("Lambda-Runtime-Aws-Request-Id") == rid
        statuses = []
        for kind, body in [("response", b"1"), ("response", b"2"), ("error", b"3")]:
            r, payload = call(c, "POST", f"{RT}/invocation/{rid}/{kind}", body,
                              {"Lambda-Runtime-Function-Error-Type": "unhandled"})
            statuses.append(r.status)
        assert statuses == [202, 403, 403]
        assert json.loads(payload)["errorType"] == "InvalidStateTransition"
        results = api.results_for(rid)
        assert [(x.kind, x.body, x.status_sent) for x in results] == [
            ("response", b"1", 202), ("response", b"2", 403), ("error", b"3", 403)]
        assert results[2].headers["lambda-runtime-function-error-type"] == "unhandled"
        assert api.wait_result(rid).body == b"1"
        for bad in ("nope", unserved):  # unknown, or pushed but never handed out
            r, payload = call(c, "POST", f"{RT}/invocation/{bad}/response", b"{}")
            assert (r.status, json.loads(payload)) == (
                400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
            assert [x.status_sent for x in api.results_for(bad)] == [400]


def test_error_post_kind_and_header() -> None:
    with RuntimeApiServer() as api:
        rid = api.push({})
        next_invocation(api)
        r, _ = call(connect(api.port), "POST", f"{RT}/invocation/{rid}/error",
                    b'{"errorType":"AppTimeout","errorMessage":"m"}',
                    {"Lambda-Runtime-Function-Error-Type": "unhandled"})
        assert r.status == 202
        res = api.wait_result(rid)
        assert res.kind == "error" and res.error_type == "unhandled"
        assert res.json()["errorType"] == "AppTimeout"


def test_fault_status_on_next_keeps_the_event_queued() -> None:
    with RuntimeApiServer() as api:
        api.inject("next", ("status", 500, {"errorMessage": "boom"}))
        rid = api.push({"n": 1})
        c = connect(api.port)
        r, body = call(c, "GET", f"{RT}/invocation/next")
        assert (r.status, json.loads(body)) == (500, {"errorMessage": "boom"})
        r, body = call(c, "GET", f"{RT}/invocation/next")  # same connection still usable
        assert r.status == 200 and r.getheader("Lambda-Runtime-Aws-Request-Id") == rid


def test_fault_reset_on_response_then_retry_succeeds() -> None:
    with RuntimeApiServer() as api:
        api.inject("response", ("reset",))
        rid = api.push({})
        next_invocation(api)
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            call(connect(api.port), "POST", f"{RT}/invocation/{rid}/response", b"{}")
        r, _ = call(connect(api.port), "POST", f"{RT}/invocation/{rid}/response", b"{}")
        assert r.status == 202
        first, second = api.results_for(rid)
        assert first.rejected and first.fault == ("reset",) and first.status_sent is None
        assert api.wait_result(rid) is second and second.status_sent == 202


def test_fault_delay_and_multiple_times() -> None:
    with RuntimeApiServer() as api:
        api.inject("error", ("delay", 0.3))
        api.inject("init_error", ("status", 503, "busy"), times=2)
        rid = api.push({})
        next_invocation(api)
        t0 = time.monotonic()
        r, _ = call(connect(api.port), "POST", f"{RT}/invocation/{rid}/error", b"{}")
        assert r.status == 202 and time.monotonic() - t0 >= 0.3
        res = api.wait_result(rid)
        assert res.fault == ("delay", 0.3) and res.answered_at - res.received_at >= 0.3
        c = connect(api.port)
        codes = [call(c, "POST", f"{RT}/init/error", b"{}")[0].status for _ in range(3)]
        assert codes == [503, 503, 202]
        assert [e.status_sent for e in api.init_errors] == [503, 503, 202]
        with pytest.raises(ValueError):
            api.inject("nowhere", ("reset",))


def test_extension_register_event_next_and_shutdown() -> None:
    with RuntimeApiServer() as api:
        c = connect(api.port)
        r, body = call(c, "POST", f"{EXT}/register", b'{ "events": [] }',
                       {"Lambda-Extension-Name": "lambda-adapter"})
        ident = r.getheader("Lambda-Extension-Identifier")
        assert r.status == 200 and ident
        assert json.loads(body) == {"functionName": "fn", "functionVersion": "$LATEST",
                                    "handler": "run.sh"}
        reg = api.wait_registration(1)[0]
        assert (reg["name"], reg["body"], reg["raw_body"]) == (
            "lambda-adapter", {"events": []}, b'{ "events": [] }')

        r, body = call(c, "GET", f"{EXT}/event/next",
                       headers={"Lambda-Extension-Identifier": "bogus"})
        assert r.status == 403
        assert json.loads(body)["errorType"] == "Extension.InvalidExtensionIdentifier"
        r, _ = call(c, "POST", f"{EXT}/register", b"not json", {"Lambda-Extension-Name": "x"})
        assert r.status == 403 and len(api.registrations) == 2

        t, out = in_thread(lambda: call(connect(api.port), "GET", f"{EXT}/event/next",
                                        headers={"Lambda-Extension-Identifier": ident}))
        api.wait_extension_polling(1)
        time.sleep(0.05)
        assert t.is_alive()
        api.shutdown_extension("spindown", deadline_ms=123)
        t.join(5)
        r, body = out["value"]
        assert r.status == 200 and r.getheader("Lambda-Extension-Event-Identifier")
        assert json.loads(body) == {"eventType": "SHUTDOWN", "shutdownReason": "spindown",
                                    "deadlineMs": 123}


def test_register_fault() -> None:
    with RuntimeApiServer() as api:
        api.inject("register", ("status", 500, b""))
        r, _ = call(connect(api.port), "POST", f"{EXT}/register", b'{"events":[]}',
                    {"Lambda-Extension-Name": "lambda-adapter"})
        assert r.status == 500 and r.getheader("Lambda-Extension-Identifier") is None


def test_restore_next_holds_until_released_and_errors_are_recorded() -> None:
    with RuntimeApiServer() as api:
        r, body = call(connect(api.port), "GET", f"{RT}/restore/next")
        assert (r.status, body) == (200, b"")  # not held: answers at once
        api.hold_restore()
        t, out = in_thread(lambda: call(connect(api.port), "GET", f"{RT}/restore/next"))
        api.wait_calls("GET", f"{RT}/restore/next", n=2)
        time.sleep(0.15)
        assert t.is_alive()
        api.release_restore()
        t.join(5)
        assert out["value"][0].status == 200
        r, _ = call(connect(api.port), "POST", f"{RT}/restore/error", b'{"errorType":"x"}',
                    {"Lambda-Runtime-Function-Error-Type": "Runtime.AfterRestoreError"})
        assert r.status == 202
        (res,) = api.restore_errors
        assert res.kind == "restore_error" and res.error_type == "Runtime.AfterRestoreError"


def test_stop_releases_blocked_next_and_unknown_path_is_404() -> None:
    api = RuntimeApiServer()
    with api:
        r, body = call(connect(api.port), "GET", "/2018-06-01/nothing")
        assert (r.status, body) == (404, b"404 page not found\n")
        r, _ = call(connect(api.port), "POST", f"{RT}/invocation/next")
        assert r.status == 405
        t, out = in_thread(lambda: call(connect(api.port), "GET", f"{RT}/invocation/next"))
        api.wait_polling(1)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 2
    t.join(5)
    assert isinstance(out.get("error"), (ConnectionError, http.client.HTTPException))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", api.port), timeout=1)


def test_next_poller_that_hangs_up_does_not_swallow_the_event() -> None:
    with RuntimeApiServer() as api:
        s = raw_connect(api.port)
        s.sendall(f"GET {RT}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        api.wait_polling(1)
        s.close()
        deadline = time.monotonic() + 5
        while api.polling and time.monotonic() < deadline:
            time.sleep(0.01)
        assert api.polling == 0
        rid = api.push({})
        assert next_invocation(api) == rid


# ---- the app --------------------------------------------------------------------------------

def test_echo_over_keep_alive_shares_the_connection() -> None:
    with AppServer() as app:
        c = connect(app.port)
        # http.client sends str header values latin-1 encoded: b"caf\xe9" on the wire
        r1, b1 = call(c, "GET", "/a/b?x=1&y=%20", headers={"X-Test": "café"})
        r2, b2 = call(c, "POST", "/p", b"\x00\xffbin", {"Content-Type": "application/x"})
        assert r1.status == r2.status == 200
        e1, e2 = json.loads(b1), json.loads(b2)
        assert (e1["method"], e1["target"], e1["path"], e1["query"]) == (
            "GET", "/a/b?x=1&y=%20", "/a/b", "x=1&y=%20")
        assert ["x-test", "café"] in e1["headers"]
        assert base64.b64decode(e2["body_base64"]) == b"\x00\xffbin"
        s1, s2 = app.wait_requests(2)
        assert s1.conn_id == s2.conn_id and s1.client_port == s2.client_port == e1["client_port"]
        assert s1.client_port == c.sock.getsockname()[1]
        assert s1.header("x-test") == "café" and s1.headers[-1] == ("x-test", b"caf\xe9")
        assert s2.body == b"\x00\xffbin" and s2.header("content-length") == "5"
        call(connect(app.port), "GET", "/other")
        assert app.wait_requests(3)[2].conn_id != s1.conn_id


def _raw_exchange(port: int, data: bytes) -> tuple[http.client.HTTPResponse, bytes]:
    s = raw_connect(port)
    with s:
        s.sendall(data)
        r = http.client.HTTPResponse(s)
        r.begin()
        return r, r.read()


def test_duplicate_request_headers_kept_raw_and_in_order() -> None:
    with AppServer() as app:
        r, _ = _raw_exchange(app.port, b"GET /dup HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"
                             b"X-B: \xc3\xa9\r\nx-a:  3 \r\nContent-Length: 0\r\n\r\n")
        assert r.status == 200
        (seen,) = app.wait_requests(1)
        assert seen.headers == [("host", b"x"), ("x-a", b"1"), ("x-b", b"\xc3\xa9"),
                                ("x-a", b"3"), ("content-length", b"0")]
        assert seen.header_all("X-A") == ["1", "3"] and seen.header("x-b") == "é"
        assert seen.header("missing") is None
        with pytest.raises(AssertionError):
            seen.header("x-a")


def test_chunked_request_body_with_trailers() -> None:
    with AppServer() as app:
        r, body = _raw_exchange(app.port, b"POST /c HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n"
                                b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: v\r\n\r\n")
        assert base64.b64decode(json.loads(body)["body_base64"]) == b"abcde"
        (seen,) = app.wait_requests(1)
        assert seen.body == b"abcde" and seen.trailers == [("x-t", b"v")]


def test_chunked_download_and_content_length_download() -> None:
    total = 1_000_003
    table = {"/chunked": apps.download(total, chunk=65536),
             "/plain": apps.download(total, chunked=False)}
    with AppServer(apps.routes(table)) as app:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", app.port, timeout=5, retries=False)
        try:
            r = pool.request("GET", "/chunked", preload_content=False)
            assert r.headers["Transfer-Encoding"] == "chunked"
            got = b"".join(r.read_chunked())
            assert len(got) == total and got == apps.pattern(0, total)
            assert app.requests[0].sent_at and sum(n for _, n in app.requests[0].sent_at) == total
            r = pool.request("GET", "/plain")
            assert r.headers["Content-Length"] == str(total) and r.data == apps.pattern(0, total)
            assert app.wait_requests(2)[1].conn_id == app.requests[0].conn_id  # pooled
        finally:
            pool.close()
    assert apps.pattern(250, 3) == bytes([250, 0, 1])


def test_sse_events_arrive_one_by_one() -> None:
    events = [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"]
    handler = apps.sse(events, 0.12)
    with AppServer(handler) as app:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", app.port, timeout=5, retries=False)
        try:
            r = pool.request("GET", "/events", preload_content=False)
            assert r.headers["Content-Type"] == "text/event-stream"
            arrivals = [(time.monotonic(), c) for c in r.read_chunked()]
        finally:
            pool.close()
    assert [c for _, c in arrivals] == events
    written = cast(Any, handler).events_at
    assert [e for _, e in written] == events
    for i in range(len(events) - 1):
        assert arrivals[i][0] < written[i + 1][0]  # the client had event i before i+1 existed
        assert written[i + 1][0] - written[i][0] >= 0.1


def test_restart_makes_an_old_keep_alive_socket_stale() -> None:
    req = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"
    with AppServer() as app:
        for rst in (False, True):
            s = raw_connect(app.port)
            s.sendall(req)
            r = http.client.HTTPResponse(s)
            r.begin()
            r.read()
            old_conn = app.requests[-1].conn_id
            app.restart(rst=rst)
            try:  # the pooled socket is dead: EOF (FIN) or reset (RST), never an answer
                s.sendall(req)
                assert s.recv(100) == b""
            except ConnectionError:
                pass
            finally:
                s.close()
            r, _ = call(connect(app.port), "GET", "/after")
            assert r.status == 200 and app.requests[-1].conn_id != old_conn


def test_not_listening_until_ready_then_health_status() -> None:
    t0 = time.monotonic()
    with AppServer(ready_after_s=0.3, health_status=503) as app:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", app.port), timeout=1)
        app.wait_ready(3)
        assert app.ready_at - t0 >= 0.3
        r, _ = call(connect(app.port), "GET", "/healthz")
        assert r.status == 503
        assert len(app.health_checks) == 1 and app.requests == []


def test_misbehaving_handlers() -> None:
    table = {"/reset": apps.reset_before_response(), "/malformed": apps.malformed(),
             "/mid": apps.reset_mid_response(1000), "/hang": apps.hang(),
             "/fixed": apps.fixed(418, [("X-Y", "z")], "teapot"), "/slow": apps.sleep(0.2)}
    with AppServer(apps.routes(table)) as app:
        r, body = call(connect(app.port), "GET", "/fixed")
        assert (r.status, r.getheader("X-Y"), body) == (418, "z", b"teapot")
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            call(connect(app.port), "GET", "/reset")
        with pytest.raises(http.client.BadStatusLine):
            call(connect(app.port), "GET", "/malformed")
        c = connect(app.port)
        c.request("GET", "/mid")
        r = c.getresponse()
        assert r.status == 200
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            r.read()
        t0 = time.monotonic()
        r, _ = call(connect(app.port), "GET", "/slow")
        assert r.status == 200 and time.monotonic() - t0 >= 0.2
        with pytest.raises(TimeoutError):
            call(connect(app.port, timeout=0.3), "GET", "/hang")
        r, body = call(connect(app.port), "GET", "/anything")  # default route: echo
        assert json.loads(body)["path"] == "/anything"
        assert app.handler_errors == []
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 1.5


def test_app_runs_as_a_process_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "sigterm"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "tests.support.apps", "--port", "0",
                          "--handler", "echo", "--sigterm-file", str(marker)],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 10)
        assert ready, "app process did not print READY"
        word, port = p.stdout.readline().split()
        assert word == "READY"
        r, body = call(connect(int(port)), "GET", "/ping")
        assert r.status == 200 and json.loads(body)["path"] == "/ping"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0, p.stderr.read()
        assert marker.read_text().startswith("SIGTERM ")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        p.stdout.close()
        p.stderr.close()
