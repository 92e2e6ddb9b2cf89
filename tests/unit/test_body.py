"""`lwa.sources.body`: base64 in from the event, text-or-base64 out (docs/behaviour.md §5.5, §6.3, decision
"text vs base64"). Pure functions, no sockets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwa.errors import InvalidEventError
from lwa.sources.body import is_text_type, request_body, response_field
from tests.support.events import event_files, load_event

ALL_BYTES = bytes(range(256))


# ---- request bodies --------------------------------------------------------------------------

@pytest.mark.parametrize("name", event_files("v1", "v2", "alb"))
def test_real_event_bodies_decode_to_what_the_client_sent(name):
    event = load_event(name)
    body = event.get("body")
    if event.get("isBase64Encoded") and body:
        try:
            expected = base64.b64decode(body, validate=True)
        except ValueError:  # a real payload that marks plain text as base64: a clear error
            with pytest.raises(InvalidEventError, match="base64"):
                request_body(event)
            return
    else:
        expected = (body or "").encode("utf-8")
    assert request_body(event) == expected


@pytest.mark.parametrize("event, expected", [
    ({}, b""),
    ({"body": None, "isBase64Encoded": True}, b""),
    ({"body": ""}, b""),
    ({"body": "h\u00e9llo \u2713", "isBase64Encoded": False}, "h\u00e9llo \u2713".encode()),
    ({"body": "aGk=", "isBase64Encoded": False}, b"aGk="),  # not marked: taken literally
    ({"body": "aGk=", "isBase64Encoded": True}, b"hi"),
    ({"body": "aGk", "isBase64Encoded": True}, b"hi"),  # missing padding tolerated
    ({"body": " aGk=\n", "isBase64Encoded": True}, b"hi"),
    ({"body": base64.b64encode(ALL_BYTES).decode(), "isBase64Encoded": True}, ALL_BYTES),
], ids=["missing", "null", "empty", "text", "unmarked-b64", "b64", "unpadded", "padded-ws", "all-bytes"])
def test_request_body(event, expected):
    assert request_body(event) == expected


@pytest.mark.parametrize("event, message", [
    ({"body": "not base64!", "isBase64Encoded": True}, "not valid base64"),
    ({"body": "aGk=x", "isBase64Encoded": True}, "not valid base64"),
    ({"body": {"a": 1}}, "body must be a string"),
    ({"body": "x", "isBase64Encoded": "true"}, "isBase64Encoded must be a boolean"),
    ({"body": "aGk=", "isBase64Encoded": 1}, "isBase64Encoded must be a boolean"),
])
def test_bad_request_bodies_fail_the_event(event, message):
    with pytest.raises(InvalidEventError, match=message):
        request_body(event)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_survive_base64_in(data):
    assert request_body({"body": base64.b64encode(data).decode(), "isBase64Encoded": True}) == data


# ---- text or binary (docs/behaviour.md §6.3) ----------------------------------------------------------

TEXT_TYPES = [
    None, "text/plain", "text/html; charset=utf-8", "text/event-stream", "text/javascript", "text/csv",
    "application/json", "application/json; charset=utf-8", "application/javascript", "application/xml",
    "application/yaml", "application/ld+json", "application/problem+json; charset=utf-8",
    "application/graphql-response+json; charset=utf-8", "image/svg+xml", "application/atom+xml",
    "custom/vdn+yaml", " application/vnd.api+json ",
    "application/json+zip",  # prefix rule (§9.25): still "application/json..."
]
BINARY_TYPES = [
    "image/png", "image/jpeg", "application/pdf", "application/octet-stream", "application/zip",
    "application/x-www-form-urlencoded", "audio/mpeg", "font/woff2",
    "TEXT/HTML",  # rule 3 is case-sensitive (§9.25)
    " text/plain",  # rule 3 is not trimmed, and the trimmed media type has no textual suffix
    "application/vnd.api+zip", "application/x-yaml",
]


@pytest.mark.parametrize("ctype", TEXT_TYPES, ids=repr)
def test_textual_types(ctype):
    assert is_text_type(ctype)


@pytest.mark.parametrize("ctype", BINARY_TYPES, ids=repr)
def test_binary_types(ctype):
    assert not is_text_type(ctype)


def _headers(ctype: str | None, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return ([("content-type", ctype)] if ctype is not None else []) + list(extra)


@pytest.mark.parametrize("ctype", TEXT_TYPES, ids=repr)
def test_textual_utf8_goes_back_as_text(ctype):
    body = '{"caf\u00e9": "\u2713 \U0001f600"}'.encode()
    assert response_field(body, _headers(ctype)) == (body.decode(), False)


@pytest.mark.parametrize("ctype", BINARY_TYPES, ids=repr)
def test_binary_types_go_back_base64_even_when_ascii(ctype):
    text, is_b64 = response_field(b"%PDF-1.7 plain ascii", _headers(ctype))
    assert is_b64 and base64.b64decode(text) == b"%PDF-1.7 plain ascii"


@pytest.mark.parametrize("ctype", TEXT_TYPES + BINARY_TYPES, ids=repr)
def test_all_256_byte_values_round_trip_whatever_the_type(ctype):
    text, is_b64 = response_field(ALL_BYTES, _headers(ctype))
    assert is_b64, "invalid UTF-8 must never go back as text"
    assert base64.b64decode(text, validate=True) == ALL_BYTES


@pytest.mark.parametrize("body", [b"\xff\xfe", b"caf\xe9", b"\xed\xa0\x80", b"ok\x80", b"\xc3"],
                         ids=["bom16", "latin1", "surrogate", "stray-cont", "truncated"])
def test_text_type_with_invalid_utf8_goes_back_base64(body):
    text, is_b64 = response_field(body, _headers("text/plain; charset=utf-8"))
    assert is_b64 and base64.b64decode(text) == body


def test_no_transcoding_of_declared_charsets():
    """Decision "text vs base64": no charset conversion; latin-1 bytes are not valid UTF-8, so they go as base64."""
    body = "caf\u00e9".encode("latin-1")
    text, is_b64 = response_field(body, _headers("text/plain; charset=iso-8859-1"))
    assert is_b64 and base64.b64decode(text) == body
    body = "\ufeffbom kept".encode()
    assert response_field(body, _headers("text/plain")) == ("\ufeffbom kept", False)


@pytest.mark.parametrize("encoding", ["gzip", "br", "identity", "x-custom"])
def test_any_content_encoding_means_base64(encoding):
    text, is_b64 = response_field(b"plain text", _headers("text/plain", ("content-encoding", encoding)))
    assert is_b64 and base64.b64decode(text) == b"plain text"


def test_no_content_type():
    assert response_field(b"hi \xe2\x9c\x93", []) == ("hi \u2713", False)
    assert response_field(b"\x89PNG", []) == (base64.b64encode(b"\x89PNG"), True)


def test_empty_bodies():
    assert response_field(b"", _headers("text/plain")) == ("", False)
    assert response_field(b"", _headers("application/octet-stream")) == (b"", True)


def test_force_text_header():
    forced = ("x-lambda-http-content-encoding", "text")
    assert response_field(b"csv,data", _headers("application/octet-stream", forced)) == ("csv,data", False)
    assert response_field(b"x", _headers("image/png", ("x-lambda-http-content-encoding", " TEXT "))) == ("x", False)
    # Forcing text never forces invalid UTF-8 into a string, nor overrides Content-Encoding.
    assert response_field(b"\xff", _headers("application/octet-stream", forced))[1] is True
    assert response_field(b"ok", _headers("text/plain", forced, ("content-encoding", "gzip")))[1] is True
    assert response_field(b"ok", _headers("application/octet-stream", ("x-lambda-http-content-encoding", "binary")))[1]


def test_first_content_type_decides():
    headers = [("content-type", "image/png"), ("content-type", "text/plain")]
    assert response_field(b"ok", headers)[1] is True


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256), st.sampled_from(TEXT_TYPES + BINARY_TYPES))
def test_response_body_is_always_lossless(data, ctype):
    text, is_b64 = response_field(data, _headers(ctype))
    assert (base64.b64decode(text, validate=True) if is_b64 else text.encode("utf-8")) == data
