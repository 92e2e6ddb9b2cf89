"""`python -m lwa invoke` and `python -m lwa serve` as real subprocesses against real apps.

Every command shown in docs/local.md is run here: invoke (file, stdin, --pretty, --stream,
streaming by variable), serve per --source with urllib3 and curl as clients, streamed SSE,
serve -- APP COMMAND, and Ctrl-C (SIGINT) ending serve with exit code 0.
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import urllib3

from tests.support import apps
from tests.support.apps import AppServer
from tests.support.loopback import free_port
from tests.support.process import base_env

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
V1_EVENT = EVENTS / "apigw-v1" / "rust-runtime__example-apigw-request.json"
V2_EVENT = EVENTS / "function-url" / "rust-runtime__lambda_function_url_request.json"
ALB_EVENT = EVENTS / "alb" / "rust-runtime__alb_multi_value_request.json"
SQS_EVENT = EVENTS / "passthrough" / "rust-runtime__example-sqs-event.json"
SEPARATOR = b"\x00" * 8
TIMEOUT_S = 30


def _env(app_port: int, **extra: str) -> dict[str, str]:
    """The caller's environment without any Lambda or lwa setting, then the test's own."""
    return base_env(None, app_port, **extra)


def _invoke(app_port: int, *args: str, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lwa", "invoke", *args], cwd=ROOT, env=_env(app_port, **env), input=stdin,
        capture_output=True, timeout=TIMEOUT_S,
    )


def _headers(seen: apps.Seen) -> dict[str, str]:
    return {name: value.decode("utf-8") for name, value in seen.headers}


def _lwa(result: subprocess.CompletedProcess) -> str:
    return f"rc={result.returncode}\nstdout={result.stdout[:2000]!r}\nstderr={result.stderr.decode()[-3000:]}"


# ---- invoke ----------------------------------------------------------------------------------

def test_invoke_v1_event_prints_the_rest_envelope() -> None:
    event = json.loads(V1_EVENT.read_bytes())
    with AppServer(apps.echo) as app:
        result = _invoke(app.port, str(V1_EVENT), "--request-id", "req-v1")
        assert result.returncode == 0, _lwa(result)
        seen = app.wait_requests(1)[0]
    assert (seen.method, seen.target) == ("POST", "/hello/world?name=me")
    assert seen.body == event["body"].encode("utf-8")
    headers = _headers(seen)
    assert headers["headername"] == "headerValue"
    assert headers["host"] == event["headers"]["Host"]
    assert json.loads(headers["x-amzn-request-context"])["requestId"] == event["requestContext"]["requestId"]
    context = json.loads(headers["x-amzn-lambda-context"])
    assert context["request_id"] == "req-v1"
    assert context["env_config"]["function_name"] == "fn"
    envelope = json.loads(result.stdout)
    assert list(envelope) == ["statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"]
    assert envelope["statusCode"] == 200
    assert envelope["multiValueHeaders"]["content-type"] == ["application/json"]
    assert json.loads(envelope["body"])["target"] == "/hello/world?name=me"


def test_invoke_v2_event_pretty_with_tenant() -> None:
    with AppServer(apps.echo) as app:
        result = _invoke(app.port, "--pretty", "--tenant-id", "tenant-7", str(V2_EVENT))
        assert result.returncode == 0, _lwa(result)
        seen = app.wait_requests(1)[0]
    assert (seen.method, seen.target) == ("GET", "/my/path?parameter1=value1&parameter1=value2&parameter2=value")
    assert seen.header("cookie") == "test=hi"
    assert seen.header("x-amz-tenant-id") == "tenant-7"
    assert result.stdout.startswith(b'{\n  "statusCode": 200,')  # --pretty indents
    envelope = json.loads(result.stdout)
    assert envelope["cookies"] == [] and envelope["isBase64Encoded"] is False
    assert json.loads(envelope["body"])["path"] == "/my/path"


def test_invoke_alb_event_from_stdin() -> None:
    data = ALB_EVENT.read_bytes()
    with AppServer(apps.echo) as app:
        result = _invoke(app.port, "-", stdin=data)
        assert result.returncode == 0, _lwa(result)
        seen = app.wait_requests(1)[0]
    assert seen.target == "/?myKey=val1&myKey=val2&myOtherKey=val3&myOtherKey=val4"
    assert seen.header_all("cookie") == ["name1=value1; name2=value2"]  # one Cookie line (RFC 6265 §5.4)
    assert seen.body == b"request_body"
    envelope = json.loads(result.stdout)
    assert envelope["statusDescription"] == "200 OK"
    assert "multiValueHeaders" in envelope and "headers" not in envelope  # the event's header mode


def test_invoke_sqs_event_is_passed_through() -> None:
    data = SQS_EVENT.read_bytes()
    with AppServer(apps.echo) as app:
        result = _invoke(app.port, str(SQS_EVENT))
        assert result.returncode == 0, _lwa(result)
        seen = app.wait_requests(1)[0]
    assert (seen.method, seen.target, seen.body) == ("POST", "/events", data)
    assert seen.header("x-amzn-request-context") is None
    # The app's JSON answer is the Lambda result, byte for byte.
    assert json.loads(result.stdout)["body_base64"] == base64.b64encode(data).decode()


@pytest.mark.parametrize("how", ["flag", "variable", "pretty"])
def test_invoke_streams_prelude_then_body(how: str) -> None:
    events = [b"data: 1\n\n", b"data: 2\n\n"]
    args = {"flag": ["--stream"], "variable": [], "pretty": ["--stream", "--pretty"]}[how]
    mode = "response_stream" if how == "variable" else "buffered"
    with AppServer(apps.sse(events, pause_s=0.05)) as app:
        result = _invoke(app.port, *args, str(V2_EVENT), AWS_LWA_INVOKE_MODE=mode)
    assert result.returncode == 0, _lwa(result)
    prelude = {"statusCode": 200, "headers": {"content-type": "text/event-stream", "cache-control": "no-cache"},
               "cookies": []}
    if how == "pretty":  # the prelude indented, a newline, then the body
        assert result.stdout == json.dumps(prelude, indent=2).encode() + b"\n" + b"".join(events)
    else:  # exactly what Lambda receives: prelude, 8 NUL bytes, body
        assert result.stdout == json.dumps(prelude, separators=(",", ":")).encode() + SEPARATOR + b"".join(events)


def test_invoke_stream_failing_midway_exits_1() -> None:
    with AppServer(apps.reset_mid_response(100, chunked=True)) as app:
        result = _invoke(app.port, "--stream", str(V2_EVENT))
    assert result.returncode == 1, _lwa(result)
    head, sep, body = result.stdout.partition(SEPARATOR)
    assert sep and body == apps.pattern(0, 100)
    assert b"the stream failed after it started" in result.stderr
    assert b"AppResponseTruncated" in result.stderr


def test_invoke_app_down_prints_the_error_and_exits_1() -> None:
    result = _invoke(free_port(), str(V2_EVENT))
    assert result.returncode == 1, _lwa(result)
    error = json.loads(result.stdout)
    assert error["errorType"] == "AppConnectionError"
    assert "cannot reach the app" in error["errorMessage"]
    assert b"AppConnectionError" in result.stderr  # the log line goes to stderr, not into the result


def test_invoke_error_status_code_exits_1() -> None:
    with AppServer(apps.fixed(503, [("Content-Type", "text/plain")], "down")) as app:
        result = _invoke(app.port, str(V1_EVENT), AWS_LWA_ERROR_STATUS_CODES="500-599")
    assert result.returncode == 1, _lwa(result)
    error = json.loads(result.stdout)
    assert error["errorType"] == "HttpStatusError"
    assert json.loads(error["errorMessage"]) == {"statusCode": 503, "body": "down"}


def test_invoke_invalid_json_is_invalid_event() -> None:
    result = _invoke(free_port(), "-", stdin=b"{not json")
    assert result.returncode == 1, _lwa(result)
    assert json.loads(result.stdout)["errorType"] == "InvalidEvent"


# ---- serve -----------------------------------------------------------------------------------

class Serve:
    """`python -m lwa serve --port 0 ...` as a subprocess; `.url` once its start line is printed.

    Leaving the block sends SIGINT, as Ctrl-C does, and records the exit code in `.returncode`."""

    def __init__(self, app_port: int, *args: str, **env: str) -> None:
        self.argv = [sys.executable, "-m", "lwa", "serve", "--port", "0", *args]
        self.env = _env(app_port, **env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.returncode: int | None = None

    def __enter__(self) -> Serve:
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"no start line from lwa serve:\n{self.log()}") from None
            if line is None:
                self.stop()
                raise AssertionError(f"lwa serve ended before starting:\n{self.log()}")
            if line.startswith("lwa serve: "):
                self.start_line = line.rstrip("\n")
                self.url = self.start_line.split()[2]
                self.port = int(self.url.rsplit(":", 1)[1])
                self.client = urllib3.HTTPConnectionPool("127.0.0.1", self.port, retries=False, timeout=TIMEOUT_S)
                return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        return self.returncode

    def log(self) -> str:
        """lwa's stdout and the tail of its stderr (the log)."""
        if not self.stderr.closed:
            self.stderr.seek(0)
            self.output = "".join(self.stdout) + self.stderr.read().decode("utf-8", "replace")[-8000:]
        return self.output

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "client"):
            self.client.close()
        self.stop()
        self.reader.join(TIMEOUT_S)
        self.log()
        self.proc.stdout.close()
        self.stderr.close()


