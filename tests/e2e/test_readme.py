"""The README stays true: its commands run, and every file, link and option it names exists.

The main command really serves the example app; the test command is `.ci/run`, which runs
pytest; the local-debugging commands run against a real app; every repository path in a code
block or a Markdown link exists.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest
import urllib3

from tests.support.apps import AppServer, echo
from tests.support.events import REPO
from tests.support.loopback import free_port
from tests.support.process import base_env

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)
COMMANDS = [line.strip() for block in BLOCKS for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _command(prefix: str) -> str:
    """The README's one command line starting with `prefix` (fails when there is none)."""
    found = [c for c in COMMANDS if c.startswith(prefix)]
    assert len(found) == 1, f"README: {len(found)} command lines start with {prefix!r}: {found}"
    return found[0]


def test_the_test_command_is_ci_run_and_ci_runs_pytest():
    assert BLOCKS[1].strip() == "bash .ci/run"
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r'^"\$PY" -m pytest\b', ci, re.M), "the last step of .ci/run runs pytest"
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci


def test_every_repository_path_the_readme_names_exists():
    """Relative links and the paths in its commands: a renamed file breaks the README."""
    links = re.findall(r"\]\(((?!https?:|#|mailto:)[^)#\s]+)", README)
    words = [w for c in COMMANDS for w in shlex.split(c.split("#", 1)[0])]
    paths = [w for w in words if re.match(r"^(\./)?(examples|tests|docs|packaging|extension|lwa|bench)/\S+$", w)
             or w in ("./layer-build.sh", "layer-build.sh", ".ci/run")]
    assert links and paths, "the patterns found nothing: the README changed shape"
    missing = sorted({p for p in links + paths if not (REPO / p).exists()})
    assert not missing, f"README names files that do not exist: {missing}"


def test_every_lwa_option_the_readme_uses_is_in_its_help():
    """`python3 -m lwa serve --port ... --source ...`: each option appears in that mode's --help."""
    used: dict[str, set[str]] = {}
    for c in COMMANDS:
        m = re.search(r"-m lwa (invoke|serve)\b(.*?)(?: -- |$)", c)
        if m:
            used.setdefault(m[1], set()).update(re.findall(r"(--[a-z-]+)", m[2]))
    assert set(used) == {"invoke", "serve"}, used
    for mode, options in used.items():
        helptext = subprocess.run([sys.executable, "-m", "lwa", mode, "--help"], cwd=REPO, capture_output=True,
                                  text=True, timeout=30).stdout
        assert not {o for o in options if o not in helptext}, f"lwa {mode} --help lacks {options}"


def test_the_invoke_command_translates_its_event_through_a_real_app():
    """The README's `lwa invoke` line, run as written against an echo app on a free port."""
    line = _command("python3 -m lwa invoke ")
    with AppServer(echo) as app:
        env = base_env(None, app.port)
        out = subprocess.run(line, shell=True, cwd=REPO, env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    result = json.loads(out.stdout)
    assert result["statusCode"] == 200
    seen = json.loads(result["body"])
    assert seen["method"] == "GET" and seen["path"] == "/"
    assert len(app.requests) == 1


def test_the_streaming_serve_command_answers_the_curl_line():
    """The README's `serve` line in streaming mode, then its curl line, both as written (the port
    replaced by a free one, since 9000 may be taken here)."""
    serve = _command("AWS_LWA_INVOKE_MODE=response_stream python3 -m lwa serve ")
    curl = _command("curl ")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    with AppServer(echo) as app:
        port = str(free_port())
        proc = subprocess.Popen(serve.replace("9000", port), shell=True, cwd=REPO, start_new_session=True,
                                env=base_env(None, app.port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            got = None
            end = time.monotonic() + 30
            while time.monotonic() < end and proc.poll() is None:
                got = subprocess.run(curl.replace("9000", port), shell=True, capture_output=True, timeout=30)
                if got.returncode == 0:
                    break
                time.sleep(0.1)
            assert got is not None and got.returncode == 0, proc.stdout.read1(65536) if proc.poll() is not None else got
            head, _, body = got.stdout.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            seen = json.loads(body)
            assert seen["path"] == "/hello" and seen["query"] == "name=me"
            assert ["cookie", "a=1"] in seen["headers"]
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """Ctrl-C to the command's whole process group (the shell, lwa, the app), as a user would."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


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
        echo_ = http.request("POST", "http://127.0.0.1:9000/echo", body=b'{"a":1}',
                             headers={"content-type": "application/json"})
        assert echo_.status == 200 and json.loads(echo_.data) == {"a": 1}
    finally:
        _stop_group(proc)
