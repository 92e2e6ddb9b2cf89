"""Trust at the app edge: whatever a real or hostile app answers, lwa ends that invocation with
exactly one clear outcome, promptly, with bounded memory, and nothing of it reaches the next one.

Stock servers nobody here wrote (Node's `http`, gunicorn + Flask, uvicorn) where the behaviour
exists in one; a raw socket app (tests/support/raw_app.py) for exact bytes no stock server sends.
lwa runs as a real subprocess against the fake Runtime API (tests/support/runtime_api.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support import raw_app
from tests.support.loopback import free_port
from tests.support.runtime_api import RuntimeApiServer

STOCK = Path(__file__).resolve().parent.parent / "stock"
WAIT_S = 10.0
MB = 1024 * 1024


# ---- helpers ------------------------------------------------------------------------------

def _event(method: str = "GET", path: str = "/", query: str = "", headers: dict | None = None,
           body: bytes | None = None) -> dict:
    """A hand-written Function URL (v2) event."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default",
                           "requestId": uuid.uuid4().hex},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def _sqs_event(n: int = 2) -> dict:
    """A hand-written SQS batch (pass-through)."""
    return {"Records": [{"messageId": f"m{i}", "eventSource": "aws:sqs", "body": "hi"} for i in range(n)]}


@contextlib.contextmanager
def _stock_server(cmd: list[str], port: int, cwd: Path = STOCK):
    """Run a stock server until /healthz answers; always stopped afterwards."""
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        until = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"{cmd[0]} exited: {proc.stderr.read().decode()[-2000:]}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            assert time.monotonic() < until, f"{cmd} never became ready"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _need(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} comes with the examples' deps (examples/install-deps.sh)")


@pytest.fixture
def start(run_lwa):
    def go(api: RuntimeApiServer, port: int, **env: str):
        env.setdefault("AWS_LWA_READINESS_CHECK_PATH", "/healthz")
        lwa = run_lwa(api, port, **env)
        api.wait_polling(1, timeout=15)
        return lwa
    return go


def _one(api: RuntimeApiServer, rid: str, timeout: float = WAIT_S):
    result = api.wait_result(rid, timeout)
    got = [r for r in api.results_for(rid) if not r.rejected]
    assert len(got) == 1, [(r.kind, r.body[:200]) for r in got]
    return result


def _error(result) -> dict:
    assert result.kind == "error", f"expected an error, got {result.kind}: {result.body[:300]!r}"
    return result.json()


def _vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _answer_keep_alive(data: bytes) -> raw_app.Handler:
    """Read the request, write `data` verbatim, keep the connection for the next request."""
    def handler(conn: raw_app.RawConn, req: raw_app.RawRequest) -> bool:
        conn.read_body(req)
        conn.send(data)
        return True
    return handler


# ---- 1xx: read past them, never take one as the answer ------------------------------------

@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
@pytest.mark.parametrize("mode", ["buffered", "response_stream"])
def test_early_hints_from_node_never_answer_and_never_leak(api, start, mode) -> None:
    """Node's res.writeEarlyHints() sends 103 first: each user gets their own 200 page and cookie."""
    port = free_port()
    with _stock_server(["node", "edge_app.js"], port):
        start(api, port, AWS_LWA_INVOKE_MODE=mode)
        for user in ("alice", "bob", "carol"):
            result = _one(api, api.push(_event("GET", "/hints", f"user={user}")))
            if mode == "buffered":
                assert result.kind == "response", result.body[:300]
                envelope = result.json()
                assert envelope["statusCode"] == 200
                assert envelope["body"] == f"<p>page for {user}</p>"
                assert envelope["cookies"] == [f"session={user}; HttpOnly"]
            else:
                assert result.kind == "stream", result.body[:300]
                assert result.prelude["statusCode"] == 200
                assert result.prelude["cookies"] == [f"session={user}; HttpOnly"]
                assert result.stream_body == f"<p>page for {user}</p>".encode()
        result = _one(api, api.push(_event("GET", "/processing", "user=dave")))  # 102 Processing
        body = result.json()["body"] if mode == "buffered" else result.stream_body.decode()
        assert body == "done for dave"


@pytest.mark.parametrize("codes", [[100], [102], [103], [104], [150], [199], [103, 103, 102]],
                         ids=lambda c: "-".join(map(str, c)))