ALL_BYTES = bytes(range(256))
QUERY = "a=1&b=x%20y&a=2&c=a%2Bb"
EXPECTED_QUERY = {  # what each front door makes of QUERY, and so what the app is sent
    "v2": QUERY,  # rawQueryString verbatim
    "v1": "a=1&a=2&b=x%20y&c=a%2Bb",  # decoded multi-value map, re-encoded in event order
    "alb": "a=2&b=x%20y&c=a%2Bb",  # single-value mode: the last value wins, kept encoded
    "alb-multi": "a=1&a=2&b=x%20y&c=a%2Bb",
}
SERVE_ROUTES = {
    "/bin": apps.fixed(200, [("Content-Type", "application/octet-stream")], ALL_BYTES),
    "/cookies": apps.fixed(200, [("Content-Type", "text/plain"), ("Set-Cookie", "a=1; Path=/"),
                                 ("Set-Cookie", "b=2; HttpOnly"), ("X-Custom", "yes")], "ok"),
    "/created": apps.fixed(201, [("Content-Type", "application/json")], '{"id": 7}'),
    "/reset": apps.reset_before_response(),
}


@pytest.mark.parametrize("source", ["v2", "v1", "alb", "alb-multi"])
def test_serve_each_source(source: str) -> None:
    args = ["--source", "alb", "--alb-multi-value"] if source == "alb-multi" else ["--source", source]
    with AppServer(apps.routes(SERVE_ROUTES)) as app, Serve(app.port, *args) as srv:
        assert srv.start_line == f"lwa serve: {srv.url} -> app http://127.0.0.1:{app.port} " \
                                 f"(source {source.split('-')[0]}, buffered)"
        # GET with a query and cookies.
        resp = srv.client.request("GET", f"/echo?{QUERY}", headers={"Cookie": "c1=v1; c2=v2", "X-Test": "t"})
        assert resp.status == 200, resp.data
        seen = app.requests[-1]
        assert (seen.method, seen.path, seen.query) == ("GET", "/echo", EXPECTED_QUERY[source])
        assert seen.header("cookie") == "c1=v1; c2=v2"
        assert seen.header("x-test") == "t"
        assert seen.header("host") == f"127.0.0.1:{srv.port}"
        context = json.loads(seen.header("x-amzn-request-context"))
        if source == "v2":
            assert context["http"]["method"] == "GET" and context["http"]["sourceIp"] == "127.0.0.1"
        elif source == "v1":
            assert context["identity"]["sourceIp"] == "127.0.0.1" and context["httpMethod"] == "GET"
        else:
            assert context["elb"]["targetGroupArn"].startswith("arn:aws:elasticloadbalancing:")
        assert json.loads(resp.data)["target"] == seen.target  # the echo's JSON body came back as sent

        # POST JSON: body and type reach the app unchanged; a non-200 status comes back.
        body = json.dumps({"k": "v", "n": [1, 2], "ü": "ß"}).encode()
        resp = srv.client.request("POST", "/echo", body=body, headers={"Content-Type": "application/json"})
        assert resp.status == 200
        seen = app.requests[-1]
        assert (seen.method, seen.body, seen.header("content-type")) == ("POST", body, "application/json")
        assert base64.b64decode(json.loads(resp.data)["body_base64"]) == body
        resp = srv.client.request("POST", "/created", body=b"{}", headers={"Content-Type": "application/json"})
        assert (resp.status, json.loads(resp.data)) == (201, {"id": 7})

        # Binary both ways, byte-exact (base64 in the event and in the Lambda result).
        resp = srv.client.request("POST", "/echo", body=ALL_BYTES,
                                  headers={"Content-Type": "application/octet-stream"})
        assert app.requests[-1].body == ALL_BYTES
        resp = srv.client.request("GET", "/bin")
        assert resp.status == 200 and resp.headers["content-type"] == "application/octet-stream"
        assert resp.data == ALL_BYTES

        # Two Set-Cookie headers survive every envelope (v2 cookies[], ALB case variants).
        resp = srv.client.request("GET", "/cookies")
        assert resp.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
        assert (resp.headers["x-custom"], resp.data) == ("yes", b"ok")

        # An invocation error is a 502 carrying the error JSON.
        resp = srv.client.request("GET", "/reset")
        assert resp.status == 502
        assert json.loads(resp.data)["errorType"] == "AppConnectionError"
    assert srv.returncode == 0, srv.log()


