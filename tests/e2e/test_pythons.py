"""lwa's own code on every Lambda Python this machine has (3.10+): one real invocation each."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

from tests.support.apps import AppServer, echo
from tests.support.events import REPO, load_event
from tests.support.process import base_env
from tests.support.runtime_api import RuntimeApiServer

VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")


def _interpreter(version: str) -> str | None:
    """A working python3.X: pyenv's real binary first (its shims may refuse), else PATH."""
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"), reverse=True)
    candidates += [found for found in [shutil.which(f"python{version}")] if found]
    for python in candidates:
        if subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0:
            return python
    return None


@pytest.mark.parametrize("version", VERSIONS)
def test_an_invocation_on_each_python(version):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    urllib3_dir = str(Path(urllib3.__file__).resolve().parent.parent)  # pure Python, any 3.9+
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        env = base_env(runtime.address, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        env["PYTHONPATH"] = f"{REPO}{os.pathsep}{urllib3_dir}"
        proc = subprocess.Popen([python, "-S", "-m", "lwa"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            rid = runtime.push(load_event("apigw-v2/rust-runtime__apigw_v2_proxy_request_minimal.json"))
            result = runtime.wait_result(rid, timeout=20)
        except AssertionError:
            result = None
        finally:
            proc.terminate()
            out = proc.communicate(timeout=10)[0].decode(errors="replace")
        assert result is not None and result.kind == "response", out
        assert result.json()["statusCode"] == 200
        assert proc.returncode == 0, out
    assert sys.version_info >= (3, 10)
