"""lwa under `cargo lambda watch`, the Rust community's local Lambda emulator (PyPI `cargo-lambda`).

`cargo lambda watch` runs the binaries of a Cargo project as functions, each started on its first
invocation with AWS_LAMBDA_RUNTIME_API set, and serves Function URLs at /lambda-url/NAME/. A
zero-dependency Cargo project whose two binaries exec `python -m lwa` (one buffered, one
streaming) makes lwa such a function, unchanged: the way docs/local.md shows. Its Function URL
reads a streamed answer's prelude from the first chunk and skips the second as the separator,
so this fails if lwa sends them in one chunk (it answered 500 then).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import urllib3

from tests.support import apps
from tests.support.apps import AppServer
from tests.support.loopback import free_port
from tests.support.process import stop_process

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60  # the first invocation compiles the function (about 2 s here)

pytestmark = pytest.mark.skipif(
    not (shutil.which("cargo-lambda") and shutil.which("cargo")),
    reason="needs cargo-lambda (pip install cargo-lambda) and cargo",
)

MAIN_RS = """\
use std::os::unix::process::CommandExt;
use std::process::Command;

fn main() {
    let python = std::env::var("LWA_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let err = Command::new(python).env("AWS_LWA_INVOKE_MODE", "%s").args(["-m", "lwa"]).exec();
    eprintln!("cannot start python -m lwa: {err}");
    std::process::exit(1);
}
"""
CARGO_TOML = """\
[package]
name = "lwa-functions"
version = "0.1.0"
edition = "2021"

[[bin]]
name = "buffered"
path = "src/buffered.rs"

[[bin]]
name = "streaming"
path = "src/streaming.rs"
"""
EVENTS = [b"data: %d\n\n" % i for i in range(3)]


def _project(where: Path) -> Path:
    (where / "src").mkdir(parents=True)
    (where / "Cargo.toml").write_text(CARGO_TOML)
    for mode, name in (("buffered", "buffered"), ("response_stream", "streaming")):
        (where / "src" / f"{name}.rs").write_text(MAIN_RS % mode)
    return where


@pytest.fixture
def watch(tmp_path: Path):
    """`cargo lambda watch` on a free port, serving the two lwa functions; yields its base URL."""
    handler = apps.routes({"/events": apps.sse(EVENTS, pause_s=0.3),
                           "/teapot": apps.fixed(418, [("Content-Type", "text/plain"), ("Set-Cookie", "a=1")],
                                                 "short and stout")})
    with AppServer(handler) as app:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LWA_", "AWS_LAMBDA_"))}
        env.update(CARGO_NET_OFFLINE="true", CARGO_TARGET_DIR=str(tmp_path / "target"))
        settings = {"LWA_PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "AWS_LWA_PORT": str(app.port),
                    "AWS_LWA_READINESS_CHECK_PATH": "/healthz"}
        log = (tmp_path / "watch.log").open("wb")
        proc = subprocess.Popen(
            # --ignore-changes: the Cargo.lock the first build writes would otherwise restart the
            # functions, the one streaming included, mid-answer.
            ["cargo", "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
             "--invoke-port", str(port), "--env-var", ",".join(f"{k}={v}" for k, v in settings.items())],
            cwd=_project(tmp_path / "fn"), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while True:
                assert proc.poll() is None, (tmp_path / "watch.log").read_text()
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "cargo lambda watch never listened"
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}", app
        finally:
            try:
                stop_process(proc, output=(tmp_path / "watch.log").read_text())
            finally:
                with contextlib.suppress(ProcessLookupError):  # whatever it left behind of its session
                    os.killpg(proc.pid, signal.SIGKILL)
                log.close()


def test_cargo_lambda_watch_runs_lwa_buffered_and_streaming(watch) -> None:
    base, app = watch
    http = urllib3.PoolManager(retries=False, timeout=TIMEOUT_S)

    resp = http.request("GET", f"{base}/lambda-url/buffered/teapot?x=1")
    assert resp.status == 418, resp.data
    assert resp.data == b"short and stout"
    assert resp.headers["content-type"] == "text/plain" and resp.headers.getlist("set-cookie") == ["a=1"]
    seen = app.requests[-1]
    assert (seen.method, seen.target) == ("GET", "/teapot?x=1")
    assert seen.header("x-amzn-lambda-context") is not None  # it went through lwa's translators

    resp = http.request("GET", f"{base}/lambda-url/streaming/events", preload_content=False)
    assert resp.status == 200
    assert resp.headers["content-type"] == "text/event-stream"
    received, first_at = b"", None
    for piece in resp.stream(65536):
        received += piece
        if first_at is None and EVENTS[0] in received:
            first_at = time.monotonic()
    resp.release_conn()
    assert received == b"".join(EVENTS)
    written = [at for at, _ in app.requests[-1].sent_at]
    assert first_at is not None and first_at < written[-1], "the stream arrived in one piece, not as written"
