"""lwa under AWS's own Runtime Interface Emulator (issue 9): the real Runtime and Extensions APIs.

Three deployment shapes, each as Lambda runs it:
- container extension: /opt/extensions/lambda-adapter starts lwa from this checkout, and RIE's
  runtime command is the app's own start command (the recording app of tests/support/rie.py);
- zip layer: the zip from ./layer-build.sh unpacked on /opt, runtime `/opt/bootstrap run.sh`;
- Lambda Managed Instances (RIE_CONCURRENCY=4), from the same layer, as uid 993.
The app records what it received; the test checks that against the event and checks what the
invoker got back. RIE needs root and unshare here (RIE_OPT mounts a directory on /opt): the
module skips, saying why, only without those or without the RIE binary.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, quote

import pytest

from tests.support import rie as R
from tests.support.events import EVENTS, event_files, load_event
from tests.support.loopback import free_port

REPO = R.REPO
HTTP_EVENTS = event_files("v1", "v2", "alb")
PASS_THROUGH_EVENTS = event_files("passthrough", "websocket")
MINIMAL_V2 = "apigw-v2/rust-runtime__apigw_v2_proxy_request_minimal.json"
# Never forwarded from an event (hop-by-hop, framing) or always replaced by lwa
# (docs/behaviour.md, decisions "request headers" and "injected headers").
DROPPED = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
           "proxy-connection", "expect", "x-amzn-trace-id", "x-amzn-request-context", "x-amzn-lambda-context",
           "x-amz-tenant-id"}
COOKIES = ["a=1; Path=/", "b=2; HttpOnly"]
SHUTDOWN_BUDGET_S = 2.0
figures: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def _needs_rie(request) -> Iterator[None]:
    """Skip (saying why) where RIE cannot run; at the end, print the figures the tests measured."""
    reason = R.unavailable()
    if reason:
        print(f"\nskipping the RIE tests: {reason}")
        pytest.skip(reason)
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if figures and reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown without -s
            reporter.write_line("")
            reporter.write_line("RIE figures: " + "; ".join(f"{k}: {v}" for k, v in figures.items()))


def _kind(name: str) -> str:
    return {"apigw-v1": "v1", "apigw-v2": "v2", "function-url": "v2", "alb": "alb",
            "passthrough": "passthrough", "websocket": "websocket"}[name.split("/")[0]]


# ---- deployments ---------------------------------------------------------------------------

def container_opt(root: Path, *, exit_file: Path | None = None) -> Path:
    """An /opt-like tree whose extensions/lambda-adapter starts lwa from the checkout. With
    `exit_file` the launcher waits for lwa and writes "<exit code> <epoch seconds>" there."""
    py, repo = shlex.quote(sys.executable), shlex.quote(str(REPO))
    if exit_file is None:
        body = f"cd {repo} && PYTHONPATH={repo} exec {py} -m lwa\n"
    else:
        body = (f"cd {repo} && PYTHONPATH={repo} {py} -m lwa\ncode=$?\n"
                f'echo "$code $(date +%s.%N)" > {shlex.quote(str(exit_file))}\nexit "$code"\n')
    R.write_script(root / "opt" / "extensions" / "lambda-adapter", "#!/bin/sh\n" + body)
    return root / "opt"


@contextmanager
def container(prefix: str, *, exit_file: bool = False, sigterm_file: bool = False,
              **lwa_env: str) -> Iterator[tuple[R.Rie, R.AppState, Path]]:
    """RIE with lwa as a container extension and the recording app as the runtime command;
    always stopped (and its temp tree removed) on exit."""
    root = R.public_dir(prefix)
    try:
        app = R.AppState(root / "state")
        port = free_port()
        cmd = [sys.executable, "-m", "tests.support.rie", "--port", str(port), "--state", str(app.dir)]
        if sigterm_file:
            cmd += ["--sigterm-file", str(root / "app.sigterm")]
        opt = container_opt(root, exit_file=root / "lwa.exit" if exit_file else None)
        env = R.clean_env(**{"AWS_LWA_PORT": str(port), "AWS_LWA_READINESS_CHECK_PATH": R.HEALTH_PATH,
                             "PYTHONPATH": str(REPO), **lwa_env})
        with R.Rie(cmd, env=env, opt=opt) as rie:
            yield rie, app, root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def plain():
    """The module's one container-shape RIE (RIE_OPT + the app as runtime command), with the
    first invoke (extension and runtime Init included) timed; lwa must exit 0 at the end."""
    with container("lwa-rie-plain-", exit_file=True) as (rie, app, root):
        got = rie.invoke((EVENTS / MINIMAL_V2).read_bytes())
        rie.check(got.status == 200 and got.json().get("statusCode") == 200,
                  f"first invoke: {got.status} {got.body[:300]!r}")
        init_ms = R.init_report_ms(rie.log)
        figures["first invoke (cold, incl. Init) through RIE"] = f"{got.elapsed_s * 1000:.0f} ms"
        if init_ms is not None:
            figures["RIE INIT REPORT durationMs"] = f"{init_ms:.0f} ms"
        yield rie, app
        rie.stop()
        exit_file = root / "lwa.exit"
        rie.check(exit_file.exists() and exit_file.read_text().split()[0] == "0",
                  f"lwa did not exit 0 at shutdown: {exit_file.read_text() if exit_file.exists() else 'still running'}")


# ---- what the app must have received ------------------------------------------------------

def _encode_path(raw: str) -> str:
    """Reference encoding (docs/behaviour.md, decision "paths"): only what cannot stand in a request target."""
    out = []
    for i, ch in enumerate(raw):
        if ch == "%" and not re.match(r"%[0-9A-Fa-f]{2}", raw[i:i + 3]):
            out.append("%25")
        elif ch in " ?#" or ord(ch) < 0x21 or ord(ch) >= 0x7F:
            out.append(quote(ch, safe=""))
        else:
            out.append(ch)
    path = "".join(out)
    return path if path.startswith("/") else "/" + path


def _expected_body(event: dict) -> bytes | None:
    """The bytes the client sent; None when the event claims base64 it does not hold."""
    body = event.get("body")
    if body is None:
        return b""
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        return None


def _query_pairs(event: dict) -> list[tuple[str, str]]:
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return [(k, v) for k, vs in multi.items() for v in vs]
    return list((event.get("queryStringParameters") or {}).items())


def _expected_headers(kind: str, event: dict) -> dict[str, list[str]]:
    if kind == "v2":
        pairs = list((event.get("headers") or {}).items())
    else:
        multi = [(n, v) for n, vs in (event.get("multiValueHeaders") or {}).items() for v in vs]
        names = {n.lower() for n, _ in multi}
        pairs = multi + [(n, v) for n, v in (event.get("headers") or {}).items() if n.lower() not in names]
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        if name.lower() not in DROPPED:
            out.setdefault(name.lower(), []).append(value.strip(" \t"))
    if kind == "v2" and event.get("cookies"):
        out["cookie"] = ["; ".join(event["cookies"])]
    if len(out.get("cookie", ())) > 1:  # several Cookie lines reach the app as one (RFC 6265)
        out["cookie"] = ["; ".join(v.rstrip("; \t") for v in out["cookie"])]
    return out


def _check_received(kind: str, event: dict, rec: dict, request_id: str, app_port: int) -> None:
    rc = event["requestContext"]
    if kind == "v2":
        method, raw_path = rc["http"]["method"], event.get("rawPath") or ""
    else:
        method, raw_path = event.get("httpMethod") or "GET", event.get("path") or ""
    assert rec["method"] == method
    assert rec["path"] == _encode_path(raw_path)
    if kind == "v2":
        assert rec["query"] == (event.get("rawQueryString") or "")
    elif kind == "alb":  # ALB does not decode: keys and values go out verbatim
        assert rec["query"] == "&".join(f"{k}={v}" for k, v in _query_pairs(event))
    else:
        assert parse_qsl(rec["query"], keep_blank_values=True) == _query_pairs(event)
        assert " " not in rec["query"] and "+" not in rec["query"]
    if not rec["query"]:
        assert "?" not in rec["target"]

    expected = _expected_headers(kind, event)
    for name, values in expected.items():
        assert R.header_all(rec, name) == values, f"header {name}"
    if "host" not in expected:
        assert R.header(rec, "host") == f"127.0.0.1:{app_port}"
    extra = {n for n, _ in rec["headers"]} - set(expected) - {
        "host", "content-length", "x-amzn-request-context", "x-amzn-lambda-context"}
    assert not extra, f"headers the event did not have: {sorted(extra)}"
    body = base64.b64decode(rec["body_b64"])
    assert body == _expected_body(event)
    assert R.header(rec, "content-length") in ((str(len(body)),) if body else (None, "0"))

    assert json.loads(R.header(rec, "x-amzn-request-context")) == rc
    ctx = json.loads(R.header(rec, "x-amzn-lambda-context"))
    assert ctx["request_id"] == request_id
    assert ctx["invoked_function_arn"].endswith(":function:test_function")
    assert ctx["env_config"]["function_name"] == "test_function"
    assert ctx["env_config"]["memory"] == 3008
    assert abs(ctx["deadline"] / 1000 - time.time() - 300) < 60  # RIE's default 300 s timeout
    assert ctx["tenant_id"] is None and ctx["client_context"] is None and ctx["identity"] is None
    assert R.header(rec, "x-amz-tenant-id") is None


# ---- what the invoker must have got back ---------------------------------------------------

def _reply_for(index: int, name: str) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """Alternately a text and a binary answer, both with a custom header and two cookies."""
    if index % 2 == 0:
        status, ctype, body, binary = 201, "text/plain; charset=utf-8", f"hello ü {name}".encode(), False
    else:
        status, ctype, body, binary = 202, "application/octet-stream", bytes(range(256)) * 4, True
    headers = [("Content-Type", ctype), ("X-Custom", f"v{index}"), *(("Set-Cookie", c) for c in COOKIES)]
    return status, headers, body, binary


def _check_envelope(kind: str, event: dict, env: dict, status: int, headers: list[tuple[str, str]],
                    body: bytes, binary: bool) -> None:
    ctype, custom = headers[0][1], headers[1][1]
    assert env["statusCode"] == status
    assert env["isBase64Encoded"] is binary
    assert (base64.b64decode(env["body"]) if binary else env["body"].encode("utf-8")) == body
    if kind == "v1":
        mvh = env["multiValueHeaders"]
        assert mvh["set-cookie"] == COOKIES
        assert mvh["x-custom"] == [custom] and mvh["content-type"] == [ctype]
        assert env["headers"]["x-custom"] == custom
        shown = set(mvh) | set(env["headers"])
    elif kind == "v2":
        assert env["cookies"] == COOKIES
        assert env["headers"]["x-custom"] == custom and env["headers"]["content-type"] == ctype
        assert "set-cookie" not in {k.lower() for k in env["headers"]}
        shown = set(env["headers"])
    else:
        assert env["statusDescription"] == f"{status} {HTTPStatus(status).phrase}"
        if isinstance(event.get("multiValueHeaders"), dict):
            assert "headers" not in env
            mvh = env["multiValueHeaders"]
            assert mvh["set-cookie"] == COOKIES and mvh["x-custom"] == [custom]
            shown = set(mvh)
        else:
            assert "multiValueHeaders" not in env
            single = env["headers"]
            assert [v for k, v in single.items() if k.lower() == "set-cookie"] == COOKIES
            assert single["x-custom"] == custom
            shown = {k.lower() for k in single}
    assert not shown & {"connection", "transfer-encoding", "keep-alive"}


# ---- container shape: every real event -----------------------------------------------------

@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_http_event_through_rie(plain, name: str) -> None:
    rie, app = plain
    kind = _kind(name)
    raw = (EVENTS / name).read_bytes()
    event = json.loads(raw)
    status, headers, body, binary = _reply_for(HTTP_EVENTS.index(name), name)
    app.reply(status, headers, body)
    before = app.count()
    got = rie.invoke(raw)
    with rie.explained():
        assert got.status == 200, got.body[:500]
        new = app.requests()[before:]
        if _expected_body(event) is None:  # isBase64Encoded with a body that is not base64
            assert new == []
            assert got.json()["errorType"] == "InvalidEvent"
            assert "base64" in got.json()["errorMessage"]
            return
        assert len(new) == 1, f"the app got {len(new)} requests"
        _check_received(kind, event, new[0], got.request_id, int(rie.env["AWS_LWA_PORT"]))
        _check_envelope(kind, event, got.json(), status, headers, body, binary)


@pytest.mark.parametrize("name", PASS_THROUGH_EVENTS)
def test_pass_through_event_through_rie(plain, name: str) -> None:
    rie, app = plain
    raw = (EVENTS / name).read_bytes()
    variant = PASS_THROUGH_EVENTS.index(name) % 3
    if variant == 0:  # JSON comes back byte for byte, key order kept
        answer = b'{"z": 1, "a": [true, null], "batchItemFailures": []}'
        app.reply(200, [("Content-Type", "application/json")], answer)
    elif variant == 1:  # other text becomes a JSON string
        app.reply(200, [("Content-Type", "text/plain; charset=utf-8")], "accepted ü".encode())
    else:  # an empty body is null
        app.reply(202, [("Content-Type", "text/plain")], b"")
    before = app.count()
    got = rie.invoke(raw)
    with rie.explained():
        assert got.status == 200, got.body[:500]
        new = app.requests()[before:]
        assert len(new) == 1
        rec = new[0]
        assert (rec["method"], rec["target"]) == ("POST", "/events")
        assert R.header(rec, "content-type") == "application/json"
        assert base64.b64decode(rec["body_b64"]) == raw
        assert R.header(rec, "x-amzn-request-context") is None
        assert json.loads(R.header(rec, "x-amzn-lambda-context"))["request_id"] == got.request_id
        if variant == 0:
            assert got.body == answer
        elif variant == 1:
            assert got.json() == "accepted ü"
        else:
            assert got.json() is None


def test_invoke_headers_reach_the_app(plain) -> None:
    """X-Amz-Tenant-Id, X-Amz-Client-Context (base64), X-Amz-Cognito-Identity and
    X-Amzn-RequestId, as RIE hands them to the runtime, end up in the app's request."""
    rie, app = plain
    app.echo()
    client_context = {"client": {"installationId": "inst-1", "appTitle": "App", "appVersionName": "1.2",
                                 "appVersionCode": "12", "appPackageName": "com.example"},
                      "custom": {"k": "v"}, "environment": {"platform": "Android"}}
    headers = {
        "X-Amz-Tenant-Id": "tenant-abc-123",
        "X-Amz-Client-Context": base64.b64encode(json.dumps(client_context).encode()).decode(),
        "X-Amz-Cognito-Identity": json.dumps({"cognitoIdentityId": "us-east-1:id-1",
                                              "cognitoIdentityPoolId": "us-east-1:pool-2"}),
    }
    got = rie.invoke(load_event(MINIMAL_V2), headers, request_id="req-headers-1")
    with rie.explained():
        assert got.status == 200, got.body[:500]
        rec = json.loads(got.json()["body"])
        assert R.header(rec, "x-amz-tenant-id") == "tenant-abc-123"
        ctx = json.loads(R.header(rec, "x-amzn-lambda-context"))
        assert ctx["request_id"] == "req-headers-1"
        assert ctx["tenant_id"] == "tenant-abc-123"
        assert ctx["client_context"] == client_context
        assert ctx["identity"] == {"identityId": "us-east-1:id-1", "identityPoolId": "us-east-1:pool-2"}

    # Without them, client-sent copies in the event never reach the app.
    event = load_event(MINIMAL_V2)
    event["headers"].update({"x-amz-tenant-id": "spoofed", "x-amzn-lambda-context": "{}"})
    got = rie.invoke(event, request_id="req-headers-2")
    with rie.explained():
        rec = json.loads(got.json()["body"])
        assert R.header(rec, "x-amz-tenant-id") is None
        ctx = json.loads(R.header(rec, "x-amzn-lambda-context"))
        assert ctx["request_id"] == "req-headers-2"
        assert ctx["tenant_id"] is None and ctx["client_context"] is None and ctx["identity"] is None


