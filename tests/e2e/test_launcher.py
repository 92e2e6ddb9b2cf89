"""Both launchers (extension/layer-launcher.sh, extension/self-contained-launcher.sh, sharing
extension/register-early.sh) register the extension themselves before Python starts when they
run as bash (as /bin/sh is on Amazon Linux; under another /bin/sh they re-run themselves with bash
when there is one), so that Lambda starts the app without waiting for Python; with no bash at
all lwa registers, as before. They are run here against the fake Runtime API
(tests/support/runtime_api.py): the plain one in a layer-shaped tree, the self-contained one in
its real build, each with lwa as the real process it execs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.apps import AppServer, echo
from tests.support.builds import selfcontained_artifact
from tests.support.events import v2_event
from tests.support.process import base_env, stop_process
from tests.support.runtime_api import RuntimeApiServer

REPO = Path(__file__).resolve().parents[2]


def _layer_tree(root: Path) -> Path:
    """`extensions/lambda-adapter` and `lwa-adapter/python/{lwa,urllib3}`, as the layer lays them out."""
    import urllib3

    (root / "extensions").mkdir()
    launcher = root / "extensions" / "lambda-adapter"
    shutil.copy(REPO / "extension" / "layer-launcher.sh", launcher)
    launcher.chmod(0o755)
    python = root / "lwa-adapter" / "python"
    python.mkdir(parents=True)
    shutil.copy(REPO / "extension" / "register-early.sh", root / "lwa-adapter" / "register-early.sh")
    (python / "lwa").symlink_to(REPO / "lwa")
    (python / "urllib3").symlink_to(Path(urllib3.__file__).parent)
    return launcher


def _selfcontained_tree(root: Path) -> Path:
    """The self-contained build's tree, copied (its launcher finds lwa-adapter/ beside it)."""
    shutil.copytree(selfcontained_artifact().tree, root / "opt", symlinks=True)
    return root / "opt" / "extensions" / "lambda-adapter"


@pytest.mark.parametrize("build", ["layer", "self-contained"])
@pytest.mark.parametrize("shell", ["bash", "dash", "dash without bash"])
def test_the_launcher_registers_before_python_when_bash_runs_it(tmp_path: Path, shell: str, build: str) -> None:
    if shutil.which("dash") is None or shutil.which("bash") is None:
        pytest.skip("needs both bash and dash")
    launcher = _layer_tree(tmp_path) if build == "layer" else _selfcontained_tree(tmp_path)
    with RuntimeApiServer() as api, AppServer(echo) as app:
        env = base_env(api.address, app.port, AWS_LWA_READINESS_CHECK_PATH="/healthz")
        env.pop("PYTHONPATH", None)  # the launcher's -E -S: lwa and urllib3 come from the tree
        no_bash = shell == "dash without bash"
        if no_bash:  # a PATH with python3 and nothing else (the self-contained build needs none)
            bin_dir = tmp_path / "bin"
            bin_dir.mkdir()
            (bin_dir / "python3").symlink_to(sys.executable)
            env["PATH"] = str(bin_dir)
        shell = shell.split()[0]
        proc = subprocess.Popen([shutil.which(shell) or shell, str(launcher)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            api.wait_polling(1, timeout=15)
            result = api.wait_result(api.push(v2_event("GET", "/early")), timeout=10)
            assert result.kind == "response" and result.json()["statusCode"] == 200, result.body[:300]
            regs = api.registrations
            assert len(regs) == 1 and regs[0]["identifier"], regs
            assert regs[0]["name"] == "lambda-adapter" and regs[0]["body"] == {"events": ["SHUTDOWN"]}
            by_lwa = regs[0]["headers"].get("user-agent", "").startswith("lwa/")
            assert by_lwa == no_bash, regs[0]["headers"]  # with bash, the launcher registered
            polls = [h for _, m, p, h in api.calls if p.endswith("/extension/event/next")]
            assert polls and all(h.get("lambda-extension-identifier") == regs[0]["identifier"] for h in polls)
        finally:
            code = stop_process(proc)
        output = proc.stdout.read().decode() if proc.stdout else ""
        assert code == 0, output
