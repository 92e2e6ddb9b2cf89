"""The translators as pure functions, over the real events and hand-written tricky cases."""

from __future__ import annotations

import base64
import json

import pytest

from lwa import sources
from lwa.config import load_config
from lwa.errors import InvalidEventError
from lwa.model import AppResponse, Invocation
from lwa.sources import alb, apigw_v1, apigw_v2, passthrough
from lwa.sources.target import encode_path, encode_query, form_encode, strip_base_path
from tests.support.events import MANIFEST, load_event

KIND_MODULE = {"v1": apigw_v1, "v2": apigw_v2, "alb": alb, "websocket": passthrough, "passthrough": passthrough}
CONFIG = load_config({})
INV = Invocation(request_id="rid-1", deadline_ms=1_700_000_000_000, body=b"{}", function_arn="arn:fn")


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_classification_matches_the_manifest(name):
    assert sources.classify(load_event(name)) is KIND_MODULE[MANIFEST[name]]


@pytest.mark.parametrize("value", ["hello", [1], 42, None, True])
def test_non_objects_are_pass_through(value):
    assert sources.classify(value) is passthrough


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("/Año_1234", "/A%C3%B1o_1234"),
        ("/a b/ñ", "/a%20b/%C3%B1"),
        ("/x?y#z", "/x%3Fy%23z"),
        ("/a/../b", "/a/../b"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/100%", "/100%25"),
        ("/%zz", "/%25zz"),
        ("/a|b^c[d]{e}", "/a|b^c[d]{e}"),
        ("", "/"),
        ("//x", "//x"),
        ("/tab\there\r\n\x00", "/tab%09here%0D%0A%00"),
    ],
)
def test_path_encoding(raw, encoded):
    assert encode_path(raw) == encoded


def test_query_encoding():
    assert encode_query("a=1&b=x y#frag") == "a=1&b=x%20y%23frag"
    assert encode_query("q=caf\u00e9&r=%41") == "q=caf%C3%A9&r=%41"
    assert form_encode([("q", "a+b c"), ("k&", "=#")]) == "q=a%2Bb%20c&k%26=%3D%23"


@pytest.mark.parametrize(
    ("path", "base", "result"),
    [("/prod/api/data", "/prod", "/api/data"), ("/other/path", "/prod", "/other/path"), ("/prod", "/prod", "/"),
     ("/api/api/x", "/api", "/api/x"), ("/apiv2/x", "/api", "/apiv2/x"), ("/x", "", "/x")],
)
def test_base_path_stripped_once_at_a_segment_boundary(path, base, result):
    assert strip_base_path(path, base) == result


def test_v1_multi_value_query_and_headers_in_event_order():
    event = load_event("apigw-v1/rust-runtime__example-apigw-request-multi-value-parameters.json")
    req = apigw_v1.to_request(event, INV, CONFIG)
    query = req.target.split("?", 1)[1]
    expected = [f"{k}={v}" for k, vs in event["multiValueQueryStringParameters"].items() for v in vs]
    assert query.split("&") == [form_encode([tuple(p.split("=", 1))]) for p in expected]
    for name, values in event["multiValueHeaders"].items():
        if name.lower() not in ("content-length", "x-amzn-trace-id"):
            assert [v for n, v in req.headers if n == name.lower()] == values


def test_v2_cookies_become_one_cookie_header():
    event = load_event("apigw-v2/rust-runtime__example-apigw-v2-request-jwt-authorizer.json")
    event["headers"]["cookie"] = "stale=1"
    req = apigw_v2.to_request(event, INV, CONFIG)
    assert [v for n, v in req.headers if n == "cookie"] == ["; ".join(event["cookies"])]
    assert req.target.endswith("?" + event["rawQueryString"])


def test_alb_query_values_are_forwarded_verbatim():
    event = load_event("alb/rust-runtime__alb_request_encoded_query_parameters.json")
    req = alb.to_request(event, INV, CONFIG)
    assert "myKey=%3FshowAll%3Dtrue" in req.target


def test_hop_by_hop_and_framing_headers_are_dropped_and_injected_ones_replaced():
    event = load_event("apigw-v2/rust-runtime__apigw_v2_proxy_request_minimal.json")
    event["headers"] = {"Connection": "close", "Transfer-Encoding": "chunked", "Content-Length": "99",
                        "x-amzn-lambda-context": "spoof", "Host": "a.example", "X-Ok": "1"}
    req = apigw_v2.to_request(event, INV, CONFIG)
    names = [n for n, _ in req.headers]
    assert "connection" not in names and "transfer-encoding" not in names and "content-length" not in names
    assert names.count("x-amzn-lambda-context") == 1 and req.header("x-amzn-lambda-context") != "spoof"
    assert req.header("host") == "a.example" and req.header("x-ok") == "1"


