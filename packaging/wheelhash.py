"""Offline hash check of cached wheels against pip requirement files (`--hash=sha256:` lines),
shared by layer-build.sh and the self-contained build: pip's --require-hashes, on the cache."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def mismatches(pin_files: list[Path], wheels: list[str]) -> list[str]:
    """One `--hash=sha256:...   # wheel` line for each wheel whose digest no pin allows."""
    allowed: dict[str, set[str]] = {}
    for pins in pin_files:
        for req in re.sub(r"\\\n", " ", Path(pins).read_text()).splitlines():
            m = re.match(r"\s*([A-Za-z0-9_.-]+)==(\S+)(.*)", req)
            if m:
                allowed.setdefault(m[1].lower(), set()).update(re.findall(r"--hash=sha256:([0-9a-f]{64})", m[3]))
    bad = []
    for whl in wheels:
        name = Path(whl).name.split("-")[0].lower()
        digest = hashlib.sha256(Path(whl).read_bytes()).hexdigest()
        if digest not in allowed.get(name, ()):
            bad.append(f"    --hash=sha256:{digest}   # {Path(whl).name}")
    return bad
