"""Start-up cost guard: what the default path imports, and a budget for the way to the first poll.

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
from lwa.preload import import_app
from lwa.config import load_config
app = import_app()(load_config({{}}))
print(json.dumps(sorted(sys.modules)))
"""
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "urllib3.connectionpool" in modules and "lwa.app" in modules
    assert not [m for m in modules if m in ("ssl", "_ssl", "_hashlib")]
    # urllib3's HTTP/2 module got a stand-in for importlib.metadata (and its zipfile, csv, ...)
    assert not [m for m in modules if m.startswith(("importlib.metadata", "zipfile", "csv", "lzma"))]
    assert "urllib3.http2" in modules and "encodings.idna" not in modules  # idna: the holder's, not here


def test_the_metadata_stand_in_gives_way_to_the_real_module():
    # After the import, `importlib.metadata` is the real module again, and the stand-in's one
    # function (kept by urllib3.http2) loads and asks the real one.
    packages = Path(importlib.util.find_spec("urllib3").origin).parent.parent
    code = f"""
import sys
sys.path.append({str(packages)!r})
from lwa.preload import import_app
import_app()
import urllib3.http2 as h2
import importlib.metadata as real
assert real.__name__ == "importlib.metadata" and hasattr(real, "distributions"), real
try:
    h2.version("surely-not-installed-lwa")
except real.PackageNotFoundError:
    print("real")
"""
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "real"


# Every module loaded on the way to the first poll by the threads that make it (main and slots;
# the `lwa-import` thread's preload of lwa.loop and urllib3 aside), run as the layer runs lwa.
# A budget, not a guess: a new module here costs every cold start, so adding one is a decision
# (bench/run.py, section 1, shows what each costs).
FIRST_POLL_BUDGET = frozenset((
    "__future__", "_socket", "_weakrefset", "array", "collections.abc", "enum", "errno", "math", "select",
    "selectors", "socket", "threading",
    "lwa", "lwa.__main__", "lwa.config", "lwa.daemon", "lwa.errors", "lwa.extension", "lwa.logs",
    "lwa.readiness", "lwa.runtime", "lwa.signals", "lwa.wire",
    # parts of config and daemon in modules of their own (the same code, no new dependency)
    "lwa.coldstart", "lwa.preload", "lwa.record", "lwa.variables",
)) | frozenset((  # loaded by `-m`'s runpy before lwa in the layer's run (here: by the recorder's)
    "collections", "functools", "itertools", "keyword", "operator", "reprlib", "types", "_collections",
    "_functools", "_operator", "importlib", "importlib.machinery", "importlib.util", "importlib._abc",
    "contextlib", "warnings",
))

_RECORDER = """
import runpy, sys, time
records = []
class Recorder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        current = getattr(sys.modules.get("threading"), "current_thread", None)
        records.append((time.monotonic(), current().name if current else "MainThread", name))
        return None
sys.meta_path.insert(0, Recorder)
import os
real_exit = os._exit
def leave(code):
    with open(os.environ["IMPORT_LOG"], "w") as f:
        f.writelines(f"{t}\\t{th}\\t{n}\\n" for t, th, n in list(records))
    real_exit(code)
os._exit = leave
sys.argv[0] = "lwa"
runpy.run_module("lwa", run_name="__main__", alter_sys=True)
"""


def test_modules_imported_before_the_first_poll_stay_within_the_budget(tmp_path):
    import signal
    import socket
    import threading

    from tests.support.process import base_env
    from tests.support.runtime_api import RuntimeApiServer

    app = socket.create_server(("127.0.0.1", 0))  # ready at once (TCP readiness): no wait at all
    app.settimeout(10)
    log = tmp_path / "imports.tsv"
    with RuntimeApiServer() as runtime:
        env = base_env(runtime.address, app.getsockname()[1], AWS_LWA_READINESS_CHECK_PROTOCOL="tcp",
                       IMPORT_LOG=str(log))
        env.pop("PYTHONPATH")
        proc = subprocess.Popen([sys.executable, "-E", "-S", "-c", _RECORDER], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first = runtime.wait_calls("GET", "/2018-06-01/runtime/invocation/next", 1, timeout=20)[0][0]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            app.close()
    assert threading  # the recorder reads thread names; the thread list is the daemon's
    records = [line.split("\t") for line in log.read_text().splitlines()]
    assert any(name == "lwa.loop" for _, _, name in records), "the preload ran: the records are real"
    before = {name for at, thread, name in records if float(at) <= first and thread != "lwa-import"}
    assert "lwa.daemon" in before and "lwa.runtime" in before
    assert not before - FIRST_POLL_BUDGET, f"new on the way to the first poll: {sorted(before - FIRST_POLL_BUDGET)}"
    heavy = {name for name in before if name.split(".")[0] in ("typing", "json", "re", *FORBIDDEN)}
    assert not heavy, heavy
