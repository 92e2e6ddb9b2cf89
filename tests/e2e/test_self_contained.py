"""The self-contained extension (issue 10): an image with no Python at all runs lwa.

The artifact is built once per session by `./layer-build.sh --self-contained` and cached under
${LWA_BUILD_CACHE:-~/.cache/lwa-build}/selfcontained-test/<hash of the inputs>, so an unchanged
checkout reuses it. The end-to-end test makes a root file system holding only busybox-static
(a shell and `httpd`, the function's web app), the glibc files the artifact asks for, the
artifact on /opt, and AWS's Runtime Interface Emulator; RIE runs inside it (chroot), starts
/opt/extensions/lambda-adapter as the external extension and `busybox httpd` as the function,
and real v2, v1 and ALB events are invoked through it. It skips, saying why, only when not
root, without chroot, or when busybox-static or the RIE binary cannot be had.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.builds import HOST_ARCH, Artifact, selfcontained_artifact

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
OTHER_ARCH = "x86_64" if HOST_ARCH == "arm64" else "arm64"
GLIBC_FLOOR = (2, 34)  # Amazon Linux 2023
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# One real event per HTTP source, GETs so that busybox httpd answers them from files.
CASES = {
    "v2": ("apigw-v2/rust-runtime__example-apigw-sam-http-request.json", "br"),
    "v1": ("apigw-v1/rust-runtime__apigw_no_host.json", "gzip"),
    "alb": ("alb/powertools-python__albMultiValueQueryStringEvent.json", "identity"),
}


def build(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "layer-build.sh"), "--self-contained", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def artifact() -> Artifact:
    return selfcontained_artifact()


def is_elf(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(4) == b"\x7fELF"


def elves(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p))


def glibc_versions(p: Path) -> set[tuple[int, ...]]:
    """GLIBC_x versions the loader insists on: every symbol's (objdump -T), plus every non-weak
    requirement in .gnu.version_r (readelf -V)."""
    found = set()
    dyn = subprocess.run(["objdump", "-T", str(p)], capture_output=True, text=True, check=True).stdout
    for line in dyn.splitlines():
        if "*UND*" in line:
            found.update(re.findall(r"\bGLIBC_(\d+(?:\.\d+)+)", line))
    ver = subprocess.run(["readelf", "-V", "-W", str(p)], capture_output=True, text=True, check=True).stdout
    for m in re.finditer(r"Name: GLIBC_(\d+(?:\.\d+)+)\s+Flags: (\S+)", ver):
        if "WEAK" not in m[2]:
            found.add(m[1])
    return {tuple(int(x) for x in v.split(".")) for v in found}


# ---- the artifact itself ----------------------------------------------------------------------

def test_layout_zip_and_tree_hold_the_same_files(artifact: Artifact) -> None:
    with zipfile.ZipFile(artifact.zip) as z:
        infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
        for name, info in infos.items():
            on_disk = artifact.tree / name
            assert on_disk.is_file(), f"{name} is in the zip but not in the tree"
            assert z.read(name) == on_disk.read_bytes(), name
            zip_mode = (info.external_attr >> 16) & 0o777
            assert zip_mode == stat.S_IMODE(on_disk.stat().st_mode), name
    tree_files = {str(p.relative_to(artifact.tree)) for p in artifact.tree.rglob("*") if p.is_file()}
    assert tree_files == set(infos)
    for exe in ("bootstrap", "extensions/lambda-adapter", "lwa-adapter/bin/python3"):
        assert (infos[exe].external_attr >> 16) & 0o111 == 0o111, f"{exe} must be executable"
    assert (artifact.tree / "bootstrap").read_bytes() == (REPO / "bootstrap.sh").read_bytes()
    build_info = (artifact.tree / "lwa-adapter" / "BUILD-INFO").read_text()
    assert f"arch: {HOST_ARCH}" in build_info and "glibc: >= 2." in build_info
    unpacked = sum(i.file_size for i in infos.values())
    print(f"\nself-contained {HOST_ARCH}: zip {artifact.zip.stat().st_size / 1048576:.1f} MiB, "
          f"unpacked {unpacked / 1048576:.1f} MiB in {len(infos)} files")


def test_only_what_lwa_imports_is_shipped(artifact: Artifact) -> None:
    lib = next((artifact.tree / "lwa-adapter" / "lib").glob("python3.*"))
    for needed in ("lwa/__main__.py", "urllib3/__init__.pyc", "brotli.pyc", "http/client.pyc",
                   "encodings/idna.pyc", "json/__init__.pyc"):
        assert (lib / needed).is_file(), f"{needed} is missing"
    assert list(lib.glob("_brotli.*.so")), "brotli's extension module is missing"
    assert list(lib.glob("lib-dynload/_socket.*.so")) and list(lib.glob("lib-dynload/zlib.*.so"))
    for trimmed in ("ssl.pyc", "asyncio", "unittest", "tkinter", "pydoc.pyc", "multiprocessing",
                    "ensurepip", "test", "site-packages", "config-3"):
        assert not list(lib.glob(trimmed + "*")), f"{trimmed} should have been left out"
    assert not list(lib.glob("lib-dynload/_ssl*")) and not list(lib.glob("lib-dynload/_hashlib*"))
    assert not [p for p in lib.rglob("*.py") if p.parts[len(lib.parts)] != "lwa"], \
        "only lwa keeps its sources; everything else ships as .pyc"


def test_elf_files_need_glibc_234_at_most_and_no_build_paths(artifact: Artifact) -> None:
    if not (shutil.which("objdump") and shutil.which("readelf")):
        pytest.skip("objdump/readelf (binutils) not installed")
    worst = {}
    for p in elves(artifact.tree):
        versions = glibc_versions(p)
        if versions:
            worst[str(p.relative_to(artifact.tree))] = max(versions)
        dyn = subprocess.run(["readelf", "-d", "-W", str(p)], capture_output=True, text=True, check=True).stdout
        for path in re.findall(r"R(?:UN)?PATH\).*\[(.*)\]", dyn):
            assert all(part.startswith("$ORIGIN") for part in path.split(":")), f"{p.name}: RUNPATH {path}"
    assert worst, "no ELF file needs glibc?"
    floor = max(worst.values())
    print(f"\nglibc floor of the self-contained build: {'.'.join(map(str, floor))} "
          f"(set by {', '.join(k for k, v in worst.items() if v == floor)})")
    assert floor <= GLIBC_FLOOR, {k: v for k, v in worst.items() if v > GLIBC_FLOOR}


def test_same_sources_same_bytes(artifact: Artifact, tmp_path: Path) -> None:
    r = build(tmp_path)
    assert r.returncode == 0, r.stderr
    again = tmp_path / artifact.zip.name
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(artifact.zip.read_bytes()).hexdigest()


def test_refuses_an_architecture_it_cannot_build(tmp_path: Path) -> None:
    r = build(tmp_path, "--arch", OTHER_ARCH)
    assert r.returncode != 0
    assert f"needs an {OTHER_ARCH} builder" in r.stderr and f"this machine is {HOST_ARCH}" in r.stderr
    assert not list(tmp_path.iterdir()), "nothing may be written under a wrong label"


# ---- end to end: a root file system with no Python, under RIE -----------------------------------

def _static_busybox() -> Path | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox") or ""):
        p = Path(candidate)
        if candidate and p.is_file():
            out = subprocess.run(["file", "-L", str(p)], capture_output=True, text=True).stdout \
                if shutil.which("file") else ""
            ldd = subprocess.run(["ldd", str(p)], capture_output=True, text=True)
            if "statically linked" in out or "not a dynamic executable" in ldd.stdout + ldd.stderr:
                return p
    return None


def _chroot_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "chroot needs root"
    if not shutil.which("chroot") or not shutil.which("unshare"):
        return "no chroot or unshare command"
    if _static_busybox() is None and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "busybox-static"], capture_output=True, timeout=600)
    if _static_busybox() is None:
        return "busybox-static is not installed and could not be (apt-get install busybox-static)"
    return None


def _rie_binary() -> Path | str:
    from tests.support import rie_binary

    try:
        return rie_binary.binary_path()
    except rie_binary.RieUnavailable as exc:
        return f"no RIE binary: {exc}"


def _system_libraries(tree: Path) -> set[Path]:
    """The files of the build machine's glibc that the artifact's ELF files load (ldd)."""
    found = set()
    for p in elves(tree):
        out = subprocess.run(["ldd", str(p)], capture_output=True, text=True).stdout
        for m in re.finditer(r"(?:=>\s*)?(/\S+)\s+\(0x", out):
            lib = Path(m[1])
            if not lib.resolve().is_relative_to(tree.resolve()):
                found.add(lib)
    return found


def _port_pair() -> int:
    for _ in range(200):
        p = random.randrange(20000, 32000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise AssertionError("no free pair of ports")


def _header(resp: dict[str, Any], name: str) -> str | None:
    for key in ("multiValueHeaders", "headers"):
        for k, v in (resp.get(key) or {}).items():
            if k.lower() == name:
                return v[-1] if isinstance(v, list) else v
    return None


def _make_root(root: Path, artifact: Artifact, rie: Path, pages: dict[str, bytes]) -> None:
    (root / "bin").mkdir(parents=True)
    busybox = root / "bin" / "busybox"
    shutil.copy2(_static_busybox(), busybox)
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    for lib in _system_libraries(artifact.tree):  # glibc only: what any glibc image has
        dest = root / str(lib).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), dest)
    shutil.copytree(artifact.tree, root / "opt", symlinks=True)
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    shutil.copy2(rie, root / "usr" / "local" / "bin" / "aws-lambda-rie")
    for d in ("tmp", "dev", "proc", "var/task"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(root / "dev" / "urandom", 0o444 | stat.S_IFCHR, os.makedev(1, 9))
    for path, body in pages.items():
        (root / "www" / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / "www" / path.lstrip("/")).write_bytes(body)


def _kill_chrooted(root: Path) -> None:
    """Whatever RIE started inside `root` and left behind (we started them, through RIE)."""
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            try:
                if Path(os.readlink(pid_dir / "root")).resolve() == root.resolve():
                    os.kill(int(pid_dir.name), signal.SIGKILL)
            except OSError:
                pass


def _stop_rie(proc: subprocess.Popen) -> None:
    """SIGTERM to RIE, as Lambda's shutdown: SHUTDOWN to the extension, SIGTERM to the function.
    Not to unshare, which ignores SIGTERM while it waits for its child."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat_file.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == proc.pid:
            os.kill(int(stat_file.parent.name), signal.SIGTERM)
    proc.wait(15)