@pytest.mark.parametrize("case", ["body-over-6MB", "envelope-over-6MB"])
def test_response_over_6mb_is_response_too_large(plain, case: str) -> None:
    """Buffered mode: the invoker gets lwa's clear ResponseTooLarge error, never RIE's 413."""
    rie, app = plain
    if case == "body-over-6MB":
        app.reply(200, [("Content-Type", "text/plain")], b"x" * 1024, repeat=7 * 1024)
    else:  # 5 MiB of binary: base64 makes the envelope about 7 MB
        app.reply(200, [("Content-Type", "application/octet-stream")], bytes(range(256)) * 4, repeat=5 * 1024)
    got = rie.invoke(load_event(MINIMAL_V2))
    with rie.explained():
        assert got.status == 200, got.body[:500]
        err = got.json()
        assert err["errorType"] == "ResponseTooLarge"
        assert "AWS_LWA_INVOKE_MODE=response_stream" in err["errorMessage"]
        assert b"ResponseSizeTooLarge" not in got.body
    app.echo()
    got = rie.invoke(load_event(MINIMAL_V2))  # and the next invocation is served normally
    with rie.explained():
        assert got.status == 200 and got.json()["statusCode"] == 200
        assert "ResponseSizeTooLarge" not in rie.log


# ---- container shape: lifecycle and modes --------------------------------------------------

