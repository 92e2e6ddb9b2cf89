"""Compression and binary bodies end to end, buffered mode (docs/behaviour.md §5.5, §6.3, §6.5, decisions
"compression" and "text vs base64"): a real `python -m lwa` between the fake Runtime API and a
raw-socket app, over v1, v2 and ALB (both header modes) events."""

from __future__ import annotations

import base64
import copy
import gzip
from types import SimpleNamespace

import brotli
import pytest

from tests.support.apps import AppServer, fixed, routes
from tests.support.events import REPO, load_event
from tests.support.process import Lwa, base_env
from tests.support.runtime_api import RuntimeApiServer

EVENTS = {
    "v1": "apigw-v1/rust-runtime__example-apigw-request.json",
    "v2": "function-url/rust-runtime__lambda_function_url_request.json",
    "alb-multi": "alb/rust-runtime__example-alb-lambda-target-request-multivalue-headers.json",
    "alb-single": "alb/rust-runtime__example-alb-lambda-target-request-headers-only.json",
}
KINDS = list(EVENTS)
ALL_BYTES = bytes(range(256))
TEXT = b"<!doctype html><title>t</title>" + b"<p>lorem ipsum dolor sit amet</p>" * 60
SVG = b'<svg xmlns="http://www.w3.org/2000/svg">' + b'<rect width="1" height="1"/>' * 60 + b"</svg>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def http_event(kind: str, path: str, *, method: str = "GET", headers: dict | None = None,
               body: bytes | str | None = None, b64: bool = False) -> dict:
    """A real event of that kind aimed at `method path`, its headers replaced by `headers`
    (a value may be a list: several header lines, for the kinds that can carry them)."""
    headers = {"host": "example.test", **(headers or {})}
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode() if b64 else body.decode()
    event = copy.deepcopy(load_event(EVENTS[kind]))
    event.update(body=body, isBase64Encoded=b64)
    if kind == "v2":
        event.update(rawPath=path, rawQueryString="", cookies=[],
                     headers={k: ", ".join(v) if isinstance(v, list) else v for k, v in headers.items()})
        event["requestContext"]["http"].update(method=method, path=path)
        return event
    event.update(path=path, httpMethod=method)
    multi = {k: v if isinstance(v, list) else [v] for k, v in headers.items()}
    if kind == "v1":
        event["requestContext"]["httpMethod"] = method
        event.update(multiValueHeaders=multi, headers={k: v[-1] for k, v in multi.items()})
    elif kind == "alb-multi":
        event["multiValueHeaders"] = multi
    else:
        event["headers"] = {k: v[-1] for k, v in multi.items()}
    return event


def envelope_headers(envelope: dict) -> dict[str, list[str]]:
    if envelope.get("multiValueHeaders"):
        return envelope["multiValueHeaders"]
    return {k: [v] for k, v in envelope["headers"].items()}


def body_bytes(envelope: dict) -> bytes:
    if envelope["isBase64Encoded"]:
        return base64.b64decode(envelope["body"], validate=True)
    return envelope["body"].encode("utf-8")


def invoke(runtime: RuntimeApiServer, event: dict) -> dict:
    rid = runtime.push(event)
    result = runtime.wait_result(rid, 10)
    assert result.kind == "response", result.body[:500]
    assert len(runtime.results_for(rid)) == 1
    return result.json()


def _echo_bytes(seen, w):
    """The request body back, with the Content-Type the request asked for in X-Want-Type."""
    ctype = seen.header("x-want-type")
    headers = [("Content-Type", ctype)] if ctype else []
    w.respond(200, headers, seen.body)


