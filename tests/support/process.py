"""lwa as a real subprocess: the environment Lambda would give it, the process wrapper that
collects its output, and the one way a test stops a process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Variables of this machine that would change lwa's behaviour under test.
_FOREIGN = ("PORT", "HOST", "READINESS_CHECK_PORT", "READINESS_CHECK_PATH", "READINESS_CHECK_PROTOCOL",
            "REMOVE_BASE_PATH", "ASYNC_INIT", "RUST_LOG")


def base_env(runtime_address: str | None, app_port: int | None, **extra: str) -> dict[str, str]:
    """The environment Lambda gives an extension, minus anything of this machine's AWS_LWA_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LWA_", "AWS_LAMBDA_")) and k not in _FOREIGN}
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


class StopTimeout(AssertionError):
    """A process ignored its signal: it was killed, and the test fails."""


def stop_process(proc: subprocess.Popen, timeout: float = 10.0, sig: int = signal.SIGTERM, output: str = "") -> int:
    """Send `sig` (if still running) and wait; SIGKILL and fail if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        said = f"; output:\n{output}" if output else ""
        raise StopTimeout(f"{proc.args!r} did not exit within {timeout} s of signal {sig}{said}") from None


class Lwa:
    """`python -m lwa` as a subprocess; its output is collected for assertions and failure reports."""

    expect_exit: int | None = 0

    def __init__(self, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lwa", *args], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """The first output line containing `text`, waiting for it up to `timeout` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.01)
        raise AssertionError(f"lwa never logged {text!r}; output:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal lwa and return its exit status; fails the test if it does not exit in time."""
        code = stop_process(self.proc, timeout, sig, self.output)
        self._reader.join(5)
        return code

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for lwa to exit on its own; fails the test (after killing it) if it does not."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"lwa still running after {timeout}s; output:\n{self.output}") from None
        self._reader.join(5)
        return code


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without Lambda, lwa or Python-path variables, plus `extra`: what a
    process started by a test sees, whatever the machine running the tests has set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "PYTHON"))}
    env.update(extra)
    return env
