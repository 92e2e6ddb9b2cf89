"""Every real HTTP event in tests/events through a real lwa process, buffered mode.

For each event the test derives what the app must receive (method, path, query, headers, body)
from the event itself, and checks what Lambda got back against the source's envelope shape.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, quote

import pytest

from tests.support.apps import AppServer, echo, fixed, routes
from tests.support.events import event_bytes, event_files, load_event, v2_event
from tests.support.process import Lwa, base_env
from tests.support.runtime_api import RuntimeApiServer

HTTP_EVENTS = event_files("v1", "v2", "alb")
DROPPED = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
           "proxy-connection", "expect", "x-amzn-trace-id", "x-amzn-request-context", "x-amzn-lambda-context",
           "x-amz-tenant-id"}


@pytest.fixture(scope="module")
def stack():
    """One Runtime API server, one echo app and one lwa process for the whole module."""
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        lwa = Lwa(base_env(runtime.address, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz"))
        try:
            runtime.wait_polling(1, timeout=15)
            yield runtime, app, lwa
        finally:
            code = lwa.stop()
            assert code == 0, lwa.output


def _kind(name: str) -> str:
    return {"apigw-v1": "v1", "apigw-v2": "v2", "function-url": "v2", "alb": "alb"}[name.split("/")[0]]


def _expected_path(event: dict, kind: str) -> str:
    raw = event.get("rawPath", "") if kind == "v2" else event.get("path", "")
    return quote(raw, safe="/%!$&'()*+,;=:@[]^`{|}~\"<>\\") or "/"


def _expected_headers(event: dict, kind: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if kind == "v2":
        for name, value in (event.get("headers") or {}).items():
            out.setdefault(name.lower(), []).append(value)
        if event.get("cookies"):
            out["cookie"] = ["; ".join(event["cookies"])]
    else:
        multi = event.get("multiValueHeaders") or {}
        for name, values in multi.items():
            out.setdefault(name.lower(), []).extend(values or [])
        for name, value in (event.get("headers") or {}).items():
            if name.lower() not in out:
                out[name.lower()] = [value]
    return {k: v for k, v in out.items() if k not in DROPPED}


def _expected_body(event: dict) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def _invalid_base64(event: dict) -> bool:
    if not event.get("isBase64Encoded") or not event.get("body"):
        return False
    try:
        base64.b64decode(event["body"], validate=True)
        return False
    except ValueError:
        return True


def _expected_query(event: dict, kind: str) -> list[tuple[str, str]]:
    """Decoded (key, value) pairs in event order."""
    if kind == "v2":
        return parse_qsl(event.get("rawQueryString", ""), keep_blank_values=True)
    multi = event.get("multiValueQueryStringParameters")
    pairs = [(k, v) for k, vs in multi.items() for v in vs] if multi else list(
        (event.get("queryStringParameters") or {}).items()
    )
    if kind == "alb":  # ALB keeps the client's encoding: the app decodes it once
        return [(k2, v2) for k, v in pairs for k2, v2 in parse_qsl(f"{k}={v}", keep_blank_values=True)]
    return pairs


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_every_http_event_reaches_the_app_and_comes_back(stack, name):
    runtime, app, _ = stack
    event = load_event(name)
    kind = _kind(name)
    before = len(app.requests)
    rid = runtime.push(event, trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    result = runtime.wait_result(rid, timeout=10)
    if _invalid_base64(event):
        # A real payload (powertools' noVersionAuth) marks a plain-text body as base64: a clear
        # InvalidEvent for this invocation, and nothing sent to the app (docs/behaviour.md, decision "errors", §9.21).
        assert result.kind == "error" and result.json()["errorType"] == "InvalidEvent", result.body
        assert "base64" in result.json()["errorMessage"]
        assert len(app.requests) == before
        return
    assert result.kind == "response", result.body
    assert len(app.requests) == before + 1
    seen = app.requests[-1]

    method = event["requestContext"]["http"]["method"] if kind == "v2" else event["httpMethod"]
    assert seen.method == (method or "GET")
    assert seen.path == _expected_path(event, kind)
    assert parse_qsl(seen.query, keep_blank_values=True) == _expected_query(event, kind)
    assert "?" not in seen.target or seen.query, "never a trailing ?"
    for header, values in _expected_headers(event, kind).items():
        if header == "cookie":  # several Cookie values travel as one header (RFC 6265 §5.4)
            values = ["; ".join(v.strip() for v in values)]
        assert seen.header_all(header) == [v.strip() for v in values], header
    assert seen.body == _expected_body(event)
    assert seen.header("content-length") == str(len(seen.body))
    assert json.loads(seen.header("x-amzn-request-context")) == event["requestContext"]
    context = json.loads(seen.header("x-amzn-lambda-context"))
    assert context["request_id"] == rid
    assert context["env_config"] == {"function_name": "fn", "memory": 128, "version": "$LATEST",
                                     "log_stream": "2026/11/25/[$LATEST]abc", "log_group": "/aws/lambda/fn"}
    assert seen.header("x-amzn-trace-id").startswith("Root=1-5759e988")
    if "host" not in _expected_headers(event, kind):
        assert seen.header("host") == f"127.0.0.1:{app.port}"

    envelope = result.json()
    assert envelope["statusCode"] == 200
    assert envelope["isBase64Encoded"] is False
    echoed = json.loads(envelope["body"])
    assert echoed["target"] == seen.target
    if kind == "v1":
        assert envelope["multiValueHeaders"]["content-type"] == ["application/json"]
        assert envelope["headers"]["content-type"] == "application/json"
    elif kind == "v2":
        assert envelope["headers"]["content-type"] == "application/json"
        assert envelope["cookies"] == []
    else:
        assert envelope["statusDescription"] == "200 OK"
        multi = isinstance(event.get("multiValueHeaders"), dict)
        assert ("multiValueHeaders" in envelope) is multi
        assert ("headers" in envelope) is not multi


def _one(runtime, event, **push):
    rid = runtime.push(event, **push)
    return runtime.wait_result(rid, timeout=10)


COOKIE_APP = routes({
    "/cookies": fixed(201, [("Content-Type", "text/plain"), ("Set-Cookie", "a=1; Path=/"),
                            ("Set-Cookie", "b=2; HttpOnly"), ("X-Multi", "x"), ("X-Multi", "y")], b"made"),
    "/png": fixed(200, [("Content-Type", "image/png")], bytes(range(256))),
    "/missing": fixed(404, [("Content-Type", "text/html")], b"<h1>nope</h1>"),
    "/boom": fixed(503, [("Content-Type", "text/plain")], b"busy"),
})


@pytest.fixture
def cookie_stack(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(COOKIE_APP) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz", AWS_LWA_ERROR_STATUS_CODES="500-504")
        runtime.wait_polling(1, timeout=15)
        yield runtime, app


def test_response_envelopes_keep_every_header_and_cookie(cookie_stack):
    runtime, _ = cookie_stack
    v2 = _one(runtime, v2_event("GET", "/cookies")).json()
    assert v2["statusCode"] == 201 and v2["body"] == "made"
    assert v2["cookies"] == ["a=1; Path=/", "b=2; HttpOnly"]
    assert v2["headers"]["x-multi"] == "x, y"
    assert "set-cookie" not in v2["headers"]

    v1_event = load_event("apigw-v1/rust-runtime__example-apigw-request.json")
    v1_event["path"] = "/cookies"
    v1 = _one(runtime, v1_event).json()
    assert v1["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
    assert v1["multiValueHeaders"]["x-multi"] == ["x", "y"]
    assert v1["headers"]["x-multi"] == "y"

    single = load_event("alb/rust-runtime__example-alb-lambda-target-request-headers-only.json")
    single["path"] = "/cookies"
    alb = _one(runtime, single).json()
    assert alb["statusDescription"] == "201 Created"
    assert "multiValueHeaders" not in alb
    cookie_values = sorted(v for k, v in alb["headers"].items() if k.lower() == "set-cookie")
    assert cookie_values == ["a=1; Path=/", "b=2; HttpOnly"]
    assert len({k for k in alb["headers"] if k.lower() == "set-cookie"}) == 2

    multi = load_event("alb/rust-runtime__example-alb-lambda-target-request-multivalue-headers.json")
    multi["path"] = "/cookies"
    alb_multi = _one(runtime, multi).json()
    assert alb_multi["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
    assert "headers" not in alb_multi


def test_binary_body_round_trips_as_base64(cookie_stack):
    runtime, app = cookie_stack
    payload = bytes(range(256))
    event = v2_event("GET", "/png", body=base64.b64encode(payload).decode(), b64=True)
    event["requestContext"]["http"]["method"] = "POST"
    envelope = _one(runtime, event).json()
    assert app.requests[-1].body == payload
    assert envelope["isBase64Encoded"] is True
    assert base64.b64decode(envelope["body"]) == payload


def test_error_status_codes_fail_the_invocation_with_status_and_body(cookie_stack):
    runtime, _ = cookie_stack
    result = _one(runtime, v2_event("GET", "/boom"))
    assert result.kind == "error"
    body = result.json()
    assert body["errorType"] == "HttpStatusError"
    assert json.loads(body["errorMessage"]) == {"statusCode": 503, "body": "busy"}
    ok = _one(runtime, v2_event("GET", "/missing")).json()
    assert ok["statusCode"] == 404 and ok["body"] == "<h1>nope</h1>"


def test_passthrough_events_post_raw_bytes_and_return_the_app_json(run_lwa):
    answer = b'{"batchItemFailures": [],"z":1,"a":2}'
    answers = routes({"/events": fixed(200, [("Content-Type", "application/json")], answer)})
    with RuntimeApiServer() as runtime, AppServer(answers) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        for name in event_files("passthrough", "websocket"):
            raw = event_bytes(name)
            result = _one(runtime, raw)
            assert result.kind == "response", name
            assert result.body == b'{"batchItemFailures": [],"z":1,"a":2}', "returned as-is, key order kept"
            seen = app.requests[-1]
            assert (seen.method, seen.target) == ("POST", "/events")
            assert seen.body == raw, f"{name}: the raw event bytes, unchanged"
            assert seen.header("content-type") == "application/json"
            assert seen.header("x-amzn-request-context") is None
            assert json.loads(seen.header("x-amzn-lambda-context"))["request_id"]


@pytest.mark.parametrize(
    ("answer", "ctype", "expected"),
    [
        (b"", "application/json", b"null"),
        (b"OK", "text/plain", b'"OK"'),
        (b'{"b":1,"a":[1, 2]}', "application/json", b'{"b":1,"a":[1, 2]}'),
        (b"\xff\x00\x01", "application/octet-stream", b'"/wAB"'),
    ],
)
def test_passthrough_answers(run_lwa, answer, ctype, expected):
    with RuntimeApiServer() as runtime, AppServer(fixed(200, [("Content-Type", ctype)], answer)) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        assert _one(runtime, {"Records": [{"body": "x"}]}).body == expected


def test_base_path_authorization_source_and_custom_passthrough_path(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz", AWS_LWA_REMOVE_BASE_PATH="prod/",
                AWS_LWA_AUTHORIZATION_SOURCE="X-Auth-Token", AWS_LWA_PASS_THROUGH_PATH="/sqs")
        event = v2_event("GET", "/prod/api/data", headers={"x-auth-token": "Bearer t", "authorization": "AWS4 sig"})
        _one(runtime, event)
        seen = app.requests[-1]
        assert seen.path == "/api/data"
        assert seen.header_all("authorization") == ["Bearer t"]
        assert seen.header("x-auth-token") is None
        _one(runtime, v2_event("GET", "/prodv2/x"))
        assert app.requests[-1].path == "/prodv2/x", "only at a segment boundary"
        _one(runtime, v2_event("GET", "/prod"))
        assert app.requests[-1].path == "/"
        _one(runtime, {"Records": []})
        assert app.requests[-1].target == "/sqs"


def test_context_headers_come_from_the_invocation_only(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        spoof = {"x-amz-tenant-id": "evil", "x-amzn-request-context": "{}", "x-amzn-lambda-context": "{}",
                 "x-amzn-trace-id": "Root=spoofed"}
        _one(runtime, v2_event("GET", "/a", headers=dict(spoof)))
        seen = app.requests[-1]
        assert seen.header("x-amz-tenant-id") is None
        assert seen.header("x-amzn-trace-id") is None
        assert json.loads(seen.header("x-amzn-request-context"))["http"]["method"] == "GET"
        _one(runtime, v2_event("GET", "/b", headers=dict(spoof)), tenant_id="tenant-abc-123",
             client_context=json.dumps({"client": {"appTitle": "t"}, "custom": {"k": "v"}, "env": {"e": "1"}}),
             cognito_identity=json.dumps({"cognitoIdentityId": "id1", "cognitoIdentityPoolId": "pool1"}))
        seen = app.requests[-1]
        assert seen.header_all("x-amz-tenant-id") == ["tenant-abc-123"]
        context = json.loads(seen.header("x-amzn-lambda-context"))
        assert list(context) == ["request_id", "deadline", "invoked_function_arn", "xray_trace_id",
                                 "client_context", "identity", "tenant_id", "env_config"]
        assert context["tenant_id"] == "tenant-abc-123"
        assert context["identity"] == {"identityId": "id1", "identityPoolId": "pool1"}
        assert context["client_context"]["client"]["appTitle"] == "t"
        assert context["client_context"]["custom"] == {"k": "v"}
        assert context["client_context"]["environment"] == {"e": "1"}
        _one(runtime, v2_event("GET", "/c"), client_context="{not json", cognito_identity="[]")
        context = json.loads(app.requests[-1].header("x-amzn-lambda-context"))
        assert context["client_context"] is None and context["identity"] is None


def test_bad_input_gets_an_error_and_the_next_invocation_works(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        bad = _one(runtime, b"{not json")
        assert bad.kind == "error" and bad.json()["errorType"] == "InvalidEvent"
        b64 = _one(runtime, v2_event("GET", "/x", body="***", b64=True))
        assert b64.json()["errorType"] == "InvalidEvent" and "base64" in b64.json()["errorMessage"]
        typed = v2_event("GET", "/x")
        typed["headers"] = {"a": 1}
        assert _one(runtime, typed).json()["errorType"] == "InvalidEvent"
        crlf = _one(runtime, v2_event("GET", "/x", headers={"x-evil": "a\r\nx-injected: 1", "ok": "fine"}))
        assert crlf.kind == "response"
        seen = app.requests[-1]
        assert seen.header("x-injected") is None and seen.header("x-evil") is None and seen.header("ok") == "fine"
        assert _one(runtime, v2_event("GET", "/after")).kind == "response"
        assert app.requests[-1].path == "/after"
        assert len(app.requests) == 2, "invalid events never reached the app"


def test_app_down_gives_app_connection_error_then_recovers(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        runtime.wait_polling(1, timeout=15)
        port = app.port
        app.stop()
        down = _one(runtime, v2_event("GET", "/x"))
        assert down.kind == "error" and down.json()["errorType"] == "AppConnectionError"
        with AppServer(echo, port=port) as again:
            assert _one(runtime, v2_event("GET", "/y")).kind == "response"
            assert again.requests[-1].path == "/y"


def test_huge_error_body_is_cut_so_the_error_still_posts(run_lwa):
    big = ("é" * (700 * 1024)).encode()  # 1.4 MB of two-byte characters
    with RuntimeApiServer() as runtime, AppServer(fixed(500, [("Content-Type", "text/plain")], big)) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz", AWS_LWA_ERROR_STATUS_CODES="500")
        result = _one(runtime, v2_event("GET", "/x"))
        assert result.kind == "error" and len(result.body) < 1_300_000
        message = json.loads(result.json()["errorMessage"])
        assert message["statusCode"] == 500
        assert message["body"].startswith("éé") and message["body"].endswith(f"({len(big)} bytes, cut)")