def test_serve_curl_get() -> None:
    with AppServer(apps.echo) as app, Serve(app.port) as srv:
        result = subprocess.run(
            ["curl", "-si", f"{srv.url}/hello?name=me", "-H", "Cookie: a=1"], capture_output=True, timeout=TIMEOUT_S
        )
        seen = app.wait_requests(1)[0]
    assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), result.stdout
    assert b"\r\ncontent-type: application/json\r\n" in result.stdout
    assert (seen.target, seen.header("cookie")) == ("/hello?name=me", "a=1")
    assert srv.returncode == 0, srv.log()


def test_serve_streams_sse_event_by_event() -> None:
    events = [b"data: one\n\n", b"data: two\n\n", b"data: three\n\n"]
    handler = apps.sse(events, pause_s=0.5)
    table = {"/events": handler, "/broken": apps.reset_mid_response(100, chunked=True),
             "/long": apps.sse([b"data: %d\n\n" % i for i in range(200)], pause_s=0.05)}
    with AppServer(apps.routes(table)) as app, Serve(app.port, AWS_LWA_INVOKE_MODE="response_stream") as srv:
        assert srv.start_line.endswith("(source v2, response_stream)")
        resp = srv.client.request("GET", "/events", preload_content=False)
        assert resp.status == 200
        assert resp.headers["content-type"] == "text/event-stream"
        assert resp.headers["transfer-encoding"] == "chunked"
        received, first_at = b"", None
        while True:
            data = resp.read1(65536)
            if not data:
                break
            received += data
            if first_at is None and events[0] in received:
                first_at = time.monotonic()
        resp.release_conn()
        assert received == b"".join(events)
        written = [at for at, _ in handler.events_at]  # type: ignore[attr-defined]
        # The first event reached the client before the app had even written the second.
        assert first_at is not None and first_at < written[1], (first_at, written)

        # The same stream through `curl -N`, as docs/local.md shows.
        result = subprocess.run(["curl", "-sN", f"{srv.url}/events"], capture_output=True, timeout=TIMEOUT_S)
        assert result.stdout == b"".join(events)

        # The app failing mid-stream: the client gets a truncated chunked body, never error text.
        resp = srv.client.request("GET", "/broken", preload_content=False)
        assert resp.status == 200
        with pytest.raises(urllib3.exceptions.ProtocolError):
            resp.read()
        resp.release_conn()

        # A client hanging up mid-stream: lwa stops reading the app and goes on serving.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT_S) as sock:
            sock.sendall(b"GET /long HTTP/1.1\r\nHost: localhost\r\n\r\n")
            got = b""
            while b"data: 0" not in got:
                data = sock.recv(4096)
                assert data, got
                got += data
        deadline = time.monotonic() + TIMEOUT_S
        while not app.handler_errors:  # the app's next write fails: lwa closed its connection
            assert time.monotonic() < deadline, "lwa kept the app streaming to a departed client"
            time.sleep(0.02)
        assert len(app.requests[-1].sent_at) < 200
        resp = srv.client.request("GET", "/events")
        assert resp.data == b"".join(events)
    assert srv.returncode == 0, srv.log()
    assert "the HTTP client closed the connection mid-stream" in srv.log()