def test_shutdown_reaches_lwa_and_the_app() -> None:
    """Stopping RIE sends SHUTDOWN: lwa exits 0 within 2 s and the app gets SIGTERM."""
    with container("lwa-rie-stop-", exit_file=True, sigterm_file=True) as (rie, app, root):
        got = rie.invoke(load_event(MINIMAL_V2))
        rie.check(got.status == 200, f"invoke: {got.status} {got.body[:300]!r}")
        rie.check(not (root / "lwa.exit").exists(), "lwa exited before the shutdown")
        stopped_at = time.time()
        rie.stop()
        with rie.explained():
            assert "SHUTDOWN received" in rie.log and "lwa stopped" in rie.log
            assert (root / "lwa.exit").exists(), "lwa had not exited when RIE was gone"
            code, exited_at = (root / "lwa.exit").read_text().split()
            assert code == "0"
            took = float(exited_at) - stopped_at
            assert took < SHUTDOWN_BUDGET_S, f"lwa exited {took:.2f}s after the stop"
            assert (root / "app.sigterm").read_text().startswith("SIGTERM")
            assert rie.leftovers == []
        figures["lwa exit after RIE stop"] = f"{took * 1000:.0f} ms"


def test_bad_configuration_is_an_init_error() -> None:
    """AWS_LWA_PORT=notaport: the invoker gets RIE's 502 with lwa's init error naming the variable."""
    with container("lwa-rie-badcfg-", AWS_LWA_PORT="notaport") as (rie, app, _root):
        for _ in range(2):  # plain RIE retries Init at the next invoke: same answer
            got = rie.invoke(load_event(MINIMAL_V2), timeout=30)
            with rie.explained():
                assert got.status == 502, (got.status, got.body[:500])
                err = got.json()
                assert "AWS_LWA_PORT" in err["errorMessage"] and "notaport" in err["errorMessage"]
                assert err["errorType"] == "Runtime.InvalidConfiguration"
        assert app.count() == 0