@pytest.fixture(scope="module")
def app():
    gz = gzip.compress(TEXT, mtime=0)
    table = {
        "/text": fixed(200, [("Content-Type", "text/html; charset=utf-8"), ("Accept-Ranges", "bytes")], TEXT),
        "/small": fixed(200, [("Content-Type", "text/plain")], b"tiny body"),
        "/png": fixed(200, [("Content-Type", "image/png")], PNG),
        "/svg": fixed(200, [("Content-Type", "image/svg+xml")], SVG),
        "/octets": fixed(200, [("Content-Type", "application/octet-stream")], ALL_BYTES * 4),
        "/pre-gzipped": fixed(200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], gz),
        "/sse": fixed(200, [("Content-Type", "text/event-stream")], b"data: x\n\n" * 20),
        "/vary": fixed(200, [("Content-Type", "text/html"), ("Vary", "Origin, Accept-Encoding")], TEXT),
        "/forced": fixed(200, [("Content-Type", "application/octet-stream"),
                               ("X-Lambda-Http-Content-Encoding", "text")], b"col1,col2\n\xc3\xa9,2\n"),
        "/echo": _echo_bytes,
    }
    with AppServer(routes(table)) as server:
        yield server


def _stack(app, **env):
    runtime = RuntimeApiServer().start()
    lwa = Lwa(base_env(runtime.address, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz", **env))
    runtime.wait_polling(1, timeout=15)
    return SimpleNamespace(runtime=runtime, lwa=lwa, app=app)


def _stop(stack) -> None:
    try:
        code = stack.lwa.stop()
    finally:
        stack.runtime.stop()
    assert code == 0, stack.lwa.output


@pytest.fixture(scope="module")
def compressing(app):
    stack = _stack(app, AWS_LWA_ENABLE_COMPRESSION="true")
    yield stack
    _stop(stack)


@pytest.fixture(scope="module")
def plain(app):
    stack = _stack(app)
    yield stack
    _stop(stack)


# ---- compression ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_gzip_for_every_source(compressing, kind):
    envelope = invoke(compressing.runtime, http_event(kind, "/text", headers={"Accept-Encoding": "gzip, deflate"}))
    headers = envelope_headers(envelope)
    assert envelope["statusCode"] == 200 and envelope["isBase64Encoded"] is True
    assert headers["content-encoding"] == ["gzip"]
    compressed = body_bytes(envelope)
    assert gzip.decompress(compressed) == TEXT and len(compressed) < len(TEXT) // 4
    assert headers["content-length"] == [str(len(compressed))]
    assert any("accept-encoding" in v.lower() for v in headers["vary"])
    assert "accept-ranges" not in headers


@pytest.mark.parametrize("accept, coding", [
    ("gzip, deflate, br", "br"),  # equal q: br preferred
    ("br;q=0.5, gzip", "gzip"),
    ("br;q=0, gzip;q=0.2", "gzip"),
    ("br;q=0.8, gzip;q=0.9, identity;q=0.1", "gzip"),
    ("x-gzip", "gzip"),
    ("identity", None),
    ("deflate, zstd, *", None),
    ("br;q=0, gzip;q=0", None),
])
def test_coding_follows_the_event_accept_encoding(compressing, accept, coding):
    envelope = invoke(compressing.runtime, http_event("v2", "/text", headers={"accept-encoding": accept}))
    headers = envelope_headers(envelope)
    assert headers["vary"] == ["accept-encoding"]  # also when nothing was acceptable (docs/behaviour.md §9.33)
    data = body_bytes(envelope)
    if coding is None:
        assert "content-encoding" not in headers and envelope["isBase64Encoded"] is False
        assert data == TEXT and headers["content-length"] == [str(len(TEXT))]
    else:
        assert headers["content-encoding"] == [coding] and envelope["isBase64Encoded"] is True
        assert (brotli.decompress(data) if coding == "br" else gzip.decompress(data)) == TEXT
        assert headers["content-length"] == [str(len(data))]


def test_repeated_accept_encoding_lines_are_read_together(compressing):
    """v1 multiValueHeaders can carry the header twice; q-values across both lines count."""
    event = http_event("v1", "/text", headers={"Accept-Encoding": ["gzip;q=0.5", "br;q=0.9"]})
    envelope = invoke(compressing.runtime, event)
    assert envelope["multiValueHeaders"]["content-encoding"] == ["br"]
    assert brotli.decompress(body_bytes(envelope)) == TEXT


def test_no_accept_encoding_means_identity(compressing):
    envelope = invoke(compressing.runtime, http_event("alb-single", "/text"))
    assert "content-encoding" not in envelope["headers"] and envelope["body"] == TEXT.decode()


@pytest.mark.parametrize("path, expected_body, expected_b64", [
    ("/small", b"tiny body", False),  # under 32 bytes
    ("/png", PNG, True),  # image/*
    ("/sse", b"data: x\n\n" * 20, False),  # event streams
], ids=["small", "image", "event-stream"])
def test_not_compressed(compressing, path, expected_body, expected_b64):
    envelope = invoke(compressing.runtime, http_event("v2", path, headers={"accept-encoding": "gzip, br"}))
    headers = envelope_headers(envelope)
    assert "content-encoding" not in headers and "vary" not in headers
    assert envelope["isBase64Encoded"] is expected_b64 and body_bytes(envelope) == expected_body
    assert headers["content-length"] == [str(len(expected_body))]


def test_svg_is_compressed(compressing):
    envelope = invoke(compressing.runtime, http_event("v2", "/svg", headers={"accept-encoding": "br"}))
    assert envelope["headers"]["content-encoding"] == "br"
    assert brotli.decompress(body_bytes(envelope)) == SVG


def test_octet_stream_is_compressed(compressing):
    """docs/behaviour.md §9.30: application/octet-stream is compressible (upstream's test never reached the layer)."""
    envelope = invoke(compressing.runtime, http_event("v2", "/octets", headers={"accept-encoding": "gzip"}))
    assert envelope["headers"]["content-encoding"] == "gzip"
    assert gzip.decompress(body_bytes(envelope)) == ALL_BYTES * 4


def test_already_encoded_body_passes_unchanged(compressing):
    gz = gzip.compress(TEXT, mtime=0)
    envelope = invoke(compressing.runtime, http_event("v1", "/pre-gzipped", headers={"Accept-Encoding": "br"}))
    headers = envelope["multiValueHeaders"]
    assert headers["content-encoding"] == ["gzip"] and "vary" not in headers
    assert headers["content-length"] == [str(len(gz))]
    assert envelope["isBase64Encoded"] is True and body_bytes(envelope) == gz


def test_existing_vary_is_not_repeated(compressing):
    envelope = invoke(compressing.runtime, http_event("v1", "/vary", headers={"Accept-Encoding": "gzip"}))
    assert envelope["multiValueHeaders"]["vary"] == ["Origin, Accept-Encoding"]
    assert gzip.decompress(body_bytes(envelope)) == TEXT


def _mapped(pid: int, name: str) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return name in f.read()


def test_brotli_is_loaded_only_when_a_client_wants_it(app, run_lwa):
    with RuntimeApiServer() as runtime:
        lwa = run_lwa(runtime, app.port, AWS_LWA_ENABLE_COMPRESSION="true", AWS_LWA_READINESS_CHECK_PATH="/healthz")
        runtime.wait_polling(1, timeout=15)
        for accept in ("gzip", "gzip, deflate", "br;q=0, gzip"):
            envelope = invoke(runtime, http_event("v2", "/text", headers={"accept-encoding": accept}))
            assert envelope["headers"]["content-encoding"] == "gzip"
        assert not _mapped(lwa.proc.pid, "_brotli"), "brotli was loaded for gzip-only clients"
        envelope = invoke(runtime, http_event("v2", "/text", headers={"accept-encoding": "br"}))
        assert envelope["headers"]["content-encoding"] == "br"
        assert _mapped(lwa.proc.pid, "_brotli")
        assert lwa.stop() == 0, lwa.output  # before the Runtime API goes away


def test_unimportable_brotli_falls_back_to_gzip_with_one_warning(app, run_lwa, tmp_path):
    (tmp_path / "brotli.py").write_text('raise ImportError("brotli hidden by the test")\n')
    with RuntimeApiServer() as runtime:
        lwa = run_lwa(runtime, app.port, AWS_LWA_ENABLE_COMPRESSION="true", AWS_LWA_READINESS_CHECK_PATH="/healthz",
                      PYTHONPATH=f"{tmp_path}:{REPO}")
        runtime.wait_polling(1, timeout=15)
        for accept in ("br", "gzip, br", "br;q=1, gzip;q=0.1"):
            envelope = invoke(runtime, http_event("v2", "/text", headers={"accept-encoding": accept}))
            assert envelope["headers"]["content-encoding"] == "gzip"
            assert gzip.decompress(body_bytes(envelope)) == TEXT
        warnings = [line for line in lwa.lines if "brotli cannot be imported" in line]
        assert len(warnings) == 1, lwa.output
        assert warnings[0].startswith("WARN") and "gzip" in warnings[0]
        assert lwa.stop() == 0, lwa.output  # before the Runtime API goes away


# ---- binary and text bodies ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("payload", [ALL_BYTES, ALL_BYTES[::-1] * 3], ids=["0-255", "255-0"])
def test_all_byte_values_round_trip_both_ways(plain, kind, payload):
    event = http_event(kind, "/echo", method="POST", headers={"x-want-type": "application/octet-stream"},
                       body=payload, b64=True)
    envelope = invoke(plain.runtime, event)
    seen = plain.app.requests[-1]
    assert seen.body == payload and seen.header("content-length") == str(len(payload))
    assert envelope["isBase64Encoded"] is True
    assert base64.b64decode(envelope["body"], validate=True) == payload


@pytest.mark.parametrize("kind", KINDS)
def test_unencoded_text_body_reaches_the_app_as_utf8(plain, kind):
    text = "caf\u00e9 \u2713 \U0001f600 {\"k\": 1}"
    event = http_event(kind, "/echo", method="PUT", headers={"x-want-type": "application/json"}, body=text)
    envelope = invoke(plain.runtime, event)
    assert plain.app.requests[-1].body == text.encode()
    assert envelope["isBase64Encoded"] is False and envelope["body"] == text


@pytest.mark.parametrize("ctype, as_text", [
    ("image/png", False), ("image/jpeg", False), ("application/pdf", False), ("application/octet-stream", False),
    ("application/zip", False), ("application/x-www-form-urlencoded", False), ("TEXT/PLAIN", False),
    ("text/plain; charset=utf-8", True), ("text/html", True), ("text/csv", True), ("application/json", True),
    ("application/xml", True), ("application/javascript", True), ("application/yaml", True),
    ("application/ld+json", True), ("application/atom+xml", True), ("application/vnd.app+yaml", True),
    ("image/svg+xml", True), (None, True),
])
def test_text_or_base64_by_content_type(plain, ctype, as_text):
    payload = "plain ASCII and UTF-8: \u00e9\u2713".encode()
    headers = {"x-want-type": ctype} if ctype else {}
    envelope = invoke(plain.runtime, http_event("v2", "/echo", method="POST", headers=headers, body=payload, b64=True))
    assert envelope["isBase64Encoded"] is (not as_text)
    assert body_bytes(envelope) == payload
    if as_text:
        assert envelope["body"] == payload.decode()


@pytest.mark.parametrize("kind", KINDS)
def test_textual_type_with_invalid_utf8_goes_back_base64(plain, kind):
    payload = b"caf\xe9 latin-1, not UTF-8"
    event = http_event(kind, "/echo", method="POST", headers={"x-want-type": "text/plain; charset=iso-8859-1"},
                       body=payload, b64=True)
    envelope = invoke(plain.runtime, event)
    assert envelope["isBase64Encoded"] is True and body_bytes(envelope) == payload


def test_content_encoding_means_base64_without_compression(plain):
    envelope = invoke(plain.runtime, http_event("v2", "/pre-gzipped", headers={"accept-encoding": "gzip"}))
    assert envelope["headers"]["content-encoding"] == "gzip" and "vary" not in envelope["headers"]
    assert envelope["isBase64Encoded"] is True and gzip.decompress(body_bytes(envelope)) == TEXT


def test_forced_text_header_is_honoured_and_removed(plain):
    envelope = invoke(plain.runtime, http_event("v1", "/forced"))
    assert envelope["isBase64Encoded"] is False and envelope["body"] == "col1,col2\n\u00e9,2\n"
    assert "x-lambda-http-content-encoding" not in envelope["multiValueHeaders"]
