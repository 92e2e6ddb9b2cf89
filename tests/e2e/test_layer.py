"""The Lambda layer: a reproducible zip, its layout, /opt/bootstrap and the launcher, end to end.

Builds the layer with ./layer-build.sh (wheels come from the build cache, PyPI the first time),
unzips it into a temporary /opt-like root and runs a function from it the way Lambda does:
`extensions/lambda-adapter` as the external extension, `bootstrap` as the exec wrapper that
starts the function's run.sh, against the fake Runtime API (tests/e2e/test_rie.py runs the
same layer under AWS's Runtime Interface Emulator).
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.support.events import EVENTS
from tests.support.process import clean_env
from tests.support.process import stop_process as stop

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.loopback import free_port  # noqa: E402
from tests.support.runtime_api import RuntimeApiServer  # noqa: E402

LAMBDA_PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}  # layer arch -> ELF machine in .so names
HOST_ARCH = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
EXECUTABLES = {"bootstrap", "extensions/lambda-adapter"}


# ---- helpers ----------------------------------------------------------------------------------

def python_for(version: str) -> str | None:
    """An interpreter of that minor version on this machine (PATH, then pyenv), or None."""
    if "{}.{}".format(*sys.version_info[:2]) == version:
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))
    for c in filter(None, candidates):
        probe = subprocess.run([c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return c
    return None


def unzip_layer(zip_path: Path, root: Path) -> Path:
    """Extract like Lambda does: Unix modes from the zip's external attributes."""
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            target = root / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
            os.chmod(target, (info.external_attr >> 16) & 0o7777)
    return root


def load_event(relpath: str) -> dict:
    return json.loads((EVENTS / relpath).read_bytes())


# ---- the build --------------------------------------------------------------------------------

