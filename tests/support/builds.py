"""Running `layer-build.sh` from tests: one place that tells a broken build from a build this
machine's Python cannot make."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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