def test_serve_starts_and_stops_the_app_command(tmp_path: Path) -> None:
    app_port = free_port()
    marker = tmp_path / "sigterm"
    command = [sys.executable, "-m", "tests.support.apps", "--port", str(app_port), "--handler", "echo",
               "--sigterm-file", str(marker)]
    with Serve(app_port, "--", *command) as srv:
        resp = srv.client.request("GET", "/hello?x=1")
        assert resp.status == 200
        assert json.loads(resp.data)["target"] == "/hello?x=1"
    assert srv.returncode == 0, srv.log()
    assert marker.read_text().split()[0] == "SIGTERM"  # lwa stopped the app with SIGTERM on Ctrl-C
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", app_port), timeout=2).close()


def test_serve_with_the_stdlib_http_server_as_app() -> None:
    """The docs' copy-paste example: any command that listens on AWS_LWA_PORT will do."""
    app_port = free_port()
    command = [sys.executable, "-m", "http.server", str(app_port), "--bind", "127.0.0.1"]
    with Serve(app_port, "--", *command) as srv:
        resp = srv.client.request("GET", "/")
        assert resp.status == 200 and b"Directory listing" in resp.data
    assert srv.returncode == 0, srv.log()


def test_serve_exits_1_when_the_app_command_dies() -> None:
    argv = [sys.executable, "-m", "lwa", "serve", "--port", "0", "--", sys.executable, "-c", "raise SystemExit(3)"]
    result = subprocess.run(argv, cwd=ROOT, env=_env(free_port()), capture_output=True, timeout=TIMEOUT_S)
    assert result.returncode == 1, _lwa(result)
    assert b"the app exited with code 3" in result.stdout + result.stderr
    assert b"lwa serve:" not in result.stdout


