"""Property-based tests of the translators (pure functions, no sockets).

1. Whatever JSON arrives (hypothesis JSON trees, HTTP-shaped events with hostile strings, and
   mutations of the real events in tests/events), `classify` + `to_request` either return
   or raise InvocationError, never anything else.
2. Every AppRequest they return is valid HTTP/1.1: the method is a token; the target is
   origin-form, printable ASCII, no `#`, every `%` an escape; header names are tokens, values
   free of CR/LF/NUL; no hop-by-hop or framing header (lwa frames the body itself).
3. Paths and queries round-trip: decoding the target gives back the event's bytes.
4. The response translation round-trips any body bytes for every source: base64-decoding (or
   UTF-8-encoding the text) gives the app's bytes back; pass-through by its own rules.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
from urllib.parse import unquote_to_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwa import sources
from lwa.config import load_config
from lwa.errors import InvocationError
from lwa.model import AppRequest, AppResponse, Invocation
from lwa.sources import alb, apigw_v1, apigw_v2, passthrough
from tests.support.events import MANIFEST, load_event

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONFIG = load_config({"AWS_LAMBDA_FUNCTION_NAME": "fn"})
BASE_CONFIG = load_config({"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LWA_REMOVE_BASE_PATH": "/api"})
INV = Invocation(request_id="rid-1", deadline_ms=1_700_000_000_000, body=b"{}", function_arn="arn:fn",
                 trace_id="Root=1-abc", tenant_id="tenant-1")
REAL_EVENTS = [load_event(name) for name in sorted(MANIFEST)]

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FRAMING = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
           "proxy-connection", "expect"}

# ---- strategies --------------------------------------------------------------------------------

# every code point json.loads can hand over (lone surrogates included), biased towards the nasty ones
any_char = st.characters(exclude_categories=())
NASTY = list(" \t\r\n\x00\x01\x7f?#%&=+;:/@\"<>[]{}|\\^`'~é日😀\u2028\x85\ud800\udfff") + list("abcXYZ019-_./")
nasty_text = st.one_of(
    st.text(st.sampled_from(NASTY), max_size=20),
    st.text(any_char, max_size=8),
    st.sampled_from(["", "%41", "%zz", "%2F", "/a%41b%zz%", "GET", "/"]),
)
# almost-tokens: a token with a stray byte after it (`$` in a regex also matches before a final "\n")
near_tokens = st.tuples(st.text(st.sampled_from("!#$%&'*+-.^_`|~09AZaz"), min_size=1, max_size=8),
                        st.sampled_from(["", "", "\n", "\r\n", " ", "\t", "\x00", "é", ":"])).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), nasty_text)
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                          st.dictionaries(nasty_text, kids, max_size=5)),
                           max_leaves=12)
_ABSENT = object()


def _weighted(*pairs):
    """One of the strategies, picked with the given integer weights."""
    table = [strategy for weight, strategy in pairs for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


def _maybe(strategy):
    """Usually a well-typed value, sometimes any JSON at all (wrong types), sometimes absent."""
    return _weighted((8, strategy), (1, json_values), (1, st.just(_ABSENT)))


valid_methods = st.sampled_from(["GET", "POST", "put", "DELETE", "PATCH", "HEAD", "OPTIONS", "", "X-Y_Z!"])
methods = _weighted((8, valid_methods), (1, near_tokens), (1, nasty_text))
header_names = st.one_of(near_tokens, nasty_text)
header_maps = st.dictionaries(header_names, nasty_text, max_size=6)
multi_maps = st.dictionaries(header_names, st.lists(nasty_text, max_size=3), max_size=6)
bodies = st.one_of(st.none(), nasty_text, st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()))


def _drop_absent(d: dict) -> dict:
    return {k: (_drop_absent(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not _ABSENT}


@st.composite
def v1_events(draw):
    return _drop_absent({
        "resource": "/{proxy+}", "path": draw(_maybe(nasty_text)), "httpMethod": draw(_maybe(methods)),
        "headers": draw(_maybe(header_maps)), "multiValueHeaders": draw(_maybe(multi_maps)),
        "queryStringParameters": draw(_maybe(header_maps)),
        "multiValueQueryStringParameters": draw(_maybe(multi_maps)),
        "requestContext": draw(st.one_of(st.just({"stage": "prod", "requestId": "r"}), st.dictionaries(nasty_text,
                                                                                                          json_values))),
        "body": draw(_maybe(bodies)), "isBase64Encoded": draw(_maybe(st.booleans())),
    })


@st.composite
def v2_events(draw):
    rc = {"http": {"method": draw(_maybe(methods)), "path": "/"}, "stage": "$default"}
    if draw(st.booleans()):
        rc["extra"] = draw(json_values)
    return _drop_absent({
        "version": "2.0", "rawPath": draw(_maybe(nasty_text)), "rawQueryString": draw(_maybe(nasty_text)),
        "cookies": draw(_maybe(st.lists(nasty_text, max_size=3))), "headers": draw(_maybe(header_maps)),
        "queryStringParameters": draw(_maybe(header_maps)), "requestContext": rc,
        "body": draw(_maybe(bodies)), "isBase64Encoded": draw(_maybe(st.booleans())),
    })


@st.composite
def alb_events(draw):
    event = {"httpMethod": draw(_maybe(methods)), "path": draw(_maybe(nasty_text)),
             "requestContext": {"elb": {"targetGroupArn": "arn:tg"}},
             "body": draw(_maybe(bodies)), "isBase64Encoded": draw(_maybe(st.booleans()))}
    if draw(st.booleans()):
        event.update(multiValueHeaders=draw(_maybe(multi_maps)),
                     multiValueQueryStringParameters=draw(_maybe(multi_maps)))
    else:
        event.update(headers=draw(_maybe(header_maps)), queryStringParameters=draw(_maybe(header_maps)))
    return _drop_absent(event)


http_events = st.one_of(v1_events(), v2_events(), alb_events())


@st.composite
def mutated_real_events(draw):
    """A real event with a few random edits: a value replaced, a key dropped or added, anywhere."""
    event = copy.deepcopy(draw(st.sampled_from(REAL_EVENTS)))
    for _ in range(draw(st.integers(1, 4))):
        node = event
        while True:  # walk down a random path
            keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                node = child
                continue
            action = draw(st.sampled_from(["replace", "drop", "add"]))
            if action == "replace":
                node[key] = draw(json_values)
            elif action == "drop" and isinstance(node, dict):
                del node[key]
            elif isinstance(node, dict):
                node[draw(nasty_text)] = draw(json_values)
            break
    return event


# ---- the checks --------------------------------------------------------------------------------

def _translate(event, config=CONFIG) -> AppRequest | None:
    """classify + to_request; None when the event was refused with an InvocationError."""
    source = sources.classify(event)
    try:
        req = source.to_request(event, INV, config)
    except InvocationError:
        return None
    assert_valid_http(req, source)
    return req


def assert_valid_http(req: AppRequest, source) -> None:
    assert TOKEN.fullmatch(req.method), repr(req.method)
    target = req.target
    assert target.startswith("/"), target
    assert all(0x21 <= ord(c) <= 0x7E for c in target), repr(target)
    assert "#" not in target
    path = target.split("?", 1)[0]  # a bare % in the query stays as the client sent it
    for m in re.finditer("%", path):
        assert re.fullmatch(r"[0-9A-Fa-f]{2}", path[m.start() + 1:m.start() + 3]), repr(target)
    names = [name for name, _ in req.headers]
    for name, value in req.headers:
        assert TOKEN.fullmatch(name), repr(name)
        assert name.lower() not in FRAMING, name
        assert not set(value.encode("utf-8", "surrogatepass")) & {0x00, 0x0A, 0x0D}, repr(value)
    lower = [n.lower() for n in names]
    assert lower.count("host") <= 1
    assert lower.count("x-amzn-lambda-context") == 1
    assert lower.count("x-amzn-request-context") == (0 if source is passthrough else 1)
    assert isinstance(req.body, bytes)


@SETTINGS
@given(json_values)
def test_any_json_value_translates_or_fails_cleanly(value) -> None:
    _translate(value)


@SETTINGS
@given(http_events)
def test_http_shaped_events_translate_to_valid_http_or_fail_cleanly(event) -> None:
    _translate(event)
    _translate(event, BASE_CONFIG)


@SETTINGS
@given(mutated_real_events())
def test_mutated_real_events_translate_to_valid_http_or_fail_cleanly(event) -> None:
    _translate(event)


def test_the_generators_reach_the_translators() -> None:
    """Guard against vacuous properties: well-typed hostile events are mostly accepted."""
    accepted = {"ok": 0, "refused": 0}

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(http_events)
    def count(event) -> None:
        accepted["ok" if _translate(event) is not None else "refused"] += 1

    count()
    assert accepted["ok"] >= 6, accepted


# ---- round trips of paths and queries ------------------------------------------------------------

paths = nasty_text


@SETTINGS
@given(paths, st.sampled_from(["v1", "v2", "alb"]))
def test_paths_round_trip_through_percent_encoding(raw, kind) -> None:
    if kind == "v2":
        event = {"version": "2.0", "rawPath": raw, "requestContext": {"http": {"method": "GET"}}}
    elif kind == "v1":
        event = {"httpMethod": "GET", "path": raw, "requestContext": {}}
    else:
        event = {"httpMethod": "GET", "path": raw, "requestContext": {"elb": {}}}
    req = _translate(event)
    assert req is not None
    path, _, query = req.target.partition("?")
    assert query == ""
    expected = raw.encode("utf-8", "surrogatepass")
    expected = expected if expected.startswith(b"/") else b"/" + expected
    # lwa never decodes: an escape already in the event stays an escape, so compare decoded forms
    assert unquote_to_bytes(path) == unquote_to_bytes(expected)


@SETTINGS
@given(st.lists(st.tuples(paths, paths), max_size=6))
def test_v1_query_pairs_round_trip_exactly(pairs) -> None:
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        multi.setdefault(k, []).append(v)
    event = {"httpMethod": "GET", "path": "/q", "requestContext": {}, "multiValueQueryStringParameters": multi}
    req = _translate(event)
    assert req is not None
    _, _, query = req.target.partition("?")
    got = [tuple(unquote_to_bytes(part) for part in item.split("=", 1)) for item in query.split("&")] if query else []
    want = [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
            for k, vs in multi.items() for v in vs]
    assert got == want


@SETTINGS
@given(paths)
def test_v2_raw_query_round_trips(raw) -> None:
    event = {"version": "2.0", "rawPath": "/q", "rawQueryString": raw, "requestContext": {"http": {"method": "GET"}}}
    req = _translate(event)
    assert req is not None
    _, _, query = req.target.partition("?")
    assert unquote_to_bytes(query) == unquote_to_bytes(raw.encode("utf-8", "surrogatepass"))


# ---- response bodies round-trip for every source -------------------------------------------------

content_types = st.one_of(
    st.none(),
    st.sampled_from(["text/plain", "text/html; charset=utf-8", "application/json", "application/xml",
                     "application/javascript", "application/yaml", "image/svg+xml", "application/problem+json",
                     "image/png", "application/octet-stream", "application/x-www-form-urlencoded", "TEXT/PLAIN",
                     "text/plain; charset=latin-1", "audio/mpeg", ""]),
    st.text(max_size=20),
)
large_bodies = st.builds(lambda n, seed: random.Random(seed).randbytes(n), st.integers(2900, 12000), st.integers())
response_bodies = st.one_of(st.binary(max_size=512), st.text(max_size=200).map(lambda t: t.encode("utf-8")),
                            st.sampled_from([b"", b"\xff\xfe", b"\x00", bytes(range(256)), b'{"a":1}', b"null"]),
                            large_bodies)  # base64 of 4 KB+ takes the envelope's splice path


@st.composite
def app_responses(draw) -> AppResponse:
    headers = []
    ctype = draw(content_types)
    if ctype is not None:
        headers.append(("content-type", ctype))
    if draw(st.integers(0, 5)) == 0:
        headers.append(("content-encoding", "gzip"))
    if draw(st.integers(0, 5)) == 0:
        headers.append(("x-lambda-http-content-encoding", "text"))
    for _ in range(draw(st.integers(0, 3))):
        headers.append((draw(st.sampled_from(["set-cookie", "x-multi", "connection"])), draw(st.text(max_size=10))))
    return AppResponse(draw(st.integers(100, 599)), tuple(headers), draw(response_bodies))


def _envelope_body(envelope: dict) -> bytes:
    if envelope["isBase64Encoded"]:
        return base64.b64decode(envelope["body"], validate=True)
    return envelope["body"].encode("utf-8")


@SETTINGS
@given(app_responses(), st.sampled_from([
    (apigw_v1, {}), (apigw_v2, {}), (alb, {"headers": {}}), (alb, {"multiValueHeaders": {}})]))
def test_http_response_bodies_round_trip_byte_exact(resp, source_event) -> None:
    source, event = source_event
    payload = source.to_response(resp, event, CONFIG)
    envelope = json.loads(payload.decode("utf-8"))
    assert envelope["statusCode"] == resp.status
    assert _envelope_body(envelope) == resp.body


@SETTINGS
@given(app_responses())
def test_pass_through_answers_keep_every_byte(resp) -> None:
    resp = AppResponse(200, resp.headers, resp.body)
    payload = passthrough.to_response(resp, {}, CONFIG)
    value = json.loads(payload)  # always one JSON value, whatever the app sent
    body = resp.body.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM is not part of the answer
    if not body.strip():
        assert value is None
    elif payload == body:
        pass  # valid JSON goes back untouched, byte for byte
    else:
        assert isinstance(value, str)
        assert value.encode("utf-8", "surrogatepass") == body or base64.b64decode(value) == body