@pytest.mark.parametrize(
    ("module", "name", "mutate", "field"),
    [
        (apigw_v1, "apigw-v1/rust-runtime__example-apigw-request.json", {"httpMethod": 5}, "httpMethod"),
        (apigw_v1, "apigw-v1/rust-runtime__example-apigw-request.json", {"path": ["x"]}, "path"),
        (apigw_v1, "apigw-v1/rust-runtime__example-apigw-request.json", {"headers": "x"}, "headers"),
        (apigw_v1, "apigw-v1/rust-runtime__example-apigw-request.json", {"body": {"a": 1}}, "body"),
        (apigw_v2, "apigw-v2/rust-runtime__apigw_v2_proxy_request_minimal.json", {"rawQueryString": 1},
         "rawQueryString"),
        (apigw_v2, "apigw-v2/rust-runtime__apigw_v2_proxy_request_minimal.json", {"cookies": "a=1"}, "cookies"),
        (alb, "alb/rust-runtime__alb_health_check.json", {"isBase64Encoded": "yes"}, "isBase64Encoded"),
        (alb, "alb/rust-runtime__alb_health_check.json", {"httpMethod": "GE T"}, "httpMethod"),
    ],
)
def test_bad_field_types_fail_with_the_field_named(module, name, mutate, field):
    event = load_event(name)
    event.update(mutate)
    assert sources.classify(event) is module, "never re-routed to pass-through"
    with pytest.raises(InvalidEventError, match=field):
        module.to_request(event, INV, CONFIG)


def test_null_optional_fields_are_normal():
    event = load_event("apigw-v1/rust-runtime__example-apigw-console-test-request.json")
    req = apigw_v1.to_request(event, INV, CONFIG)
    assert req.method == event["httpMethod"] and "?" not in req.target


def _resp(status=200, headers=(), body=b""):
    return AppResponse(status, tuple(headers), body)


def test_v1_envelope():
    out = json.loads(apigw_v1.to_response(_resp(200, [("content-type", "text/plain"), ("set-cookie", "a=1"),
                                                      ("set-cookie", "b=2"), ("connection", "keep-alive")], b"hi"),
                                          {}, CONFIG))
    assert out == {"statusCode": 200, "headers": {"content-type": "text/plain", "set-cookie": "b=2"},
                   "multiValueHeaders": {"content-type": ["text/plain"], "set-cookie": ["a=1", "b=2"]},
                   "body": "hi", "isBase64Encoded": False}


def test_v2_envelope_binary_and_cookies():
    out = json.loads(apigw_v2.to_response(_resp(200, [("content-encoding", "gzip"), ("set-cookie", "c=1")], b"000000"),
                                          {}, CONFIG))
    assert out["body"] == "MDAwMDAw" and out["isBase64Encoded"] is True and out["cookies"] == ["c=1"]


@pytest.mark.parametrize(
    ("ctype", "body", "is_b64"),
    [
        ("application/json", b'{"a":1}', False), ("text/html; charset=utf-8", "é".encode(), False),
        ("image/svg+xml", b"<svg/>", False), ("application/graphql-response+json; charset=utf-8", b"{}", False),
        ("custom/vdn+yaml", b"a: 1", False), (None, b"plain", False), (None, b"\xff\xfe", True),
        ("text/plain; charset=latin-1", b"caf\xe9", True), ("application/octet-stream", b"abc", True),
        ("image/png", b"\x89PNG", True), ("application/x-www-form-urlencoded", b"a=1", True),
        ("TEXT/HTML", b"x", True), ("application/pdf", b"%PDF", True),
    ],
)
def test_text_or_base64(ctype, body, is_b64):
    headers = [("content-type", ctype)] if ctype else []
    out = json.loads(apigw_v2.to_response(_resp(200, headers, body), {}, CONFIG))
    assert out["isBase64Encoded"] is is_b64
    assert (base64.b64decode(out["body"]) if is_b64 else out["body"].encode()) == body


def test_force_text_header_is_honoured_and_removed():
    out = json.loads(apigw_v2.to_response(
        _resp(200, [("content-type", "image/svg"), ("x-lambda-http-content-encoding", "text")], b"<svg/>"), {}, CONFIG))
    assert out["body"] == "<svg/>" and not out["isBase64Encoded"]
    assert "x-lambda-http-content-encoding" not in out["headers"]


def test_alb_status_description_and_shape():
    single = json.loads(alb.to_response(_resp(599, [("content-type", "text/plain")], b"x"), {"headers": {}}, CONFIG))
    assert single["statusDescription"] == "599 Unknown" and "multiValueHeaders" not in single
    multi = json.loads(alb.to_response(_resp(404, [], b""), {"multiValueHeaders": {}}, CONFIG))
    assert multi["statusDescription"] == "404 Not Found" and multi["multiValueHeaders"] == {}


def test_passthrough_request_is_the_raw_event():
    raw = b'{"Records": [ {"b": 1} ]}'
    inv = Invocation(request_id="r", deadline_ms=1, body=raw)
    req = passthrough.to_request(json.loads(raw), inv, CONFIG)
    assert (req.method, req.target, req.body) == ("POST", "/events", raw)
    assert req.header("content-type") == "application/json" and req.header("x-amzn-request-context") is None
