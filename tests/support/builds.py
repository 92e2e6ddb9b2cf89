"""Running `layer-build.sh` from tests: one place that tells a broken build from a build this
machine's Python cannot make."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
HOST_ARCH = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
INPUTS = ("lwa", "packaging", "extension", "layer-requirements.txt", "bootstrap.sh", "layer-build.sh")
# packaging/self_contained.py refuses a Python whose libraries need a newer glibc than the floor
# it promises (Amazon Linux 2023's 2.34): Debian bookworm's own python3 links a libexpat that
# needs arc4random_buf@GLIBC_2.36, which no older glibc has.
_FLOOR_REFUSALS = ("has no version at or below GLIBC_", "floor")


def layer_build(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`layer-build.sh ARGS`; skips the test, saying why, when the self-contained build cannot be
    made from this Python, and fails it for any other error."""
    r = subprocess.run(["bash", str(REPO / "layer-build.sh"), *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 and "--self-contained" in args and any(s in r.stderr for s in _FLOOR_REFUSALS):
        reason = r.stderr.strip().splitlines()[-1]
        pytest.skip(f"the self-contained build cannot be made from this Python: {reason}")
    assert r.returncode == 0, f"layer-build.sh {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


class Artifact(NamedTuple):
    tree: Path
    zip: Path


def _inputs_key() -> str:
    h = hashlib.sha256()
    h.update(f"{sys.version}\0{Path(sys.executable).resolve()}\0{HOST_ARCH}\0".encode())
    for name in INPUTS:
        base = REPO / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" in p.parts or p.suffix == ".pyc":
                continue
            h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def selfcontained_artifact() -> Artifact:
    """`layer-build.sh --self-contained` for this checkout, cached under
    ${LWA_BUILD_CACHE:-~/.cache/lwa-build}/selfcontained-test/<hash of the inputs> and reused while
    the inputs are unchanged; skips the calling test when this Python cannot make the build."""
    cache = Path(os.environ.get("LWA_BUILD_CACHE") or Path.home() / ".cache" / "lwa-build") / "selfcontained-test"
    done = cache / _inputs_key()
    name = f"lambda-adapter-selfcontained-{HOST_ARCH}"
    if not (done / f"{name}.zip").is_file():
        tmp = cache / f"tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        started = time.monotonic()
        r = layer_build("--self-contained", "--out", str(tmp))
        print(f"\nself-contained build: {time.monotonic() - started:.1f} s\n{r.stdout}")
        shutil.rmtree(done, ignore_errors=True)  # an incomplete earlier attempt
        try:
            tmp.rename(done)
        except OSError:  # another session finished the same build first
            shutil.rmtree(tmp, ignore_errors=True)
        for old in cache.iterdir():  # builds of other inputs: only the latest is kept
            if old.name != done.name and not old.name.startswith("tmp-"):
                shutil.rmtree(old, ignore_errors=True)
    return Artifact(done / name, done / f"{name}.zip")