def test_streaming_through_rie() -> None:
    """response_stream: RIE buffers the stream; prelude JSON, 8 NUL bytes and body arrive intact."""
    chunks = [b"data: 1\n\n", bytes(range(256)) * 64, b"data: end\n\n"]
    with container("lwa-rie-stream-", AWS_LWA_INVOKE_MODE="response_stream") as (rie, app, _root):
        app.reply(200, [("Content-Type", "text/event-stream"), ("X-Custom", "s1"), ("Set-Cookie", "sid=1"),
                        ("Set-Cookie", "theme=dark")], chunks=chunks, pause_s=0.05)
        for name in (MINIMAL_V2, "apigw-v1/rust-runtime__example-apigw-request.json"):
            got = rie.invoke((EVENTS / name).read_bytes())
            with rie.explained():
                assert got.status == 200, got.body[:500]
                head, sep, body = got.body.partition(b"\x00" * 8)
                assert sep, got.body[:500]
                prelude = json.loads(head)
                assert prelude["statusCode"] == 200
                assert prelude["headers"]["content-type"] == "text/event-stream"
                assert prelude["headers"]["x-custom"] == "s1"
                assert prelude["cookies"] == ["sid=1", "theme=dark"]
                assert body == b"".join(chunks)
        # Pass-through events are answered buffered even in streaming mode (docs/behaviour.md, decision "pass-through").
        app.reply(200, [("Content-Type", "application/json")], b'{"ok": true}')
        got = rie.invoke((EVENTS / "passthrough/rust-runtime__example-sqs-event.json").read_bytes())
        with rie.explained():
            assert got.status == 200 and got.body == b'{"ok": true}'


