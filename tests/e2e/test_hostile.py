"""Hostile input through one real lwa process: broken JSON, wrong field types, injection and
smuggling attempts in methods, paths, queries, headers and bodies.

Nothing may crash the loop (the same process serves every case), each invocation gets one
clear outcome, and the app receives exactly the requests it should: after every hostile event
a sentinel request follows on the same pool, so a request smuggled onto the app's connection
would show up between the two. Paths and queries must arrive percent-encoded (docs/behaviour.md,
decisions "paths" and "query"), which is checked against an encoder written here from that text.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl, unquote_to_bytes

import pytest

from tests.support import apps
from tests.support.apps import AppServer
from tests.support.events import v2_event as v2
from tests.support.process import Lwa, base_env
from tests.support.runtime_api import RuntimeApiServer

SMUGGLED = "/smuggled"
INJECTED = "x-injected"
WAIT_S = 10.0


@dataclass
class Stack:
    api: RuntimeApiServer
    app: AppServer
    lwa: Lwa


@pytest.fixture(scope="module")
def stack():
    """One Runtime API, one echo app, ONE lwa process for every hostile input in this module."""
    with RuntimeApiServer() as api, AppServer(apps.echo) as app:
        lwa = Lwa(base_env(api.address, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz"))
        try:
            api.wait_polling(1, timeout=15)
            yield Stack(api, app, lwa)
        finally:
            code = lwa.stop()
            assert code == 0, lwa.output
            assert "internal error" not in lwa.output.lower(), lwa.output  # every failure was anticipated
            assert not app.handler_errors, app.handler_errors


def send(stack: Stack, event, **push):
    """Push one event, then a sentinel; return (result, requests the app got for the event)."""
    api, app = stack.api, stack.app
    before = len(app.requests)
    rid = api.push(event, **push)
    result = api.wait_result(rid, WAIT_S)
    marker = uuid.uuid4().hex
    sentinel = api.wait_result(api.push(v2("GET", "/sentinel", query=f"s={marker}")), WAIT_S)
    assert sentinel.kind == "response" and json.loads(sentinel.json()["body"])["query"] == f"s={marker}"
    got = app.requests[before:]
    assert got and got[-1].target == f"/sentinel?s={marker}", [s.target for s in got]
    accepted = [r for r in api.results_for(rid) if not r.rejected]
    assert len(accepted) == 1, [(r.kind, r.body[:200]) for r in accepted]
    assert stack.lwa.proc.poll() is None, stack.lwa.output
    for seen in got:  # nothing smuggled: no extra request line, no injected header field
        assert seen.path != SMUGGLED and SMUGGLED not in seen.method, seen
        assert INJECTED not in [name for name, _ in seen.headers], seen.headers
    return result, got[:-1]


def error_type(result) -> str:
    assert result.kind == "error", result.body[:300]
    return result.json()["errorType"]


# ---- event builders -----------------------------------------------------------------------------

def v1(method="GET", path="/", headers=None, multi=None, query=None, multi_query=None, body=None, b64=False) -> dict:
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": multi,
        "queryStringParameters": query, "multiValueQueryStringParameters": multi_query,
        "requestContext": {"httpMethod": method, "stage": "prod", "requestId": "r1"},
        "body": body, "isBase64Encoded": b64,
    }


def alb(method="GET", path="/", headers=None, multi=None, query=None, multi_query=None, body=None, b64=False) -> dict:
    event = {"httpMethod": method, "path": path,
             "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:tg"}},
             "body": body, "isBase64Encoded": b64}
    if multi is not None or multi_query is not None:
        event["multiValueHeaders"] = multi or {}
        event["multiValueQueryStringParameters"] = multi_query or {}
    else:
        event["headers"] = headers or {}
        event["queryStringParameters"] = query or {}
    return event


BUILDERS: dict[str, Callable[..., dict]] = {"v1": v1, "v2": v2, "alb": alb}


# ---- independent encoders (from docs/behaviour.md's decisions, not from lwa) ----------------------

_HEX = set("0123456789abcdefABCDEF")


def _pct(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def _expect(raw: str, illegal: str, bare_percent: str = "%25") -> str:
    out = []
    for i, ch in enumerate(raw):
        if ch == "%":
            ok = raw[i + 1:i + 2] in _HEX and raw[i + 2:i + 3] in _HEX and len(raw) > i + 2
            out.append("%" if ok else bare_percent)
        elif ch in illegal or ord(ch) < 0x20 or ord(ch) >= 0x7F:
            out.append(_pct(ch))
        else:
            out.append(ch)
    return "".join(out)


def expected_path(raw: str) -> str:
    """Decision "paths": encode space, controls, non-ASCII, `?`, `#`, a `%` without two hex digits."""
    path = _expect(raw, " ?#")
    return path if path.startswith("/") else "/" + path


def expected_query(raw: str) -> str:
    """Decision "query" (v2 rawQueryString, ALB keys/values): verbatim, illegal characters encoded."""
    return _expect(raw, ' #"<>', bare_percent="%")  # a bare % stays as the client sent it


def assert_clean_target(target: str) -> None:
    assert target.isascii() and not any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in target), target
    assert "#" not in target, target


# ---- not JSON, or JSON that is not an object ---------------------------------------------------------

@pytest.mark.parametrize("payload", [
    b"not json", b"", b"\xff\xfe{\x00}", b'{"a":', b'{"a":1}}', b"[" * 100_000, b'{"a":' * 50_000,
    b"\x00" * 64, "{\"k\": \"caf\xe9\"}".encode("latin-1"),
], ids=["text", "empty", "utf16ish", "truncated", "trailing", "deep-array", "deep-object", "nuls", "latin1"])
def test_event_that_is_not_json_is_invalid_event(stack, payload) -> None:
    result, seen = send(stack, payload)
    assert error_type(result) == "InvalidEvent"
    assert "not valid JSON" in result.json()["errorMessage"]
    assert seen == []


@pytest.mark.parametrize("payload", [
    b"[1, 2, 3]", b'"just a string"', b"42", b"null", b"true", b'"\\ud800 lone surrogate"',
    b'{"a": NaN, "b": -Infinity}', b'{"Records": [{"body": "\\r\\nGET /smuggled HTTP/1.1\\r\\n"}]}',
    b'{"httpMethod": "GET"}', b'{"requestContext": {"connectionId": "c", "eventType": "MESSAGE"}, "body": "x"}',
], ids=["array", "string", "number", "null", "bool", "surrogate", "nan", "sqs-crlf", "method-only", "websocket"])
def test_json_that_is_not_an_http_event_is_passed_through_raw(stack, payload) -> None:
    result, seen = send(stack, payload)
    assert result.kind == "response", result.body[:300]
    assert [(s.method, s.target) for s in seen] == [("POST", "/events")]
    assert seen[0].body == payload
    assert seen[0].header("content-type") == "application/json"
    assert seen[0].header("x-amzn-request-context") is None
    assert json.loads(result.body)["body_base64"] == base64.b64encode(payload).decode()


# ---- wrong types in every field -------------------------------------------------------------------

STR_BAD = [42, True, ["a"], {"a": "b"}]
MAP_BAD = ["text", 0, False, ["a"]]


def _type_cases():
    bases = {"v1": v1("POST", "/p", {"h": "v"}, {"h": ["v"]}, {"q": "1"}, {"q": ["1"]}, "aGk=", True),
             "v2": v2("POST", "/p", "q=1", {"h": "v"}, "aGk=", True, ["a=b"]),
             "alb": alb("POST", "/p", {"h": "v"}, None, {"q": "1"}, None, "aGk=", True),
             "alb-multi": alb("POST", "/p", None, {"h": ["v"]}, None, {"q": ["1"]}, "aGk=", True)}
    common = {"body": STR_BAD, "isBase64Encoded": ["true", 1, 0, []]}
    fields = {
        "v1": {"httpMethod": STR_BAD + ["GE T"], "path": STR_BAD, "headers": MAP_BAD, "headers.h": STR_BAD,
               "multiValueHeaders": MAP_BAD, "multiValueHeaders.h": ["v", [1], [None]],
               "queryStringParameters": MAP_BAD, "queryStringParameters.q": STR_BAD,
               "multiValueQueryStringParameters": MAP_BAD, "multiValueQueryStringParameters.q": ["1", [1]],
               "requestContext": ["text", 42, ["x"], True]},
        "v2": {"requestContext.http.method": STR_BAD + ["GE T"], "requestContext.http": ["GET", 42, ["x"]],
               "rawPath": STR_BAD, "rawQueryString": STR_BAD, "headers": MAP_BAD, "headers.h": STR_BAD,
               "cookies": ["a=b", "", 0, False, [1], {"a": "b"}]},
        "alb": {"httpMethod": STR_BAD, "path": STR_BAD, "headers": MAP_BAD, "headers.h": STR_BAD,
                "queryStringParameters": MAP_BAD, "queryStringParameters.q": STR_BAD},
        "alb-multi": {"multiValueHeaders": MAP_BAD, "multiValueHeaders.h": ["v", [1]],
                      "multiValueQueryStringParameters": MAP_BAD, "multiValueQueryStringParameters.q": ["1", [1]]},
    }
    for kind, per_field in fields.items():
        for field, values in {**common, **per_field}.items():
            for value in values:
                yield pytest.param(bases[kind], field, value, id=f"{kind}-{field}={json.dumps(value)}")


def _set(event: dict, dotted: str, value) -> dict:
    event = copy.deepcopy(event)
    node = event
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return event


@pytest.mark.parametrize("base,field,value", list(_type_cases()))
def test_wrong_field_type_is_invalid_event_naming_the_field(stack, base, field, value) -> None:
    result, seen = send(stack, _set(base, field, value))
    assert error_type(result) == "InvalidEvent"
    named = field.rsplit(".", 1)[0] if field.endswith((".h", ".q")) else field
    assert named in result.json()["errorMessage"], result.json()
    assert seen == [], "never re-routed to the pass-through path, never half-sent"


def test_null_and_missing_optional_fields_are_normal(stack) -> None:
    for event in (v1("GET", "/n"), alb("GET", "/n"),
                  {"version": "2.0", "rawPath": "/n", "requestContext": {"http": {"method": "GET"}}}):
        event = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
        result, seen = send(stack, event)
        assert result.kind == "response" and [(s.method, s.target) for s in seen] == [("GET", "/n")]


# ---- methods, paths, queries ---------------------------------------------------------------------

@pytest.mark.parametrize("method", [
    f"GET {SMUGGLED} HTTP/1.1\r\n{INJECTED}: 1\r\n\r\nGET", "G ET", "GET\r\n", "GET\n", "GE\x00T", "GÉT",
    "GET\t", "M" * 33, "GET/", "(GET)", "GET,POST",
], ids=["request-splitting", "space", "crlf", "lf", "nul", "non-ascii", "tab", "too-long", "slash", "parens",
        "comma"])
@pytest.mark.parametrize("source", ["v1", "v2", "alb"])
def test_method_that_is_not_a_token_is_invalid_event(stack, source, method) -> None:
    event = BUILDERS[source](method, "/m")
    result, seen = send(stack, event)
    assert error_type(result) == "InvalidEvent"
    assert ("requestContext.http.method" if source == "v2" else "httpMethod") in result.json()["errorMessage"]
    assert seen == []


@pytest.mark.parametrize("method,wire", [("get", "get"), ("PROPFIND", "PROPFIND"), ("X-Custom_1!", "X-Custom_1!"),
                                         ("", "GET")])
def test_token_methods_go_through_verbatim(stack, method, wire) -> None:
    result, seen = send(stack, v2(method, "/m"))
    assert result.kind == "response" and [s.method for s in seen] == [wire]


HOSTILE_PATHS = {
    "space": "/a b/c d",
    "crlf-splitting": f"/a\r\n{INJECTED}: 1\r\n\r\nGET {SMUGGLED} HTTP/1.1\r\nHost: x",
    "nul": "/nul\x00byte",
    "controls": "/" + "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "non-ascii": "/ünï/çødé/日本/😀",
    "question-hash": "/q?x=1#frag",
    "bare-percent": "/100%",
    "bad-escape": "/%zz/%4",
    "good-escape": "/%41ok/%2F",
    "relative": "relative/path",
    "double-slash": "//evil.example/x",
    "dot-segments": "/a/../../etc/passwd",
    "absolute-form": "http://evil.example/x",
    "tab": "/tab\there",
    "line-separators": "/\u2028\u2029\x85",
    "lone-surrogate": "/\ud800x\udfff",
    "quotes-brackets": '/"<>[]{}|\\^`',
    "empty": "",
    "long": "/" + "a" * 20000,
}


@pytest.mark.parametrize("source", ["v1", "v2", "alb"])
@pytest.mark.parametrize("name", sorted(HOSTILE_PATHS))
def test_hostile_paths_arrive_percent_encoded(stack, source, name) -> None:
    raw = HOSTILE_PATHS[name]
    event = BUILDERS[source]("GET", raw)
    result, seen = send(stack, event)
    assert result.kind == "response", result.body[:300]
    assert len(seen) == 1
    target = seen[0].target
    assert_clean_target(target)
    assert target == expected_path(raw)
    assert seen[0].query == ""  # a `?` in the path never starts a query
    # decoding what was sent gives back the event's path: nothing lost, nothing decoded on the way
    assert unquote_to_bytes(target.lstrip("/")) == unquote_to_bytes(raw.lstrip("/").encode("utf-8", "surrogatepass"))


HOSTILE_RAW_QUERIES = {
    "plain": "a=1&b=2&a=3",
    "space": "a=1 2",
    "crlf": f"x=1\r\n{INJECTED}: 1\r\n\r\nGET {SMUGGLED} HTTP/1.1",
    "hash": "a=1#frag",
    "non-ascii": "ü=ñ&日=本",
    "quotes": 'a="<b>"',
    "bad-escape": "a=%zz&b=%",
    "good-escape": "a=%2B%20",
    "nul": "a=\x00",
    "lone-surrogate": "a=\ud800",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_RAW_QUERIES))
def test_v2_raw_query_is_verbatim_with_illegal_characters_encoded(stack, name) -> None:
    raw = HOSTILE_RAW_QUERIES[name]
    result, seen = send(stack, v2("GET", "/q", query=raw))
    assert result.kind == "response"
    assert len(seen) == 1
    assert_clean_target(seen[0].target)
    assert seen[0].path == "/q" and seen[0].query == expected_query(raw)


QUERY_PAIRS = [("q", "a b&c=d#e+f"), ("ü", "\r\n"), ("x=y", "1%2"), ("k", ""), ("q", "second"), ("nul", "\x00"),
               (f"{INJECTED}", f"\r\nGET {SMUGGLED} HTTP/1.1")]


def test_v1_query_round_trips_exactly_through_form_encoding(stack) -> None:
    multi: dict[str, list[str]] = {}
    for k, v in QUERY_PAIRS:
        multi.setdefault(k, []).append(v)
    result, seen = send(stack, v1("GET", "/q", multi_query=multi, query={k: vs[-1] for k, vs in multi.items()}))
    assert result.kind == "response" and len(seen) == 1
    assert_clean_target(seen[0].target)
    expected = [(k, v) for k, vs in multi.items() for v in vs]
    assert parse_qsl(seen[0].query, keep_blank_values=True) == expected
    assert "+" not in seen[0].query  # `+` and space are both encoded, never ambiguous


def test_alb_query_is_forwarded_verbatim_with_illegal_characters_encoded(stack) -> None:
    pairs = {"q": "a%20b", "x": "1 2", "crlf": "\r\nX", "ü": "ñ"}
    result, seen = send(stack, alb("GET", "/q", query=pairs))
    assert result.kind == "response" and len(seen) == 1
    assert_clean_target(seen[0].target)
    assert seen[0].query == "&".join(f"{expected_query(k)}={expected_query(v)}" for k, v in pairs.items())


def test_ten_thousand_query_parameters(stack) -> None:
    query = {f"k{i}": str(i) for i in range(10_000)}
    result, seen = send(stack, v1("GET", "/many", query=query))
    assert result.kind == "response" and len(seen) == 1
    assert dict(parse_qsl(seen[0].query)) == query


# ---- headers: injection, smuggling, size ---------------------------------------------------------

BAD_HEADERS = {
    "x-crlf": f"a\r\n{INJECTED}: 1",
    "x-lf": f"a\n{INJECTED}: 1",
    "x-cr": "a\rb",
    "x-nul": "a\x00b",
    f"{INJECTED}: 1\r\nx-foo": "y",
    "bad name": "x",
    "bad:name": "x",
    "": "empty name",
    "ü-name": "x",
    "x-tab\t": "x",
    "x-name-lf\n": "x",
}


@pytest.mark.parametrize("source", ["v1", "v2", "alb", "alb-multi"])
def test_header_names_and_values_with_crlf_or_nul_are_dropped(stack, source) -> None:
    good = {"x-ok": "1", "x-utf8": "naïve ☃", "x-obs": "tab\tinside"}
    everything = {**good, **BAD_HEADERS}
    if source == "v2":
        event = v2("GET", "/h", headers=everything, cookies=["a=1", f"b=2\r\n{INJECTED}: 1"])
    elif source == "v1":
        event = v1("GET", "/h", headers={"x-single": "s"}, multi={k: [v] for k, v in everything.items()})
    elif source == "alb":
        event = alb("GET", "/h", headers=everything)
    else:
        event = alb("GET", "/h", multi={k: [v] for k, v in everything.items()})
    result, seen = send(stack, event)
    assert result.kind == "response" and len(seen) == 1
    names = [n for n, _ in seen[0].headers]
    for name, value in good.items():
        assert seen[0].header(name) == value
    for name in BAD_HEADERS:
        assert name.lower() not in names
    assert "cookie" not in names  # the cookie list carried a CR/LF: the joined header is dropped whole
    for _, raw in seen[0].headers:
        assert not set(raw) & {0, 10, 13}


def test_smuggling_framing_headers_are_replaced_by_lwas_own(stack) -> None:
    body = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: evil\r\nContent-Length: 5\r\n\r\nhello"
    multi = {
        "Host": ["a.example", "evil.example"],
        "Content-Length": ["0", "100"],
        "Transfer-Encoding": ["chunked", "identity"],
        "Connection": ["keep-alive, Transfer-Encoding"],
        "Keep-Alive": ["timeout=1"],
        "TE": ["trailers"],
        "Trailer": ["X-Late"],
        "Upgrade": ["h2c"],
        "Expect": ["100-continue"],
        "Proxy-Connection": ["close"],
        "X-Ok": ["1"],
    }
    for event in (v1("POST", "/smuggle", headers={"content-length": "3", "host": "b.example"}, multi=multi,
                     body=base64.b64encode(body).decode(), b64=True),
                  {**v2("POST", "/smuggle", body=base64.b64encode(body).decode(), b64=True),
                   "headers": {"Host": "a.example", "host": "evil.example", "Content-Length": "0",
                               "transfer-encoding": "chunked", "Connection": "Transfer-Encoding", "X-Ok": "1"}}):
        result, seen = send(stack, event)
        assert result.kind == "response" and len(seen) == 1
        got = seen[0]
        assert got.header_all("host") == ["a.example"]
        assert got.header_all("content-length") == [str(len(body))]
        assert got.body == body
        for name in ("transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "expect",
                     "proxy-connection"):
            assert got.header(name) is None, name
        assert got.header("x-ok") == "1"


def test_client_sent_context_headers_are_replaced(stack) -> None:
    spoof = {"x-amzn-request-context": '{"spoofed":true}', "x-amzn-lambda-context": "spoof",
             "x-amz-tenant-id": "other-tenant", "x-amzn-trace-id": "Root=spoofed"}
    result, seen = send(stack, v2("GET", "/ctx", headers=spoof), trace_id="Root=1-abc", tenant_id="tenant-1")
    got = seen[0]
    assert json.loads(got.header("x-amzn-request-context"))["http"]["method"] == "GET"
    assert json.loads(got.header("x-amzn-lambda-context"))["request_id"] == result.request_id
    assert got.header("x-amz-tenant-id") == "tenant-1"
    assert got.header("x-amzn-trace-id") == "Root=1-abc"
    result, seen = send(stack, v2("GET", "/ctx", headers=spoof))
    assert seen[0].header("x-amz-tenant-id") is None and seen[0].header("x-amzn-trace-id") is None


@pytest.mark.parametrize("client_context,cognito", [("not json", "[]"), ('{"custom": "x"}', '{"identityId": 1'),
                                                    ("[1]", "null")])
def test_garbage_client_context_and_identity_become_null(stack, client_context, cognito) -> None:
    result, seen = send(stack, v2("GET", "/cc"), client_context=client_context, cognito_identity=cognito)
    assert result.kind == "response"
    context = json.loads(seen[0].header("x-amzn-lambda-context"))
    assert context["client_context"] is None and context["identity"] is None


def test_large_header_value_reaches_the_app_intact(stack) -> None:
    value = "v" * 60_000
    result, seen = send(stack, v2("GET", "/big", headers={"x-big": value}))
    assert result.kind == "response" and seen[0].header("x-big") == value


def test_header_too_large_for_the_app_is_one_clear_error(stack) -> None:
    """The test app refuses a 64 KB+ header line (as real servers answer 431 or hang up)."""
    result, seen = send(stack, v2("GET", "/huge", headers={"x-huge": "v" * 200_000}))
    assert error_type(result) == "AppConnectionError"
    assert seen == []


def test_thousands_of_headers(stack) -> None:
    headers = {f"x-h{i}": f"value {i}" for i in range(2000)}
    result, seen = send(stack, v1("GET", "/many", multi={k: [v] for k, v in headers.items()}))
    assert result.kind == "response"
    assert all(seen[0].header(k) == v for k, v in headers.items())


# ---- bodies ---------------------------------------------------------------------------------------

def test_every_byte_value_round_trips_through_base64(stack) -> None:
    body = bytes(range(256)) * 4
    for event in (v1("POST", "/bin", body=base64.b64encode(body).decode(), b64=True),
                  v2("POST", "/bin", body=base64.b64encode(body).decode(), b64=True),
                  alb("POST", "/bin", body=base64.b64encode(body).decode(), b64=True)):
        result, seen = send(stack, event)
        assert result.kind == "response" and seen[0].body == body


@pytest.mark.parametrize("text", ["plain", "naïve ☃ 😀", "\ud800 lone high", "lone low \udfff", "\x00nul",
                                  "\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"])
def test_text_bodies_are_sent_as_utf8(stack, text) -> None:
    result, seen = send(stack, v2("POST", "/text", body=text))
    assert result.kind == "response"
    assert seen[0].body == text.encode("utf-8", "surrogatepass")
    assert seen[0].header("content-length") == str(len(seen[0].body))


@pytest.mark.parametrize("encoded", ["!!!!", "abc$", "YQ==YQ==", "é", "====", "A", "Y Q=="])
def test_invalid_base64_body_is_invalid_event(stack, encoded) -> None:
    result, seen = send(stack, v2("POST", "/b64", body=encoded, b64=True))
    assert error_type(result) == "InvalidEvent"
    assert "base64" in result.json()["errorMessage"]
    assert seen == []


def test_big_body_reaches_the_app(stack) -> None:
    body = bytes(range(256)) * (4 << 12)  # 4 MB
    result, seen = send(stack, v2("PUT", "/upload", body=base64.b64encode(body).decode(), b64=True))
    assert result.kind == "response" and seen[0].body == body


# ---- odd structure --------------------------------------------------------------------------------

def test_lone_surrogates_everywhere_still_give_one_answer(stack) -> None:
    bad = "\ud800"
    event = v2("GET", f"/s{bad}", query=f"q={bad}", headers={"x-s": f"v{bad}"}, cookies=[f"c={bad}"])
    event["requestContext"]["note"] = bad
    result, seen = send(stack, event)
    assert result.kind == "response" and len(seen) == 1
    assert seen[0].header_all("x-s") and seen[0].path == "/s%ED%A0%80"


@pytest.mark.parametrize("depth", [900, 985, 995])
def test_deeply_nested_request_context(stack, depth) -> None:
    nested = "[" * depth + "]" * depth
    event = json.dumps(v2("GET", "/deep")).replace('"stage": "$default"', f'"stage": "$default", "deep": {nested}')
    result, seen = send(stack, event)
    if result.kind == "error":
        assert error_type(result) == "InvalidEvent" and seen == []
    else:
        assert len(seen) == 1 and seen[0].header("x-amzn-request-context").count("[") == depth


def test_duplicate_json_keys_take_the_last_value(stack) -> None:
    raw = ('{"version":"2.0","rawPath":"/first","rawPath":"/second","requestContext":{"http":{"method":"GET"},'
           '"http":{"method":"DELETE"}}}')
    result, seen = send(stack, raw)
    assert result.kind == "response" and [(s.method, s.path) for s in seen] == [("DELETE", "/second")]
