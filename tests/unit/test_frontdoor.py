"""`lwa.local.frontdoor`: `serve`'s pure front door — request → event, Lambda result → HTTP answer,
the Host names it answers, and log escaping of client input."""

from __future__ import annotations

import base64
import json

import pytest

from lwa.local import frontdoor


def test_build_event_shapes() -> None:
    pairs = [("Host", "localhost:9000"), ("Cookie", "a=1; b=2"), ("X-Dup", "1"), ("x-dup", "2"),
             ("Connection", "keep-alive"), ("Content-Type", "application/octet-stream")]
    target = "/p%20q?k=a%2Bb&k=c&flag"
    v2 = frontdoor.build_event("v2", "PUT", target, pairs, b"\xff\x00", "10.0.0.1", 9000, "rid", now=0.0)
    assert (v2["rawPath"], v2["rawQueryString"], v2["cookies"]) == ("/p%20q", "k=a%2Bb&k=c&flag", ["a=1", "b=2"])
    assert v2["queryStringParameters"] == {"k": "a+b,c", "flag": ""}
    assert v2["headers"]["x-dup"] == "1,2" and "cookie" not in v2["headers"] and "connection" not in v2["headers"]
    assert (v2["body"], v2["isBase64Encoded"]) == ("/wA=", True)
    assert v2["requestContext"]["http"]["sourceIp"] == "10.0.0.1" and v2["requestContext"]["timeEpoch"] == 0
    v1 = frontdoor.build_event("v1", "PUT", target, pairs, b"", "10.0.0.1", 9000, "rid")
    assert v1["multiValueQueryStringParameters"] == {"k": ["a+b", "c"], "flag": [""]}
    assert v1["headers"]["X-Dup"] == "2" and v1["multiValueHeaders"]["X-Dup"] == ["1", "2"]
    assert v1["body"] is None and v1["pathParameters"] == {"proxy": "p%20q"}
    alb = frontdoor.build_event("alb", "PUT", target, pairs, b"", "10.0.0.1", 9000, "rid")
    assert alb["queryStringParameters"] == {"k": "c", "flag": ""} and alb["headers"]["x-dup"] == "2"
    assert alb["body"] == "" and "multiValueHeaders" not in alb
    multi = frontdoor.build_event("alb", "PUT", target, pairs, b"", "10.0.0.1", 9000, "rid", alb_multi_value=True)
    assert multi["multiValueQueryStringParameters"] == {"k": ["a%2Bb", "c"], "flag": [""]}
    assert "headers" not in multi and multi["multiValueHeaders"]["x-dup"] == ["1", "2"]


def test_http_answer_merges_headers_and_decodes_bodies() -> None:
    payload = json.dumps({"statusCode": 404, "statusDescription": "404 Not Found",
                          "headers": {"a": "last", "b": "only"}, "multiValueHeaders": {"a": ["1", "2"]},
                          "cookies": ["s=1"], "body": base64.b64encode(b"\x00\x01").decode(),
                          "isBase64Encoded": True}).encode()
    status, reason, pairs, body = frontdoor.http_answer(payload)
    assert (status, reason, body) == (404, "Not Found", b"\x00\x01")
    assert pairs == [("a", "1"), ("a", "2"), ("b", "only"), ("set-cookie", "s=1")]
    assert frontdoor.http_answer(b'{"no": "status"}') == (200, None, [("content-type", "application/json")],
                                                      b'{"no": "status"}')


@pytest.mark.parametrize("host", [
    "localhost", "LocalHost", "localhost.", "localhost:9000", "app.localhost", "a.b.localhost:1", "127.0.0.1",
    "127.0.0.1:9000", "127.255.0.9", "[::1]", "[::1]:9000", "[0:0:0:0:0:0:0:1]",
])
def test_loopback_hosts_are_answered(host: str) -> None:
    assert frontdoor.host_allowed(host, "127.0.0.1", frozenset())


@pytest.mark.parametrize("host", [
    "", "evil.example", "evil.example:9000", "localhost.evil.example", "localhostx", "127.0.0.1.evil.example",
    "10.0.0.1", "0x7f000001", "::1", "[::ffff:127.0.0.1]", "[127.0.0.1]", "[::2]", "localhost:x",
])
def test_other_hosts_are_refused(host: str) -> None:
    assert not frontdoor.host_allowed(host, "127.0.0.1", frozenset())


def test_the_bound_address_and_allowed_names_are_answered() -> None:
    assert frontdoor.host_allowed("192.168.1.5:9000", "192.168.1.5", frozenset())
    assert frontdoor.host_allowed("[fd00::5]:9000", "fd00::5", frozenset())
    assert not frontdoor.host_allowed("192.168.1.6", "192.168.1.5", frozenset())
    allowed = frozenset({frontdoor.host_name("Dev.Box")})
    assert frontdoor.host_allowed("dev.box:9000", "0.0.0.0", allowed)
    assert frontdoor.host_allowed("DEV.BOX.", "0.0.0.0", allowed)
    assert not frontdoor.host_allowed("sub.dev.box", "0.0.0.0", allowed)
    assert frontdoor.host_allowed(None, "127.0.0.1", frozenset())  # HTTP/1.0 without Host


def test_escape_makes_control_characters_visible() -> None:
    assert frontdoor.escape("GET /plain?q=é ✓") == "GET /plain?q=é ✓"  # untouched, same object
    assert frontdoor.escape("/a\x1b[31mb\x07") == "/a\\x1b[31mb\\x07"
    assert frontdoor.escape("x\rINFO forged\nline\x00") == "x\\x0dINFO forged\\x0aline\\x00"
    assert frontdoor.escape("\x7f\x85\x9f\xa0") == "\\x7f\\x85\\x9f\xa0"  # C1 escaped, NBSP kept
    # A backslash the client typed cannot pass for an escape lwa wrote.
    assert frontdoor.escape("\\x1b") == "\\\\x1b"
    escaped = frontdoor.escape("".join(map(chr, range(0x100))))
    assert all(0x20 <= ord(c) < 0x7F or ord(c) >= 0xA0 for c in escaped)