# ---- the zip layer and Managed Instances ---------------------------------------------------

def _layer_python() -> str:
    """The interpreter the layer runs on: /usr/bin/python3 when it is 3.10+ (it has no urllib3,
    and uid 993 can run it), else this one."""
    for py in ("/usr/bin/python3", sys.executable):
        if Path(py).exists() and subprocess.run(
                [py, "-c", "import sys; sys.exit(sys.version_info < (3, 10))"], capture_output=True).returncode == 0:
            return py
    return sys.executable


@pytest.fixture(scope="module")
def layer():
    """The layer zip from ./layer-build.sh, unpacked with its modes into a world-readable /opt tree."""
    root = R.public_dir("lwa-rie-layer-")
    try:
        py = _layer_python()
        out = subprocess.run(["./layer-build.sh", "--out", str(root / "dist")], cwd=REPO, capture_output=True,
                             text=True, timeout=300, env={**os.environ, "LWA_PYC_PYTHONS": py})
        if out.returncode != 0 and "cannot download" in out.stderr:
            pytest.skip(f"layer-build.sh could not fetch its wheels: {out.stderr.strip()[-300:]}")
        assert out.returncode == 0, out.stdout + out.stderr
        (zip_path,) = (root / "dist").glob("lambda-adapter-layer-*.zip")
        opt = root / "opt"
        opt.mkdir(mode=0o755)
        R.unzip_with_modes(zip_path, opt)
        yield opt, py
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _lwa_process(rie: R.Rie) -> tuple[int, list[str]]:
    found = [(pid, argv) for pid, argv in rie.processes() if argv[-1:] == ["lwa/__main__.py"]]  # the launcher's form
    rie.check(len(found) == 1, f"expected one lwa process under RIE, found {found} in {rie.processes()}")
    return found[0]


