"""Shared fixtures: the real event payloads, and lwa as a real subprocess against loopback servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EVENTS = SHARED / "events"
MANIFEST = json.loads((EVENTS / "manifest.json").read_text())

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def event_files(*kinds: str) -> list[str]:
    """Manifest keys of the real events of these kinds (v1, v2, alb, websocket, passthrough)."""
    return sorted(name for name, kind in MANIFEST.items() if kind in kinds)


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def base_env(runtime_address: str | None, app_port: int | None, **extra: str) -> dict[str, str]:
    """The environment Lambda gives an extension, minus anything of this machine's AWS_LWA_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LWA_", "AWS_LAMBDA_"))}
    for k in ("PORT", "HOST", "READINESS_CHECK_PORT", "READINESS_CHECK_PATH", "READINESS_CHECK_PROTOCOL",
              "REMOVE_BASE_PATH", "ASYNC_INIT", "RUST_LOG"):
        env.pop(k, None)
    env.update(
        AWS_LAMBDA_FUNCTION_NAME="fn",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/fn",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/11/25/[$LATEST]abc",
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    if runtime_address is not None:
        env["AWS_LAMBDA_RUNTIME_API"] = runtime_address
    if app_port is not None:
        env["AWS_LWA_PORT"] = str(app_port)
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, then wait; SIGKILL (and fail the test) if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        pytest.fail(f"{proc.args} ignored SIGTERM for {timeout} s")


class Lwa:
    """`python -m lwa` as a subprocess; its output is collected for assertions and failure reports."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lwa", *args], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.01)
        raise AssertionError(f"lwa never logged {text!r}; output:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"lwa did not exit within {timeout}s of signal {sig}; output:\n{self.output}")
        self._reader.join(5)
        return code

    def wait_exit(self, timeout: float = 10.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"lwa still running after {timeout}s; output:\n{self.output}")
        self._reader.join(5)
        return code


@pytest.fixture
def run_lwa(request):
    """Start lwa against a Runtime API server and app; at teardown SIGTERM it and require exit 0."""
    started: list[Lwa] = []

    def start(runtime, app_port: int | None, *args: str, expect_exit: int | None = 0, **env: str) -> Lwa:
        address = runtime.address if runtime is not None else None
        lwa = Lwa(base_env(address, app_port, **env), args)
        lwa.expect_exit = expect_exit
        started.append(lwa)
        return lwa

    yield start
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    problems = []
    for lwa in started:
        code = lwa.stop()
        if failed:
            sys.stdout.write(f"\n--- lwa output ---\n{lwa.output}\n")
        if lwa.expect_exit is not None and code != lwa.expect_exit:
            problems.append(f"lwa exited {code}, expected {lwa.expect_exit}; output:\n{lwa.output}")
    assert not problems, "\n".join(problems)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
