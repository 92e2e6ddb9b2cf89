"""The examples, run unchanged through lwa: each app starts from its own run.sh, lwa forwards
real Lambda events (from tests/events, re-pointed at the example's routes), and the Lambda
results are checked. Flask, FastAPI and Express run beside `python -m lwa` and the fake Runtime
API; PHP and Express also run as their images run them, under AWS's Runtime Interface Emulator
with the self-contained extension (built once per module: `layer-build.sh --self-contained
--dir`) on /opt and no Python of the machine's. Dependencies come from examples/install-deps.sh;
an example whose runtime or dependencies are absent is skipped, saying why.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import urllib.parse
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.builds import layer_build
from tests.support.events import EVENTS
from tests.support.loopback import free_port
from tests.support.process import clean_env, stop_process

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import rie as R  # noqa: E402
from tests.support.runtime_api import Result, RuntimeApiServer  # noqa: E402

INSTALL = "run examples/install-deps.sh"
EVENT_FILES = {
    "v2": "apigw-v2/rust-runtime__example-apigw-v2-request-no-authorizer.json",
    "v1": "apigw-v1/lambda-web-adapter__examples-flask-event.json",
    "alb": "alb/rust-runtime__example-alb-lambda-target-request-headers-only.json",
    "sqs": "passthrough/lambda-web-adapter__examples-sqs-expressjs-sqs.json",
}


# ---- events -----------------------------------------------------------------------------------

def load_event(kind: str) -> dict[str, Any]:
    return json.loads((EVENTS / EVENT_FILES[kind]).read_bytes())


def http_event(kind: str, method: str, path: str, query: dict[str, str] | None = None,
               body: Any = None, *, form: dict[str, str] | None = None,
               cookies: list[str] | None = None) -> dict[str, Any]:
    """A real API Gateway v2 / v1 or ALB event, re-pointed at `method path?query` with a JSON
    body (or an HTML form's urlencoded `form`) and the browser's `cookies`; every other field
    stays as captured."""
    event = copy.deepcopy(load_event(kind))
    text = None if body is None else json.dumps(body)
    if form is not None:
        text = urllib.parse.urlencode(form)
    if kind == "v2":
        event["rawPath"] = path
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
        event["requestContext"]["http"].update(method=method, path=path)
    else:
        event.update(httpMethod=method, path=path, queryStringParameters=query)
        event.pop("multiValueQueryStringParameters", None)
        if kind == "v1":
            event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
            event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["body"], event["isBase64Encoded"] = text, False
    if text is not None:
        kind_of_body = "application/x-www-form-urlencoded" if form is not None else "application/json"
        event["headers"]["content-type"] = kind_of_body
        event["headers"].pop("content-length", None)
    if cookies and kind == "v2":
        event["cookies"] = cookies
    elif cookies:
        event["headers"]["cookie"] = "; ".join(cookies)
    return event


def header(answer: dict[str, Any], name: str) -> str | None:
    for k, v in (answer.get("headers") or {}).items():
        if k.lower() == name:
            return v
    return None


# ---- processes --------------------------------------------------------------------------------

def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    return stop_process(proc, timeout)  # servers like gunicorn take a while to drain


class Running:
    """An example app started by its run.sh, and lwa polling the fake Runtime API for it."""

    def __init__(self, api: RuntimeApiServer, app_log: Path) -> None:
        self.api = api
        self.app_log = app_log

    def invoke(self, event: dict[str, Any], timeout: float = 30.0) -> Result:
        return self.api.wait_result(self.api.push(event), timeout)

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        result = self.invoke(event)
        assert result.kind == "response", result.body
        return result.json()


@contextmanager
def run_example(name: str, tmp_path: Path, **lwa_env: str) -> Iterator[Running]:
    port = free_port()
    # run.sh calls python3: make that the interpreter whose packages were checked
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "python3").exists():  # a script, not a symlink: a venv's python needs its own path
        (bindir / "python3").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        (bindir / "python3").chmod(0o755)
    app_log, lwa_log = tmp_path / f"{name}-app.log", tmp_path / f"{name}-lwa.log"
    with RuntimeApiServer() as api, open(app_log, "wb") as alog, open(lwa_log, "wb") as llog:
        app = subprocess.Popen(
            [str(EXAMPLES / name / "run.sh")], cwd=tmp_path, stdout=alog, stderr=subprocess.STDOUT,
            env=clean_env(PORT=str(port), PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}"))
        adapter = subprocess.Popen(
            [sys.executable, "-m", "lwa"], cwd=REPO, stdout=llog, stderr=subprocess.STDOUT,
            env=clean_env(AWS_LAMBDA_RUNTIME_API=api.address, AWS_LAMBDA_FUNCTION_NAME=name,
                          AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
                          AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LWA_PORT=str(port),
                          PYTHONPATH=str(REPO), **lwa_env))
        codes = {}
        try:
            api.wait_polling(1, timeout=60)  # registered, app ready, waiting for events
            yield Running(api, app_log)
        finally:
            codes = {"lwa": stop(adapter), name: stop(app)}
            for log in (app_log, lwa_log):
                print(f"--- {log.name}\n{log.read_text(errors='replace')}")
        # the app may re-raise SIGTERM after its graceful shutdown (uvicorn does)
        assert codes["lwa"] == 0 and codes[name] in (0, -signal.SIGTERM), codes


def python_example(*modules: str) -> None:
    for module in modules:
        pytest.importorskip(module, reason=f"{module} is not installed: {INSTALL}")


def node_example(name: str) -> None:
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    if not (EXAMPLES / name / "node_modules" / "express").is_dir():
        pytest.skip(f"examples/{name}/node_modules is missing: {INSTALL}")


@pytest.fixture(scope="module")
def flask_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    python_example("flask", "gunicorn")
    with run_example("flask", tmp_path_factory.mktemp("flask")) as running:
        yield running


@pytest.fixture(scope="module")
def fastapi_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    python_example("fastapi", "uvicorn")
    with run_example("fastapi", tmp_path_factory.mktemp("fastapi")) as running:
        yield running


@pytest.fixture(scope="module")
def express_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    node_example("express")
    with run_example("express", tmp_path_factory.mktemp("express")) as running:
        yield running


# ---- flask ------------------------------------------------------------------------------------

def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG whose every chunk CRC checks out (so no byte was mangled)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in {kind!r}"
        kinds.append(kind)
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and pos == len(data)
    return struct.unpack(">II", data[16:24])


def test_flask_hello_through_alb(flask_app: Running) -> None:
    answer = flask_app.call(http_event("alb", "GET", "/", {"key": "hello"}))
    assert answer["statusCode"] == 200
    assert answer["body"] == "Hello from Flask!\n"
    assert answer["statusDescription"] == "200 OK"
    assert answer["isBase64Encoded"] is False


def test_flask_echo_through_rest_api(flask_app: Running) -> None:
    answer = flask_app.call(http_event("v1", "POST", "/echo", body={"message": "hello world"}))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"message": "hello world"}


def test_flask_image_is_base64(flask_app: Running) -> None:
    answer = flask_app.call(http_event("v2", "GET", "/image.png"))
    assert answer["statusCode"] == 200
    assert header(answer, "content-type") == "image/png"
    assert answer["isBase64Encoded"] is True
    assert png_size(base64.b64decode(answer["body"])) == (32, 32)


def test_flask_cookies_through_http_api(flask_app: Running) -> None:
    answer = flask_app.call(http_event("v2", "GET", "/cookies"))
    assert answer["statusCode"] == 200
    assert sorted(answer["cookies"]) == ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"]
    assert header(answer, "set-cookie") is None
    assert json.loads(answer["body"]) == {"cookies": "set"}


# ---- fastapi ----------------------------------------------------------------------------------

def test_fastapi_item_through_http_api(fastapi_app: Running) -> None:
    answer = fastapi_app.call(http_event("v2", "GET", "/items/42", {"q": "lambda"}))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"item_id": 42, "q": "lambda"}


def test_fastapi_hello_through_alb(fastapi_app: Running) -> None:
    answer = fastapi_app.call(http_event("alb", "GET", "/"))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"message": "Hello from FastAPI!"}


def test_fastapi_validation_error_through_rest_api(fastapi_app: Running) -> None:
    answer = fastapi_app.call(http_event("v1", "GET", "/items/not-a-number"))
    assert answer["statusCode"] == 422


SSE = "".join(f"id: {i}\ndata: event {i}\n\n" for i in range(5)) + "event: done\ndata: bye\n\n"


def test_fastapi_sse_is_streamed(tmp_path: Path) -> None:
    python_example("fastapi", "uvicorn")
    with run_example("fastapi", tmp_path, AWS_LWA_INVOKE_MODE="response_stream") as running:
        result = running.invoke(http_event("v2", "GET", "/stream"))
    assert result.kind == "stream", result.body
    assert result.prelude["statusCode"] == 200
    assert result.prelude["headers"]["content-type"].startswith("text/event-stream")
    assert result.stream_body.decode() == SSE
    # forwarded as the app wrote it (5 pauses of 100 ms), not collected and sent at the end
    seen, first_event_at = b"", None
    for at, data in result.chunks:
        seen += data
        if first_event_at is None and b"data: event 0" in seen:
            first_event_at = at
    assert first_event_at is not None
    assert result.chunks[-1][0] - first_event_at >= 0.3


# ---- express ----------------------------------------------------------------------------------

def test_express_hello_through_http_api(express_app: Running) -> None:
    answer = express_app.call(http_event("v2", "GET", "/"))
    assert answer["statusCode"] == 200
    assert answer["body"] == "Hello from Express!\n"


def test_express_echo_through_rest_api(express_app: Running) -> None:
    answer = express_app.call(http_event("v1", "POST", "/echo", body={"message": "hello world"}))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"message": "hello world"}


def test_express_hello_through_alb(express_app: Running) -> None:
    answer = express_app.call(http_event("alb", "GET", "/"))
    assert answer["statusCode"] == 200
    assert answer["body"] == "Hello from Express!\n"


def test_express_sqs_pass_through(express_app: Running) -> None:
    event = load_event("sqs")
    assert express_app.call(event) == {"batchItemFailures": []}
    message = event["Records"][0]
    assert f"message {message['messageId']}: {message['body']}" in express_app.app_log.read_text()


# ---- the files themselves ---------------------------------------------------------------------

EXAMPLE_NAMES = ["flask", "fastapi", "express", "php"]
# Which adapter build each image takes: images with a Python 3.10+ take the plain tree, the others
# the self-contained one (README, "Quick start: container images").
BUILD_FOR_IMAGE = {"flask": "plain", "fastapi": "plain", "express": "self-contained", "php": "self-contained"}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_files(name: str) -> None:
    d = EXAMPLES / name
    for script in (d / "run.sh", EXAMPLES / "install-deps.sh"):
        assert os.stat(script).st_mode & 0o777 == 0o755, script
        assert b"\r" not in script.read_bytes(), f"{script} must have LF line endings"
        assert script.read_text().startswith("#!/bin/sh\n")
    assert (d / "README.md").is_file()
    for source in [*d.glob("*.[pj][ys]"), *d.rglob("*.php")]:
        assert not re.search(r"^\s*(import lwa|from lwa|.*require\(.lwa)", source.read_text(), re.M)
    if name == "express":
        pkg = json.loads((d / "package.json").read_text())
        assert re.fullmatch(r"\d+\.\d+\.\d+", pkg["dependencies"]["express"])
        lock = json.loads((d / "package-lock.json").read_text())
        assert lock["packages"]["node_modules/express"]["version"] == pkg["dependencies"]["express"]
    elif name in ("flask", "fastapi"):
        for line in (d / "requirements.txt").read_text().splitlines():
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][^ ]*", line), line
    assert f"[{name}]({name}/)" in (EXAMPLES / "README.md").read_text()


@pytest.fixture(scope="module")
def lwa_trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The trees the Dockerfiles COPY from (build context `lwa`), built as each Dockerfile's
    comment says (`./layer-build.sh ARGS --dir DIR`), each set of ARGS once, when first used."""

    class Trees(dict):
        def __missing__(self, args: str) -> Path:
            dest = tmp_path_factory.mktemp("lwa-tree")
            layer_build(*args.split(), "--dir", str(dest), timeout=600)
            self[args] = dest
            return dest

    return Trees()


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_dockerfile_copies_a_working_adapter(name: str, lwa_trees: dict[str, Path], tmp_path: Path) -> None:
    """Build the tree the Dockerfile's comment names and apply its `COPY --from=lwa` lines to an
    empty image root: the adapter found at /opt/extensions/lambda-adapter must start (for images
    without Python, on its own interpreter); the app's CMD stays its own run.sh."""
    dockerfile = (EXAMPLES / name / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)[1]
    args = re.search(r"^#\s+\./layer-build\.sh (.*?)\s*--dir \S+$", dockerfile, re.M)[1]
    if BUILD_FOR_IMAGE[name] == "self-contained":  # the whole point: no Python in the image
        assert args == "--self-contained"
        assert not re.search(r"^RUN .*python", dockerfile, re.M | re.I)
        assert re.match(r"(node|debian|php):", base), base
    else:  # the image's own Python runs the adapter: only its brotli and .pyc files are needed
        python = re.fullmatch(r"python:(3\.\d+)-slim", base)[1]
        assert f"--python {python}" in args, args
    copies = re.findall(r"^COPY --from=lwa (\S+) (\S+)$", dockerfile, re.M)
    assert copies, "no COPY --from=lwa line"
    image = tmp_path / "image"
    for src, dest in copies:
        target = image / dest.lstrip("/")
        source = lwa_trees[args] / src
        if source.is_dir():  # COPY copies a directory's contents
            shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert sorted(p.name for p in (image / "opt" / "extensions").iterdir()) == ["lambda-adapter"]
    env = clean_env()
    if BUILD_FOR_IMAGE[name] == "self-contained":
        env["PATH"] = "/nonexistent"  # only the bundled interpreter can answer
    else:
        brotli = sorted(p.name for p in (image / "opt" / "lwa-adapter" / "python").glob("_brotli.*.so"))
        assert len(brotli) == 1 and f"cpython-{python.replace('.', '')}-" in brotli[0], brotli
    r = subprocess.run([str(image / "opt" / "extensions" / "lambda-adapter"), "--version"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("lwa ")
    assert re.search(r'^CMD \["\./run\.sh"\]$', dockerfile, re.M)


# ---- PHP and Express as their images run them: the self-contained extension under RIE -----------

@contextmanager
def under_rie(name: str, opt: Path, tmp_path: Path) -> Iterator[R.Rie]:
    """RIE with the self-contained tree on /opt and the example's run.sh as the runtime command
    (an image's CMD); the app finds its port in PORT, as lwa does. Stopped on exit: lwa must
    shut down cleanly."""
    reason = R.unavailable()
    if reason:
        pytest.skip(f"RIE: {reason}")
    port = free_port()
    env = R.clean_env(PORT=str(port), PATH="/usr/local/bin:/usr/bin:/bin")
    with R.Rie([str(EXAMPLES / name / "run.sh")], env=env, opt=opt, cwd=tmp_path) as rie:
        yield rie
        rie.stop()
        rie.check("lwa stopped" in rie.log, "lwa did not stop cleanly at SHUTDOWN")


def rie_call(rie: R.Rie, event: dict[str, Any]) -> dict[str, Any]:
    got = rie.invoke(event)
    rie.check(got.status == 200, f"invoke: {got.status} {got.body[:500]!r}")
    return got.json()


@pytest.fixture(scope="module")
def php_rie(lwa_trees: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[R.Rie]:
    if not shutil.which("php"):
        pytest.skip("php is not installed (apt-get install php-cli)")
    with under_rie("php", lwa_trees["--self-contained"], tmp_path_factory.mktemp("php")) as rie:
        yield rie


def test_php_hello_through_http_api(php_rie: R.Rie) -> None:
    answer = rie_call(php_rie, http_event("v2", "GET", "/"))
    with php_rie.explained():
        assert answer["statusCode"] == 200
        assert answer["body"] == "Hello from PHP!\n"
        assert header(answer, "content-type") == "text/plain; charset=utf-8"


def test_php_query_through_alb(php_rie: R.Rie) -> None:
    answer = rie_call(php_rie, http_event("alb", "GET", "/hello", {"name": "Lambda"}))
    with php_rie.explained():
        assert answer["statusCode"] == 200 and answer["statusDescription"] == "200 OK"
        assert json.loads(answer["body"]) == {"greeting": "Hello, Lambda!"}


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_php_form_post(php_rie: R.Rie, kind: str) -> None:
    form = {"name": "Ada Lovelace", "note": "1 + 1 = 2 & more"}
    answer = rie_call(php_rie, http_event(kind, "POST", "/form", form=form))
    with php_rie.explained():
        assert answer["statusCode"] == 200
        assert json.loads(answer["body"]) == {"fields": form}


def test_php_cookies_both_ways(php_rie: R.Rie) -> None:
    answer = rie_call(php_rie, http_event("v2", "GET", "/cookies", cookies=["a=1", "b=two"]))
    with php_rie.explained():
        assert answer["statusCode"] == 200
        assert json.loads(answer["body"]) == {"received": {"a": "1", "b": "two"}}
        assert sorted(answer["cookies"]) == ["session=abc123; path=/; HttpOnly", "theme=dark; path=/"]
        assert header(answer, "set-cookie") is None


def test_php_sqs_pass_through(php_rie: R.Rie) -> None:
    event = load_event("sqs")
    got = php_rie.invoke(event)
    with php_rie.explained():
        assert got.status == 200 and got.json() == {"batchItemFailures": []}
        message = event["Records"][0]
        php_rie.wait_log(f"message {message['messageId']}: {message['body']}")


def test_php_unknown_route_is_the_apps_404(php_rie: R.Rie) -> None:
    answer = rie_call(php_rie, http_event("v2", "DELETE", "/nowhere"))
    with php_rie.explained():
        assert answer["statusCode"] == 404
        assert json.loads(answer["body"]) == {"error": "no route for DELETE /nowhere"}


def test_express_image_under_rie(lwa_trees: dict[str, Path], tmp_path: Path) -> None:
    """The Express image's shape: node app as the CMD, self-contained extension on /opt."""
    node_example("express")
    with under_rie("express", lwa_trees["--self-contained"], tmp_path) as rie:
        answer = rie_call(rie, http_event("v2", "POST", "/echo", body={"message": "no Python here"}))
        sqs = rie.invoke(load_event("sqs"))
        with rie.explained():
            assert answer["statusCode"] == 200
            assert json.loads(answer["body"]) == {"message": "no Python here"}
            assert sqs.status == 200 and sqs.json() == {"batchItemFailures": []}
            # lwa runs on the bundled interpreter, isolated from any Python settings (-I)
            bundled = [a for pid, a in rie.processes()
                       if os.path.realpath(f"/proc/{pid}/exe").endswith("/lwa-adapter/bin/python3")]
            assert len(bundled) == 1 and "-I" in bundled[0], rie.processes()