def test_zip_layer_under_rie(layer) -> None:
    """/opt/bootstrap execs run.sh, the launcher finds a Python and runs lwa on the layer's own
    packages (-E -S: no site-packages, the interpreter itself has no urllib3)."""
    opt, py = layer
    assert os.stat(opt / "bootstrap").st_mode & 0o777 == 0o755
    assert os.stat(opt / "extensions" / "lambda-adapter").st_mode & 0o777 == 0o755
    assert (opt / "lwa-adapter" / "python" / "urllib3" / "__init__.py").exists()
    outside = subprocess.run([py, "-S", "-c", "import urllib3"], capture_output=True, text=True)
    assert outside.returncode != 0, f"{py} -S imports urllib3 outside the layer: the test would prove nothing"

    root = R.public_dir("lwa-rie-zip-")
    try:
        app = R.AppState(root / "state")
        task = root / "task"
        port = free_port()
        state = shlex.quote(str(app.dir))
        R.write_script(task / "run.sh", "#!/bin/sh\n"
                       f'echo "$$" > {state}/run.sh.pid\n'
                       f"exec {shlex.quote(py)} -m tests.support.rie --port {port} --state {state}\n")
        env = R.clean_env(
            AWS_LWA_PORT=str(port), AWS_LWA_READINESS_CHECK_PATH=R.HEALTH_PATH, AWS_LWA_ENABLE_COMPRESSION="true",
            LAMBDA_TASK_ROOT=str(task), _HANDLER="run.sh", AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap",
            PATH=f"{Path(py).parent}:/usr/bin:/bin", PYTHONPATH=str(REPO))
        text = b"lwa from the zip layer, compressed with brotli. " * 60
        app.reply(200, [("Content-Type", "text/plain")], text)
        with R.Rie(["/opt/bootstrap", "run.sh"], env=env, opt=opt) as rie:
            event = load_event(MINIMAL_V2)
            event["headers"]["accept-encoding"] = "br"
            got = rie.invoke(event)
            with rie.explained():
                assert got.status == 200, got.body[:500]
                env_out = got.json()
                assert env_out["headers"]["content-encoding"] == "br" and env_out["isBase64Encoded"] is True
                try:
                    import brotli
                except ImportError:
                    brotli = None
                if brotli is not None:
                    assert brotli.decompress(base64.b64decode(env_out["body"])) == text

                pid, argv = _lwa_process(rie)
                assert argv == [argv[0], "-E", "-S", "-B", "lwa/__main__.py"]
                assert os.path.realpath(argv[0]) == os.path.realpath(py)
                cwd = os.readlink(f"/proc/{pid}/cwd")
                assert cwd.endswith("lwa-adapter/python"), cwd
                maps = Path(f"/proc/{pid}/maps").read_text()
                brotli_so = {line.split()[-1] for line in maps.splitlines() if "_brotli.cpython-" in line}
                assert brotli_so and all("lwa-adapter/python/" in p for p in brotli_so), brotli_so

                # bootstrap exec'd run.sh, which exec'd the app: one process, RIE's own child.
                (rec,) = app.requests()
                assert int((app.dir / "run.sh.pid").read_text()) == rec["pid"]
                ppid = int(Path(f"/proc/{rec['pid']}/stat").read_text().rsplit(")", 1)[1].split()[1])
                assert ppid == rie.pid
                assert "exec '/opt/bootstrap'" in rie.log and "handler=run.sh" in rie.log
                assert "lwa ready to wait for the app" in rie.log
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _public_app_package(root: Path) -> Path:
    """A copy of tests/support (stdlib only) that uid 993 can read, for the app in LMI mode."""
    pkg = root / "pkg"
    for src in [REPO / "tests" / "__init__.py", *sorted((REPO / "tests" / "support").glob("*.py"))]:
        dest = pkg / src.relative_to(REPO)
        dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        dest.chmod(0o644)
    return pkg