def build(out: Path, *args: str) -> str:
    r = subprocess.run(["bash", str(REPO / "layer-build.sh"), *args, "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"layer-build.sh failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Two independent builds of both architectures, and the first build's output."""
    first, second = tmp_path_factory.mktemp("build1"), tmp_path_factory.mktemp("build2")
    output = build(first, "--arch", "all")
    build(second, "--arch", "all")
    return first, second, output


@pytest.fixture(scope="module")
def layer_zip(builds: tuple[Path, Path, str]) -> Path:
    return builds[0] / f"lambda-adapter-layer-{HOST_ARCH}.zip"


@pytest.fixture(scope="module")
def opt(layer_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host-arch layer unzipped: what Lambda mounts on /opt."""
    return unzip_layer(layer_zip, tmp_path_factory.mktemp("opt"))


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_build_is_reproducible(builds: tuple[Path, Path, str], arch: str) -> None:
    first, second, output = builds
    name = f"lambda-adapter-layer-{arch}.zip"
    a, b = (first / name).read_bytes(), (second / name).read_bytes()
    if a != b:
        with zipfile.ZipFile(first / name) as za, zipfile.ZipFile(second / name) as zb:
            differ = sorted(set(za.namelist()) ^ set(zb.namelist()))
            differ += [n for n in za.namelist() if n in zb.namelist() and za.read(n) != zb.read(n)]
        pytest.fail(f"two builds of {name} differ in {differ[:20]}")
    # the build prints each zip's path and size
    assert f"{first / name} {len(a)} bytes" in output


def test_dir_tree_is_the_zip_unpacked(tmp_path: Path) -> None:
    """`--dir` writes the host zip's files with the same bytes, modes and fixed time, replaces
    only what the layer owns in an existing /opt, and leaves everything else there alone."""
    build(tmp_path / "zip", "--arch", HOST_ARCH)  # right before the tree: the same sources
    layer_zip = tmp_path / "zip" / f"lambda-adapter-layer-{HOST_ARCH}.zip"
    dest = tmp_path / "opt"
    (dest / "extensions").mkdir(parents=True)
    (dest / "extensions" / "other-extension").write_text("another layer's\n")
    (dest / "lwa-adapter" / "stale").mkdir(parents=True)
    (dest / "python").mkdir()
    r = subprocess.run(["bash", str(REPO / "layer-build.sh"), "--dir", str(dest)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (dest / "extensions" / "other-extension").read_text() == "another layer's\n"
    assert (dest / "python").is_dir() and not (dest / "lwa-adapter" / "stale").exists()
    with zipfile.ZipFile(layer_zip) as z:
        files = {i.filename: i for i in z.infolist() if not i.is_dir()}
        on_disk = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
        assert on_disk - set(files) == {"extensions/other-extension"}
        for name, info in files.items():
            p = dest / name
            assert p.read_bytes() == z.read(name), name
            assert stat.S_IMODE(p.stat().st_mode) == (info.external_attr >> 16) & 0o777, name
            assert int(p.stat().st_mtime) == 315532800, name  # 1980-01-01, as in the zip


def test_dir_for_one_python(tmp_path: Path) -> None:
    """--python 3.X (an image's Python is known): only that brotli module, and BUILD-INFO says so;
    a Python Lambda has no runtime for is refused before anything is written."""
    dest = tmp_path / "opt"
    r = subprocess.run(["bash", str(REPO / "layer-build.sh"), "--dir", str(dest), "--python", "3.12"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    python = dest / "lwa-adapter" / "python"
    assert [p.name for p in python.glob("_brotli.*.so")] == [f"_brotli.cpython-312-{ARCHES[HOST_ARCH]}-linux-gnu.so"]
    info = (dest / "lwa-adapter" / "BUILD-INFO").read_text()
    assert f"brotli {pin('brotli')} for Python 3.12\n" in info
    assert not [p for p in python.rglob("*.pyc") if ".cpython-312." not in p.name]
    r = subprocess.run(["bash", str(REPO / "layer-build.sh"), "--dir", str(tmp_path / "no"), "--python", "3.9"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--python must be one of 3.10 3.11 3.12 3.13 3.14" in r.stderr
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_zip_layout_and_metadata(builds: tuple[Path, Path, str], arch: str) -> None:
    with zipfile.ZipFile(builds[0] / f"lambda-adapter-layer-{arch}.zip") as z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        for i in infos:
            assert i.date_time == (1980, 1, 1, 0, 0, 0), i.filename
            assert i.extra == b"", i.filename
            assert i.create_system == 3, i.filename
            mode = i.external_attr >> 16
            if i.is_dir():
                assert mode == stat.S_IFDIR | 0o755, i.filename
            elif i.filename in EXECUTABLES or i.filename.endswith(".so"):
                assert mode == stat.S_IFREG | 0o755, i.filename
            else:
                assert mode == stat.S_IFREG | 0o644, i.filename
        for required in ["bootstrap", "extensions/lambda-adapter", "lwa-adapter/BUILD-INFO",
                         "lwa-adapter/python/lwa/__init__.py", "lwa-adapter/python/lwa/__main__.py",
                         "lwa-adapter/python/urllib3/__init__.py", "lwa-adapter/python/brotli.py"]:
            assert required in names
        # nothing else at the top: Lambda merges every layer into /opt
        assert {n.split("/")[0] for n in names} == {"bootstrap", "extensions", "lwa-adapter"}
        assert [n for n in names if n.startswith("extensions/")] == [
            "extensions/", "extensions/lambda-adapter"]
        assert z.read("bootstrap") == (REPO / "bootstrap.sh").read_bytes()
        launcher = (REPO / "extension" / "layer-launcher.sh").read_bytes()
        assert z.read("extensions/lambda-adapter") == launcher
        assert z.read("lwa-adapter/register-early.sh") == (REPO / "extension" / "register-early.sh").read_bytes()
        # one brotli extension module per Lambda Python, for this architecture
        machine = ARCHES[arch]
        brotli_so = sorted(n for n in names if "/_brotli." in n)
        assert brotli_so == [
            f"lwa-adapter/python/_brotli.cpython-{v.replace('.', '')}-{machine}-linux-gnu.so"
            for v in LAMBDA_PYTHONS]
        info = z.read("lwa-adapter/BUILD-INFO").decode()
        assert f"brotli {pin('brotli')} for Python {' '.join(LAMBDA_PYTHONS)}" in info
        assert f"urllib3 {pin('urllib3')}" in info
        # bytecode for the build's Python, in unchecked-hash mode (flags == 0b01): valid
        # whatever the files' mtimes, and never rewritten on a read-only /opt
        tag = "cpython-{}{}".format(*sys.version_info[:2])
        pyc = f"lwa-adapter/python/lwa/__pycache__/__init__.{tag}.pyc"
        assert pyc in names
        assert int.from_bytes(z.read(pyc)[4:8], "little") == 0b01
        assert not any("/tests/" in n or n.endswith((".pyo", "~")) for n in names)


def pin(name: str) -> str:
    text = (REPO / "layer-requirements.txt").read_text()
    match = re.search(rf"^{name}==(\S+)", text, re.M)
    assert match, f"no {name} pin"
    return match[1]


def test_unzipped_modes(opt: Path) -> None:
    for name in EXECUTABLES:
        assert stat.S_IMODE((opt / name).stat().st_mode) == 0o755


@pytest.mark.parametrize("version", LAMBDA_PYTHONS)
def test_brotli_and_urllib3_import_from_the_layer_only(opt: Path, version: str) -> None:
    python = python_for(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    pydir = opt / "lwa-adapter" / "python"
    code = textwrap.dedent("""
        import json, brotli, _brotli, urllib3
        data = b"lwa " * 1000
        assert brotli.decompress(brotli.compress(data)) == data
        print(json.dumps({m.__name__: m.__file__ for m in (brotli, _brotli, urllib3)}
                         | {"urllib3_version": urllib3.__version__}))
    """)
    r = subprocess.run([python, "-S", "-c", code], capture_output=True, text=True,
                       env=clean_env(PYTHONPATH=str(pydir)), cwd=opt)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    for module in ("brotli", "_brotli", "urllib3"):
        assert Path(found[module]).is_relative_to(pydir), found
    tag = f"cpython-{version.replace('.', '')}-{ARCHES[HOST_ARCH]}-linux-gnu"
    assert found["_brotli"].endswith(f"{tag}.so")
    assert found["urllib3_version"] == pin("urllib3")


# ---- bootstrap (the exec wrapper) -------------------------------------------------------------

def write_script(path: Path, text: str, mode: int = 0o755, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode())
    path.chmod(mode)
    return path


def run_bootstrap(opt: Path, task_root: Path | None, handler: str | None,
                  shell: str | None = None) -> subprocess.CompletedProcess:
    env = clean_env()
    if task_root is not None:
        env["LAMBDA_TASK_ROOT"] = str(task_root)
    if handler is not None:
        env["_HANDLER"] = handler
    # the managed runtime's own command line, which bootstrap must ignore
    cmd = [str(opt / "bootstrap"), "/var/runtime/bootstrap", "--runtime-flag"]
    if shell:
        cmd.insert(0, shell)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)


SHELLS = [None] + [s for s in ("bash", "dash") if shutil.which(s)]  # Amazon Linux's sh is bash


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s or "shebang")
def test_bootstrap_execs_the_handler_script(opt: Path, tmp_path: Path, shell: str | None) -> None:
    pid_file = tmp_path / "pid"
    write_script(tmp_path / "run.sh", f'#!/bin/sh\necho "$$ $#" > "{pid_file}"\necho started\n')
    env = clean_env(LAMBDA_TASK_ROOT=str(tmp_path), _HANDLER="run.sh")
    cmd = [str(opt / "bootstrap"), "/var/runtime/bootstrap", "--runtime-flag"]
    proc = subprocess.Popen(([shell] if shell else []) + cmd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "started\n"
    pid, argc = pid_file.read_text().split()
    assert int(pid) == proc.pid, "run.sh must replace bootstrap (exec), not run as its child"
    assert argc == "0", "the runtime's command line must not reach run.sh"


def test_bootstrap_runs_a_binary_handler(opt: Path, tmp_path: Path) -> None:
    """No "#!" line to check (an ELF file's first "line" may well hold a carriage return)."""
    binary = Path(shutil.which("true") or "/bin/true")
    shutil.copy(binary.resolve(), tmp_path / "app")
    r = run_bootstrap(opt, tmp_path, "app")
    assert (r.returncode, r.stderr) == (0, "")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s or "shebang")
@pytest.mark.parametrize("case, expect, code", [
    ("missing", ["start script not found", "run.sh"], 127),
    ("not-executable", ["not executable", "chmod 755 run.sh"], 126),
    ("crlf", ["CRLF", r"sed -i 's/\r$//' run.sh"], 126),
    ("no-interpreter", ["/bin/no-such-shell", "does not exist"], 126),
    ("no-handler", ["_HANDLER is not set", "run.sh"], 1),
    ("no-task-root", ["LAMBDA_TASK_ROOT is not set"], 1),
])
def test_bootstrap_explains_a_broken_handler(opt: Path, tmp_path: Path, shell: str | None,
                                             case: str, expect: list[str], code: int) -> None:
    marker = tmp_path / "ran"
    body = f'#!/bin/sh\ntouch "{marker}"\n'
    task_root, handler = tmp_path, "run.sh"
    if case == "not-executable":
        write_script(tmp_path / "run.sh", body, mode=0o644)
    elif case == "crlf":
        write_script(tmp_path / "run.sh", body, newline="\r\n")
    elif case == "no-interpreter":
        write_script(tmp_path / "run.sh", body.replace("/bin/sh", "/bin/no-such-shell"))
    elif case != "missing":
        write_script(tmp_path / "run.sh", body)
    if case == "no-handler":
        handler = None
    if case == "no-task-root":
        task_root = None
    r = run_bootstrap(opt, task_root, handler, shell)
    assert r.returncode == code, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("lwa bootstrap: ERROR: ")
    for text in expect:
        assert text in r.stderr
    assert not marker.exists()


# ---- the launcher -----------------------------------------------------------------------------

def test_launcher_reports_the_version(opt: Path, tmp_path: Path) -> None:
    from lwa import __version__

    r = subprocess.run([str(opt / "extensions" / "lambda-adapter"), "--version"],
                       env=clean_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert __version__ in r.stdout


def test_launcher_without_python(opt: Path, tmp_path: Path) -> None:
    if Path("/var/lang/bin/python3").exists():
        pytest.skip("this machine has Lambda's /var/lang/bin/python3")
    empty = tmp_path / "bin"
    empty.mkdir()
    r = subprocess.run(["/bin/sh", str(opt / "extensions" / "lambda-adapter")],
                       env=clean_env(PATH=str(empty)), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "no Python 3.10+ interpreter found" in r.stderr
    assert "self-contained" in r.stderr


def test_launcher_falls_back_to_a_bundled_python(opt: Path, tmp_path: Path) -> None:
    """With no Python on the machine, lwa-adapter/bin/python3 (a self-contained build) runs it;
    started by a relative path, as `cd` then `exec` must still find that interpreter."""
    root = tmp_path / "opt"
    (root / "extensions").mkdir(parents=True)
    shutil.copy2(opt / "extensions" / "lambda-adapter", root / "extensions")
    (root / "lwa-adapter" / "bin").mkdir(parents=True)
    (root / "lwa-adapter" / "python").symlink_to(opt / "lwa-adapter" / "python")
    (root / "lwa-adapter" / "bin" / "python3").symlink_to(sys.executable)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run(["/bin/sh", "extensions/lambda-adapter", "--version"], cwd=root,
                       env=clean_env(PATH=str(empty)), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("lwa ")


def test_launcher_refuses_a_forced_non_python(opt: Path, tmp_path: Path) -> None:
    fake = write_script(tmp_path / "python3", "#!/bin/sh\nexit 1\n")
    r = subprocess.run([str(opt / "extensions" / "lambda-adapter")],
                       env=clean_env(LWA_PYTHON=str(fake)), capture_output=True, text=True)
    assert r.returncode == 1
    assert f"LWA_PYTHON={fake} is not a Python 3.10+ interpreter" in r.stderr


# ---- a function run from the unzipped layer ---------------------------------------------------

APP = """\
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"method": self.command, "path": self.path, "pid": os.getpid(),
                           "context": "x-amzn-lambda-context" in self.headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def function_dir(tmp_path: Path) -> Path:
    """A zip function's /var/task: app.py and the run.sh that starts it."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(APP)
    write_script(task / "run.sh", f'#!/bin/sh\nexec "{sys.executable}" "$(dirname "$0")/app.py"\n')
    return task


def shadowing_packages(tmp_path: Path) -> Path:
    """A directory whose urllib3 and brotli break on import, as a function's own copies might."""
    d = tmp_path / "shadow"
    (d / "urllib3").mkdir(parents=True)
    (d / "urllib3" / "__init__.py").write_text("raise ImportError('the function urllib3 won')\n")
    (d / "brotli.py").write_text("raise ImportError('the function brotli won')\n")
    return d


def test_function_runs_from_the_unzipped_layer(opt: Path, tmp_path: Path) -> None:
    task = function_dir(tmp_path)
    shadow = shadowing_packages(tmp_path)
    port = free_port()
    event = load_event("apigw-v2/rust-runtime__example-apigw-v2-request-no-authorizer.json")
    with RuntimeApiServer() as api:
        # Lambda gives the extension and the runtime the same environment; a Python runtime's
        # PYTHONPATH (here: packages that must not reach the adapter) included
        env = clean_env(
            AWS_LAMBDA_RUNTIME_API=api.address, AWS_LAMBDA_FUNCTION_NAME="fn",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LWA_PORT=str(port), PORT=str(port), PYTHONPATH=str(shadow),
            LAMBDA_TASK_ROOT=str(task), _HANDLER="run.sh",
            AWS_LAMBDA_EXEC_WRAPPER=str(opt / "bootstrap"))
        logs = tmp_path / "adapter.log"
        with open(logs, "wb") as log:
            adapter = subprocess.Popen([str(opt / "extensions" / "lambda-adapter")], env=env,
                                       cwd=shadow, stdout=log, stderr=subprocess.STDOUT)
        app = subprocess.Popen([str(opt / "bootstrap"), "/var/runtime/bootstrap"], env=env,
                               cwd=task)
        try:
            registration = api.wait_registration(1, timeout=30)[0]
            assert registration["name"] == "lambda-adapter"
            rid = api.push(event)
            result = api.wait_result(rid, timeout=30)
            assert result.kind == "response", result.body
            answer = result.json()
            assert answer["statusCode"] == 200
            seen = json.loads(answer["body"])
            assert seen["method"] == "GET" and seen["path"] == "/"
            assert seen["context"] is True
            assert seen["pid"] == app.pid, "the app should be the process Lambda started"
        finally:
            app_code, adapter_code = stop(app), stop(adapter)
            print(logs.read_text(errors="replace"))
        assert app_code == 0
        assert adapter_code == 0
