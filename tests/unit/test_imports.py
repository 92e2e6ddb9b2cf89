"""Start-up cost guard: what the default path imports (STYLE "Imports and start-up cost").

Each check runs in a fresh interpreter started the way the layer's launcher starts lwa
(`-E -S`, lwa found in the working directory), so nothing this test process or this machine's
site-packages imported can hide or fake a result. No timing: bench/run.py measures that.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Heavy or optional modules that must load only when their feature is used: codecs when lwa
# compresses, http.server for `serve`, argparse for subcommands; ssl and email come with urllib3,
# which the daemon imports on a background thread, never on the way to the first poll.
FORBIDDEN = ("brotli", "_brotli", "gzip", "http.server", "argparse", "ssl", "email", "asyncio")

DEFAULT_PATH = """
import json, sys
import lwa, lwa.sources, lwa.daemon, lwa.loop
from lwa.config import load_config
load_config({})
print(json.dumps(sorted(sys.modules)))
"""


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-E", "-S", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def _loaded(modules: list[str], name: str) -> list[str]:
    return [m for m in modules if m == name or m.startswith(name + ".")]


def test_default_path_imports_no_heavy_or_optional_module():
    done = _python("-c", DEFAULT_PATH)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "lwa.daemon" in modules and "lwa.sources.apigw_v2" in modules  # the probe saw the real path
    loaded = {name: _loaded(modules, name) for name in FORBIDDEN}
    assert not any(loaded.values()), {name: found for name, found in loaded.items() if found}


def test_default_path_does_not_import_urllib3():
    # urllib3 (with ssl and email) is the daemon's background import, never a module-level one.
    done = _python("-c", DEFAULT_PATH)
    assert done.returncode == 0, done.stderr
    assert not _loaded(json.loads(done.stdout), "urllib3")


def test_version_imports_no_urllib3():
    done = _python("-X", "importtime", "-m", "lwa", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lwa "), done.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "lwa" in imported and "runpy" in imported  # the output was parsed: the check below can fail
    assert not [m for m in imported if m == "urllib3" or m.startswith("urllib3.")]


def test_daemon_loads_urllib3_without_tls():
    # The daemon's background import hides ssl and OpenSSL's hashlib backend (lwa speaks plain
    # HTTP to the app): ~5 MB less RSS. urllib3 must still work without them.
    packages = Path(importlib.util.find_spec("urllib3").origin).parent.parent  # as the layer's dir
    code = f"""
import json, sys
sys.path.append({str(packages)!r})
from lwa.daemon import import_app
from lwa.config import load_config
app = import_app()(load_config({{}}))
print(json.dumps(sorted(sys.modules)))
"""
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "urllib3.connectionpool" in modules and "lwa.app" in modules
    assert not [m for m in modules if m in ("ssl", "_ssl", "_hashlib")]