def test_runs_without_python_under_rie(artifact: Artifact, tmp_path: Path) -> None:
    reason = _chroot_unavailable()
    rie = _rie_binary() if reason is None else reason
    if isinstance(rie, str):
        print(f"\nskipping the no-Python chroot test: {rie}")
        pytest.skip(rie)

    events, pages = {}, {}
    for kind, (name, encoding) in CASES.items():
        event = json.loads((EVENTS / name).read_text())
        for key in ("headers", "multiValueHeaders"):
            if isinstance(event.get(key), dict):
                value = [encoding] if key == "multiValueHeaders" else encoding
                event[key] = {k: v for k, v in event[key].items() if k.lower() != "accept-encoding"}
                event[key]["accept-encoding"] = value
        path = event.get("rawPath") or event["path"]
        pages[path] = f"busybox httpd answers {kind} {path} without any Python\n".encode() * 8
        events[kind] = (event, path, encoding)

    root = tmp_path / "root"
    _make_root(root, artifact, rie, pages)
    strays = [p for p in root.rglob("*python*") if not p.is_relative_to(root / "opt" / "lwa-adapter")]
    assert not strays, f"Python outside the artifact: {strays}"
    assert not (root / "usr" / "bin").exists() and not (root / "usr" / "lib").exists()

    # A private PID namespace with its own /proc (the loader resolves $ORIGIN through
    # /proc/self/exe, as on Lambda and in any container): when RIE, its PID 1, exits, everything
    # it started goes too. Paths are this machine's; inside, PATH is /bin.
    inside = [shutil.which("unshare"), "--fork", "--pid", "--kill-child=SIGTERM", f"--mount-proc={root}/proc",
              shutil.which("chroot"), str(root)]
    version = subprocess.run([*inside, "/opt/extensions/lambda-adapter", "--version"],
                             capture_output=True, text=True, timeout=30, env={"PATH": "/bin"})
    assert version.returncode == 0 and version.stdout.startswith("lwa "), version

    port, app_port = _port_pair(), _port_pair()
    env = {"PATH": "/bin", "AWS_LWA_PORT": str(app_port), "AWS_LWA_ENABLE_COMPRESSION": "true",
           "AWS_LAMBDA_FUNCTION_TIMEOUT": "30"}
    log = tmp_path / "rie.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*inside, "/usr/local/bin/aws-lambda-rie",
             "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
             "--runtime-api-address", f"127.0.0.1:{port + 1}",
             "/bin/busybox", "httpd", "-f", "-p", f"127.0.0.1:{app_port}", "-h", "/www"],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        for kind, (event, path, encoding) in events.items():
            req = urllib.request.Request(f"http://127.0.0.1:{port}{INVOKE_PATH}", data=json.dumps(event).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                answer = r.read()
            try:
                resp = json.loads(answer)
            except ValueError:
                raise AssertionError(f"{kind}: not a Lambda response: {answer[:500]!r}\n{log.read_text()}") from None
            assert resp.get("statusCode") == 200, f"{kind}: {resp}\n{log.read_text()}"
            body = resp.get("body") or ""
            raw = base64.b64decode(body) if resp.get("isBase64Encoded") else body.encode()
            sent = _header(resp, "content-encoding")
            if encoding == "identity":
                assert sent is None
            else:
                assert sent == encoding, f"{kind}: asked for {encoding}, got {sent}"
                import brotli  # noqa: PLC0415 - the test side decodes; the artifact encoded
                raw = brotli.decompress(raw) if encoding == "br" else gzip.decompress(raw)
            assert raw == pages[path], f"{kind}: {raw[:200]!r}"
            if kind == "v1":
                assert "multiValueHeaders" in resp
            if kind == "alb":
                assert resp.get("statusDescription") == "200 OK" and "multiValueHeaders" in resp
            if kind == "v2":
                assert isinstance(resp.get("cookies"), list) and isinstance(resp["headers"]["content-encoding"], str)
        _stop_rie(proc)
        text = log.read_text(errors="replace")
        assert "lwa stopped" in text, f"the extension did not shut down cleanly:\n{text}"
        m = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", text)
        print("\nno-Python chroot under RIE: v2 (br), v1 (gzip), ALB answered, clean shutdown"
              + (f"; RIE Init {float(m[1]):.0f} ms" if m else ""))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        _kill_chrooted(root)