# ---- serve at the edge: Host names, terminal-safe logs, HTTP/1.0 and chunked clients -----------

def _exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        got = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                return got
            got += piece


def _get(host: str, target: str = "/echo", version: str = "HTTP/1.1") -> bytes:
    return f"GET {target} {version}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1")


@pytest.mark.parametrize("host", ["localhost", "localhost:9", "LOCALHOST.", "app.localhost:1", "127.0.0.1",
                                  "127.3.2.1:80", "[::1]:8"])
def test_serve_answers_loopback_host_names(host: str) -> None:
    with AppServer(apps.echo) as app, Serve(app.port) as srv:
        answer = _exchange(srv.port, _get(host))
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert app.requests[-1].header("host") == host
    assert srv.returncode == 0, srv.log()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9000", "localhost.evil.example", "10.0.0.1",
                                  "[::ffff:127.0.0.1]"])
def test_serve_refuses_other_host_names_with_421(host: str) -> None:
    with AppServer(apps.echo) as app, Serve(app.port) as srv:
        answer = _exchange(srv.port, _get(host))
        # An absolute-form target names the host too: it cannot slip past the check.
        absolute = _exchange(srv.port, _get("localhost", f"http://{host}/echo"))
        assert app.requests == []  # the app never saw either request
    for got in (answer, absolute):
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), got
        assert b"\r\nconnection: close" in head
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
        assert f"--allow-host {name}".encode() in body and b"--allow-any-host" in body
    assert "refused GET /echo for Host" in srv.log()


@pytest.mark.parametrize("flag", [["--allow-host", "Evil.Example"], ["--allow-any-host"]])
def test_serve_answers_other_host_names_when_allowed(flag: list[str]) -> None:
    with AppServer(apps.echo) as app, Serve(app.port, *flag) as srv:
        answer = _exchange(srv.port, _get("evil.example:9000"))
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert app.requests[-1].header("host") == "evil.example:9000"
        other = _exchange(srv.port, _get("other.example"))
    assert other.startswith(b"HTTP/1.1 421" if flag[0] == "--allow-host" else b"HTTP/1.1 200"), other


def test_serve_logs_client_input_with_control_characters_escaped() -> None:
    with AppServer(apps.echo) as app, Serve(app.port) as srv:
        # ESC sequences in the target reach the app, but not the terminal.
        answer = _exchange(srv.port, _get("localhost", "/a\x1b[2J\x1b[31mred\x07\x9b"))
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert app.requests[-1].path == "/a%1B[2J%1B[31mred%07%C2%9B"
        # A bare CR in the request line, trying to forge a log line of its own.
        forged = b"GET /x\rERROR lwa stopped HTTP/1.1\r\nHost: localhost\r\n\r\n"
        answer = _exchange(srv.port, forged)
        assert answer.startswith(b"HTTP/1.1 400"), answer
        # A refused Host with an escape sequence in it is logged escaped too.
        _exchange(srv.port, b"GET /h HTTP/1.1\r\nHost: \x1b[1mevil\r\n\r\n")
    raw = srv.log().encode("utf-8", "surrogateescape")
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\r" not in raw
    assert "/a\\x1b[2J\\x1b[31mred\\x07" in srv.log()
    assert "/x\\x0dERROR lwa stopped" in srv.log()
    assert "Host \\x1b[1mevil" in srv.log()
    assert srv.returncode == 0, srv.log()


