"""The README's two top commands stay true: the main one really serves the example app."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import urllib3

from tests.support.events import REPO

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)


def test_the_test_command_is_ci_run_and_ci_runs_pytest():
    assert BLOCKS[1].strip() == "bash .ci/run"
    assert "python3\" -m pytest" in (REPO / ".ci/run").read_text() or "-m pytest" in (REPO / ".ci/run").read_text()


def test_the_main_command_serves_the_flask_example():
    command = BLOCKS[0].strip()
    assert "lwa serve --port 9000" in command
    proc = subprocess.Popen(["bash", "-c", command], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    http = urllib3.PoolManager(retries=False, timeout=2.0)
    try:
        body = None
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            try:
                resp = http.request("GET", "http://127.0.0.1:9000/")
                body = resp.data
                break
            except urllib3.exceptions.HTTPError:
                time.sleep(0.2)
        assert body is not None, proc.stdout.read1(65536) if proc.poll() is not None else "no answer in time"
        assert resp.status == 200 and b"Hello from Flask" in body
        echo = http.request("POST", "http://127.0.0.1:9000/echo", body=b'{"a":1}',
                            headers={"content-type": "application/json"})
        assert echo.status == 200 and json.loads(echo.data) == {"a": 1}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
