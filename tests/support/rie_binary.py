"""AWS's Lambda Runtime Interface Emulator (RIE), the binary, fetched once and cached.

AWS ships `aws-lambda-rie` for x86_64 and arm64 inside the `aws-sam-cli` wheel on PyPI
(`samcli/local/rapid/aws-lambda-rie-<arch>`). The first use downloads that wheel with pip (version
and sha256 pinned below, checked by pip and again here), takes this machine's binary out of it,
and keeps it in `${XDG_CACHE_HOME:-~/.cache}/lwa-rie` (`LWA_RIE_CACHE` overrides): never inside
the repository. A lock file keeps parallel test processes from downloading it twice.

    python3 -m tests.support.rie_binary path    # print the binary's path, fetching it if needed

`AWS_LAMBDA_RIE=/path/to/aws-lambda-rie` uses that binary instead (offline machines).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SAM_VERSION = "1.170.0"
WHEEL = f"aws_sam_cli-{SAM_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "24ebaf5ecba38dc1758089968cb89ab61e124b84e92a344fc7a2771a47f4d0bf"
MEMBER = "samcli/local/rapid/aws-lambda-rie-{arch}"


class RieUnavailable(RuntimeError):
    """The binary cannot be had here; the message says why and what to do."""


def cache_dir() -> Path:
    """Where the binary (and the wheel it came from) are kept, outside the repository."""
    if os.environ.get("LWA_RIE_CACHE"):
        return Path(os.environ["LWA_RIE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lwa-rie"


def machine_arch() -> str:
    """RIE's name for this machine's architecture."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if arch is None:
        raise RieUnavailable(f"AWS ships no Runtime Interface Emulator for {platform.machine()}")
    return arch


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_wheel(dest: Path) -> None:
    """pip download of the pinned wheel into `dest`'s folder, hash-checked by pip itself."""
    with tempfile.TemporaryDirectory(prefix="lwa-rie-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"aws-sam-cli=={SAM_VERSION} --hash=sha256:{WHEEL_SHA256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--require-hashes", "-r", str(req), "-d", tmp]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RieUnavailable(f"could not run pip to fetch aws-sam-cli=={SAM_VERSION}: {exc}") from None
        if out.returncode != 0:
            raise RieUnavailable(
                f"pip could not download aws-sam-cli=={SAM_VERSION} from PyPI (it carries AWS's Runtime Interface "
                "Emulator); set AWS_LAMBDA_RIE to an aws-lambda-rie binary to run offline.\n"
                + out.stderr.strip()[-800:]
            )
        os.replace(Path(tmp) / WHEEL, dest)


def binary_path() -> Path:
    """The path of an executable aws-lambda-rie for this machine, fetching it on first use."""
    override = os.environ.get("AWS_LAMBDA_RIE")
    if override:
        if not os.access(override, os.X_OK):
            raise RieUnavailable(f"AWS_LAMBDA_RIE is not an executable file: {override}")
        return Path(override)
    arch = machine_arch()
    cache = cache_dir()
    binary = cache / f"aws-lambda-rie-{SAM_VERSION}-{arch}"
    if os.access(binary, os.X_OK):
        return binary
    try:
        cache.mkdir(parents=True, exist_ok=True)
        lock = (cache / ".lock").open("a")
    except OSError as exc:
        raise RieUnavailable(f"cannot use the cache directory {cache}: {exc} (set LWA_RIE_CACHE)") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download at a time; the others find it done
        if os.access(binary, os.X_OK):
            return binary
        wheel = cache / WHEEL
        if not wheel.exists() or _sha256(wheel) != WHEEL_SHA256:
            wheel.unlink(missing_ok=True)
            _download_wheel(wheel)
        got = _sha256(wheel)
        if got != WHEEL_SHA256:
            wheel.unlink(missing_ok=True)
            raise RieUnavailable(f"{WHEEL} has sha256 {got}, expected {WHEEL_SHA256}: refused")
        tmp = binary.with_name(binary.name + f".tmp{os.getpid()}")
        try:
            with zipfile.ZipFile(wheel) as z:
                tmp.write_bytes(z.read(MEMBER.format(arch=arch)))
        except (KeyError, zipfile.BadZipFile) as exc:
            raise RieUnavailable(f"{wheel} holds no {MEMBER.format(arch=arch)}: {exc}") from None
        tmp.chmod(0o755)
        os.replace(tmp, binary)
    return binary


def main(argv: list[str]) -> int:
    """`path`: print the binary's path (exit 0), or why it cannot be had (exit 2)."""
    if argv != ["path"]:
        print("usage: python3 -m tests.support.rie_binary path", file=sys.stderr)
        return 2
    try:
        print(binary_path())
    except RieUnavailable as exc:
        print(f"aws-lambda-rie: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