def test_every_interim_code_is_read_past_and_the_connection_stays_usable(api, raw, start, codes) -> None:
    interim = b"".join(b"HTTP/1.1 %d Interim\r\nLink: </a>\r\n\r\n" % c for c in codes)
    raw.handler = _answer_keep_alive(interim + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
    start(api, raw.port)
    for _ in range(2):
        envelope = _one(api, api.push(_event("GET", "/x"))).json()
        assert (envelope["statusCode"], envelope["body"]) == (200, "final")
    reqs = raw.requests(lambda r: r.target == "/x")
    assert len(reqs) == 2 and reqs[0].conn_id == reqs[1].conn_id, "a clean answer keeps the connection"


def test_unrequested_101_is_refused_and_the_next_invocation_is_clean(api, raw, start) -> None:
    raw.handler = _answer_keep_alive(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nbinaryframes")
    start(api, raw.port)
    err = _error(_one(api, api.push(_event("GET", "/up"))))
    assert err["errorType"] == "AppResponseInvalid" and "101" in err["errorMessage"], err
    raw.handler = raw_app.ok
    envelope = _one(api, api.push(_event("GET", "/after"))).json()
    assert envelope["body"] == "ok /after"
    first, after = raw.requests(lambda r: r.target == "/up")[0], raw.requests(lambda r: r.target == "/after")[0]
    assert first.conn_id != after.conn_id


def test_bytes_after_an_answer_never_reach_the_next_invocation(api, raw, start) -> None:
    """An app that writes more than one answer: the extra bytes are never served to anyone."""
    stolen = b"HTTP/1.1 200 OK\r\nSet-Cookie: session=victim\r\nContent-Length: 6\r\n\r\nstolen"
    raw.handler = _answer_keep_alive(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" + stolen)
    start(api, raw.port)
    assert _one(api, api.push(_event("GET", "/first"))).json()["body"] == "hi"
    raw.handler = raw_app.ok
    for _ in range(3):
        envelope = _one(api, api.push(_event("GET", "/next"))).json()
        assert envelope["body"] == "ok /next" and envelope["cookies"] == []


# ---- malformed heads and framing: refused at once, in every mode --------------------------

BROKEN = {
    "space_in_header_name": b"HTTP/1.1 200 OK\r\nX-Powered By: legacy\r\nContent-Length: 2\r\n\r\nhi",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-Long: a\r\n continued\r\nContent-Length: 2\r\n\r\nhi",
    "bare_lf_head": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
    "bare_cr_in_head": b"HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 2\r\n\r\nhi",
    "conflicting_content_length": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!",
    "content_length_list_conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nhi!",
    "signed_content_length": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nhi",
    "transfer_encoding_and_content_length":
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "unknown_transfer_coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "http10_chunked": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    "header_line_over_limit": b"HTTP/1.1 200 OK\r\nX-Big: " + b"v" * 70000 + b"\r\nContent-Length: 2\r\n\r\nhi",
    "nul_in_value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nhi",
    "http2_status_line": b"HTTP/2 200\r\nContent-Length: 2\r\n\r\nhi",
    "chunk_size_0x": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nhi\r\n0\r\n\r\n",
    "chunk_without_crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n",
}
MODES = {
    "buffered": ({}, lambda: _event("GET", "/broken")),
    "streaming": ({"AWS_LWA_INVOKE_MODE": "response_stream"}, lambda: _event("GET", "/broken")),
    "compression": ({"AWS_LWA_ENABLE_COMPRESSION": "true"},
                    lambda: _event("GET", "/broken", headers={"accept-encoding": "gzip"})),
    "pass_through": ({}, _sqs_event),
}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_answer_is_one_prompt_named_error_and_never_reused(api, raw, start, name, mode) -> None:
    env, make_event = MODES[mode]
    # The app keeps the connection open and sends nothing more: waiting for bytes would only end
    # at the deadline (4 s here), so an answer well before it proves lwa decided at once.
    raw.handler = _answer_keep_alive(BROKEN[name])
    start(api, raw.port, **env)
    started = time.monotonic()
    rid = api.push(make_event(), deadline_ms=int((time.time() + 4) * 1000))
    result = _one(api, rid)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"{elapsed:.2f}s: lwa waited for the deadline"
    if result.kind == "stream":  # the head was fine; the body's framing broke mid-stream
        assert result.error_type == "Runtime.StreamError", result.trailers
        assert name.startswith("chunk"), name
    else:
        err = _error(result)
        assert err["errorType"] == "AppResponseInvalid", err
    raw.handler = raw_app.ok
    before = {r.conn_id for r in raw.requests()}
    after = _one(api, api.push(make_event()))
    if mode == "streaming":
        assert after.stream_body == b"ok /broken"
    elif mode == "pass_through":
        assert after.json() == "ok /events"
    else:
        assert after.json()["body"] == "ok /broken"
    assert raw.requests()[-1].conn_id not in before, "the broken connection was reused"


# ---- early answers ------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_node_answers_413_before_reading_a_big_upload_and_the_client_gets_it(api, start) -> None:
    port = free_port()
    with _stock_server(["node", "edge_app.js"], port):
        start(api, port)
        for _ in range(3):
            envelope = _one(api, api.push(_event("POST", "/upload", body=os.urandom(4 * MB)))).json()
            assert (envelope["statusCode"], envelope["body"]) == (413, "upload too large")
        envelope = _one(api, api.push(_event("POST", "/upload", body=b"x" * 1000))).json()
        assert envelope["body"] == "got 1000 bytes"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_early_hints_before_reading_a_big_upload_do_not_stop_the_upload(api, start) -> None:
    port = free_port()
    with _stock_server(["node", "edge_app.js"], port):
        start(api, port)
        for user in ("alice", "bob"):
            rid = api.push(_event("POST", "/hints-upload", f"user={user}", body=os.urandom(4 * MB)))
            envelope = _one(api, rid).json()
            assert (envelope["statusCode"], envelope["body"]) == (200, f"read {4 * MB} bytes for {user}")


def test_an_answer_then_reset_while_the_body_is_still_sending_is_delivered(api, raw, start) -> None:
    def refuse(conn: raw_app.RawConn, req: raw_app.RawRequest) -> bool:
        conn.send(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!")
        conn.reset()  # unread request bytes: the kernel answers the rest of the upload with RST
        return False
    raw.handler = refuse
    start(api, raw.port)
    envelope = _one(api, api.push(_event("POST", "/upload", body=os.urandom(4 * MB)))).json()
    assert (envelope["statusCode"], envelope["body"]) == (413, "too big!")
    assert len(raw.requests(lambda r: r.method == "POST")) == 1, "never sent twice"


# ---- memory stays bounded whatever the app sends ------------------------------------------

def _huge(ctype: bytes, size: int, pool: bytes) -> raw_app.Handler:
    """Answer `size` bytes cycled from `pool` (a random pool longer than any compression window
    stays incompressible)."""
    def handler(conn: raw_app.RawConn, req: raw_app.RawRequest) -> bool:
        conn.read_body(req)
        try:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (ctype, size))
            view = memoryview(pool)
            for i in range(size // MB):
                start = (i * MB) % len(pool)
                conn.send(view[start : start + MB])
        except OSError:
            pass  # lwa stopped reading: expected once the answer cannot fit
        return False
    return handler


HUGE = {  # mode: env, event, content type, block, expected outcome
    "buffered": ({}, lambda: _event("GET", "/big"), b"video/mp4", "ResponseTooLarge"),
    "compression_incompressible": ({"AWS_LWA_ENABLE_COMPRESSION": "true"},
                                   lambda: _event("GET", "/big", headers={"accept-encoding": "br, gzip"}),
                                   b"video/mp4", "ResponseTooLarge"),
    "compression_compressible": ({"AWS_LWA_ENABLE_COMPRESSION": "true"},
                                 lambda: _event("GET", "/big", headers={"accept-encoding": "gzip"}),
                                 b"text/plain", "response"),
    "streaming": ({"AWS_LWA_INVOKE_MODE": "response_stream"}, lambda: _event("GET", "/big"), b"video/mp4", "stream"),
    "pass_through": ({}, _sqs_event, b"application/json", "ResponseTooLarge"),
}


@pytest.mark.parametrize("mode", sorted(HUGE))
def test_a_200_mb_answer_keeps_lwa_under_64_mb(api, raw, start, mode) -> None:
    env, make_event, ctype, expected = HUGE[mode]
    pool = (b"lwa keeps memory bounded " * 42000)[:MB] if ctype == b"text/plain" else os.urandom(16 * MB)
    raw.handler = _huge(ctype, 200 * MB, pool)
    lwa = start(api, raw.port, **env)
    result = _one(api, api.push(make_event()), timeout=60)
    if expected == "response":
        assert result.kind == "response"
        envelope = result.json()
        assert envelope["isBase64Encoded"] and envelope["headers"]["content-encoding"] == "gzip"
        assert len(base64.b64decode(envelope["body"])) < 6 * MB
    elif expected == "stream":
        assert result.kind == "stream" and len(result.stream_body) == 200 * MB
    else:
        assert _error(result)["errorType"] == expected
    peak_mb = _vm_hwm_kb(lwa.proc.pid) / 1024
    assert peak_mb < 64, f"lwa's peak RSS was {peak_mb:.0f} MB"


# ---- what the logs say ---------------------------------------------------------------------

def test_logs_never_carry_bodies_or_query_values(api, start) -> None:
    _need("uvicorn")
    port = free_port()
    with _stock_server([sys.executable, "-m", "uvicorn", "--port", str(port), "edge_asgi:app"], port):
        lwa = start(api, port, AWS_LWA_ERROR_STATUS_CODES="500-599", AWS_LAMBDA_LOG_LEVEL="DEBUG")
        err = _error(_one(api, api.push(_event("GET", "/private", "token=SECRET-QUERY-1"))))
        assert err["errorType"] == "HttpStatusError"
        assert "SECRET-BODY-7731" in err["errorMessage"], "the posted error keeps the body, as upstream"
        late = _event("GET", "/private", "token=SECRET-QUERY-2")
        _error(_one(api, api.push(late, deadline_ms=int(time.time() * 1000) - 1000)))
        lwa.wait_log("invocation failed")
        time.sleep(0.2)
    assert "SECRET-BODY" not in lwa.output and "jane.doe" not in lwa.output, lwa.output
    assert "SECRET-QUERY" not in lwa.output, lwa.output
    assert "500" in lwa.output


# ---- pass-through, cookies, contexts -------------------------------------------------------

def test_a_bom_before_a_pass_through_answer_keeps_it_an_object(api, start) -> None:
    _need("uvicorn")
    port = free_port()
    with _stock_server([sys.executable, "-m", "uvicorn", "--port", str(port), "edge_asgi:app"], port):
        start(api, port)
        result = _one(api, api.push(_sqs_event(3)))
        assert result.json() == {"batchItemFailures": [{"itemIdentifier": "m0"}]}


@pytest.mark.parametrize("kind", ["v1", "alb"])
def test_every_cookie_of_multi_value_headers_reaches_flask_under_gunicorn(api, start, kind) -> None:
    _need("gunicorn")
    _need("flask")
    port = free_port()
    multi = {"host": ["example.com"], "cookie": ["a=1", "b=2; c=3", "d=4"]}
    if kind == "v1":
        event = {"resource": "/{proxy+}", "path": "/cookies", "httpMethod": "GET", "multiValueHeaders": multi,
                 "headers": {"cookie": "d=4"}, "requestContext": {"stage": "prod", "requestId": "r1"},
                 "body": None, "isBase64Encoded": False}
    else:
        event = {"httpMethod": "GET", "path": "/cookies", "multiValueHeaders": multi,
                 "multiValueQueryStringParameters": {}, "body": "", "isBase64Encoded": False,
                 "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:::tg/x"}}}
    cmd = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "cookies_wsgi:app"]
    with _stock_server(cmd, port):
        start(api, port)
        envelope = _one(api, api.push(event)).json()
        seen = json.loads(envelope["body"])
        assert seen["cookies"] == {"a": "1", "b": "2", "c": "3", "d": "4"}, seen
        assert seen["raw"] == "a=1; b=2; c=3; d=4"


def test_a_deeply_nested_client_context_becomes_null_and_the_request_is_served(api, start) -> None:
    _need("uvicorn")
    port = free_port()
    deep = '{"custom": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    with _stock_server([sys.executable, "-m", "uvicorn", "--port", str(port), "edge_asgi:app"], port):
        lwa = start(api, port)
        for kwargs in ({"client_context": deep}, {"cognito_identity": '{"cognitoIdentityId": ' + deep + "}"}):
            result = _one(api, api.push(_event("GET", "/context"), **kwargs))
            assert result.kind == "response", result.body[:300]
            context = json.loads(result.json()["body"])
            assert context["client_context"] is None and context["identity"] is None
        assert "nested too deeply" in lwa.output