def test_managed_instances_concurrency(layer) -> None:
    """RIE_CONCURRENCY=4: four invokes at once overlap in lwa (4 connections to the app) and in
    the app (each request waits 0.5 s), so all four finish in well under 4 × 0.5 s."""
    opt, py = layer
    if not R.world_readable(Path(py)):
        pytest.fail(f"{py} is not readable by other users: Managed Instances mode runs the function as uid 993")
    root = R.public_dir("lwa-rie-lmi-")
    try:
        pkg = _public_app_package(root)
        port = free_port()
        env = R.clean_env(AWS_LWA_PORT=str(port), AWS_LWA_READINESS_CHECK_PATH=R.HEALTH_PATH,
                          PATH=f"{Path(py).parent}:/usr/bin:/bin", PYTHONPATH=str(pkg))
        cmd = [py, "-m", "tests.support.rie", "--port", str(port), "--sleep", "0.5"]
        with R.Rie(cmd, env=env, opt=opt, concurrency=4) as rie:
            warm = rie.invoke(load_event(MINIMAL_V2))
            rie.check(warm.status == 200, f"warm-up invoke: {warm.status} {warm.headers} {warm.body[:300]!r}")
            results: list[Any] = [None] * 4
            barrier = threading.Barrier(4)

            def one(i: int) -> None:
                barrier.wait(10)
                t0 = time.monotonic()
                try:
                    results[i] = (rie.invoke(load_event(MINIMAL_V2), request_id=f"lmi-{i}"), t0, time.monotonic())
                except BaseException as exc:  # noqa: BLE001  (reported below, with RIE's log)
                    results[i] = exc

            threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            with rie.explained():
                assert all(isinstance(r, tuple) for r in results), results
                wall = max(r[2] for r in results) - min(r[1] for r in results)
                recs = []
                for i, (got, _t0, _t1) in enumerate(results):
                    assert got.status == 200, (got.status, got.headers, got.body[:300])
                    envelope = got.json()
                    assert envelope["statusCode"] == 200
                    rec = json.loads(envelope["body"])
                    assert json.loads(R.header(rec, "x-amzn-lambda-context"))["request_id"] == f"lmi-{i}"
                    recs.append(rec)
                assert max(r["received_at"] for r in recs) < min(r["answered_at"] for r in recs), \
                    "the app never had all four requests at once"
                assert len({r["conn_id"] for r in recs}) == 4, "lwa did not use four connections at once"
                assert wall < 1.6, f"four 0.5 s invokes took {wall:.2f}s: not concurrent"
                assert "4 slot(s)" in rie.log  # lwa read AWS_LAMBDA_MAX_CONCURRENCY=4 from RIE
            figures["4 concurrent 0.5 s invokes (LMI)"] = f"{wall * 1000:.0f} ms"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_lwa_as_the_runtime_command_itself() -> None:
    """No /opt/extensions: the container's entrypoint starts the app and then execs lwa. RIE then
    treats lwa as an internal extension, which may not subscribe to SHUTDOWN (403); lwa registers
    for no events instead and serves invokes; SIGTERM still stops it cleanly."""
    root = R.public_dir("lwa-rie-entry-")
    try:
        port = free_port()
        entry = R.write_script(root / "entry.sh", "#!/bin/sh\n"
                               f"cd {shlex.quote(str(R.REPO))}\n"
                               f"{shlex.quote(sys.executable)} -m tests.support.apps --port {port} --handler echo &\n"
                               f"exec env PYTHONPATH={shlex.quote(str(R.REPO))} AWS_LWA_PORT={port} "
                               f"AWS_LWA_READINESS_CHECK_PATH=/healthz {shlex.quote(sys.executable)} -m lwa\n")
        with R.Rie([str(entry)]) as rie:
            got = rie.invoke(load_event(MINIMAL_V2))
            with rie.explained():
                assert got.status == 200, got.body[:500]
                envelope = got.json()
                assert envelope["statusCode"] == 200 and json.loads(envelope["body"])["path"] == "/"
            passthrough = rie.invoke(b'{"Records": [{"body": "x"}]}')
            with rie.explained():
                assert passthrough.status == 200 and json.loads(passthrough.body)["target"] == "/events"
            rie.stop()
            assert "registered without the SHUTDOWN event" in rie.log and "lwa stopped" in rie.log, rie.log[-2000:]
    finally:  # the app outlives nothing: Rie.stop killed, by pid, what RIE's runtime had started
        shutil.rmtree(root, ignore_errors=True)