STREAM_EVENTS = [b"data: %d\n\n" % i for i in range(3)]


def test_serve_stream_to_an_http_1_0_client_is_close_delimited() -> None:
    with AppServer(apps.sse(STREAM_EVENTS, pause_s=0.05)) as app, \
            Serve(app.port, "--stream") as srv:
        answer = _exchange(srv.port, b"GET /events HTTP/1.0\r\nHost: localhost\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        # Chunked framing is HTTP/1.1 only (RFC 9112 §6.1): the body is the events, byte for
        # byte, and the server closing the connection ends it.
        assert head.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert b"transfer-encoding" not in head.lower() and b"\r\nconnection: close" in head.lower()
        assert body == b"".join(STREAM_EVENTS)
        # And a HTTP/1.0 request without any Host is served (it is not required there).
        answer = _exchange(srv.port, b"GET /events HTTP/1.0\r\n\r\n")
        assert answer.partition(b"\r\n\r\n")[2] == b"".join(STREAM_EVENTS)
        # HTTP/1.1 clients still get chunks.
        answer = _exchange(srv.port, _get("localhost", "/events"))
        assert b"\r\ntransfer-encoding: chunked\r\n" in answer and answer.endswith(b"\r\n0\r\n\r\n")
        curl = subprocess.run(["curl", "-s", "--http1.0", "--raw", f"{srv.url}/events"], capture_output=True,
                              timeout=TIMEOUT_S) if shutil.which("curl") else None
    if curl is not None:
        assert curl.returncode == 0 and curl.stdout == b"".join(STREAM_EVENTS), curl  # no chunk-size lines
    assert srv.returncode == 0, srv.log()


def test_serve_reads_chunked_request_bodies_and_keeps_the_connection() -> None:
    body = [b"hello ", b"chunked\r\n", b"\x00world"]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in body)
    first = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n" + framed + b"0\r\nX-Trailer: dropped\r\n\r\n")
    with AppServer(apps.echo) as app, Serve(app.port) as srv:
        # Pipelined: the second request follows the first body's last byte in the same send.
        answer = _exchange(srv.port, first + _get("localhost", "/second"))
        assert answer.count(b"HTTP/1.1 200 OK\r\n") == 2, answer
        assert app.requests[0].body == b"".join(body) and app.requests[1].target == "/second"
        bad = _exchange(srv.port, b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"zz\r\nxx\r\n0\r\n\r\n")
        assert bad.startswith(b"HTTP/1.1 400"), bad
        assert len(app.requests) == 2
    assert srv.returncode == 0, srv.log()


# ---- help and imports ------------------------------------------------------------------------

@pytest.mark.parametrize("kind,options", [
    ("invoke", ["EVENT.json", "--stream", "--pretty", "--request-id", "--tenant-id", "--timeout"]),
    ("serve", ["--port", "--host", "--allow-host", "--allow-any-host", "--source", "--alb-multi-value", "--stream",
               "--timeout", "APP COMMAND"]),
])
def test_subcommand_help_documents_every_option(kind: str, options: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "lwa", kind, "--help"], cwd=ROOT, capture_output=True,
                            timeout=TIMEOUT_S, text=True)
    assert result.returncode == 0, result.stderr
    for option in options:
        assert option in result.stdout
    top = subprocess.run([sys.executable, "-m", "lwa", "--help"], cwd=ROOT, capture_output=True, timeout=TIMEOUT_S,
                         text=True)
    assert f"python -m lwa {kind}" in top.stdout


def test_local_modes_keep_http_server_and_argparse_off_import() -> None:
    code = ("import sys, lwa, lwa.local, lwa.daemon, lwa.loop, lwa.sources; "
            "print([m for m in ('http.server', 'argparse', 'urllib3') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=TIMEOUT_S, text=True)
    assert result.stdout.strip() == "[]", result.stderr
