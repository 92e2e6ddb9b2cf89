"""What both layer builds (the plain one and the self-contained one) share: which files of the
checkout and of the wheels go in, the mode and time every file gets, and the writers of the zip
and of the unpacked tree. Both outputs must be byte-identical for the same inputs, so every
choice that decides bytes (order, times, modes, compression) is made here, once.

The layout both builds produce (the zip's root is Lambda's /opt; a tree is COPYed to /opt):

    bootstrap                    exec wrapper for zip functions (bootstrap.sh)
    extensions/lambda-adapter    the build's launcher (extension/<build>-launcher.sh)
    lwa-adapter/                 the adapter: its own import path, and for the self-contained
                                 build its interpreter in bin/ and lib/; register-early.sh, the
                                 launchers' shared early registration (extension/register-early.sh)
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import time
import zipfile
from pathlib import Path
from typing import Iterator, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wheelhash  # noqa: E402

BOOTSTRAP = "bootstrap"
LAUNCHER = "extensions/lambda-adapter"  # Lambda starts every executable in /opt/extensions
ADAPTER = "lwa-adapter"
REGISTER_EARLY = f"{ADAPTER}/register-early.sh"  # sourced by the launcher, not run
OURS = (BOOTSTRAP, LAUNCHER, ADAPTER)
"""What a build owns inside /opt: writing a tree replaces these and leaves the rest alone."""
MIN_EPOCH = 315532800  # 1980-01-01, the earliest time a zip entry can hold
_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")


def fail(message: str, who: str = "layer-build") -> NoReturn:
    sys.exit(f"{who}: error: {message}")


def build_epoch() -> int:
    """SOURCE_DATE_EPOCH (never before 1980), else 1980-01-01: the one time every entry gets."""
    return max(int(os.environ.get("SOURCE_DATE_EPOCH") or 0), MIN_EPOCH)


def verify_wheels(pin_files: list[Path], wheels: list[str], who: str = "layer-build") -> None:
    """Every wheel must match a pinned hash (pip's --require-hashes, done offline on the cache)."""
    bad = wheelhash.mismatches(pin_files, wheels)
    if bad:
        fail("wheels not matching a pinned hash (a new pin? add these lines; otherwise delete the "
             "cached file and rebuild):\n" + "\n".join(bad), who)


def lwa_sources(repo: Path) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to the checkout) of every lwa module: no caches, no hidden or editor
    files, whatever the working copy holds besides."""
    for f in sorted((repo / "lwa").rglob("*.py")):
        rel = f.relative_to(repo)
        if f.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            yield f, rel


def wheel_files(whl: str) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file in a wheel, in the wheel's order."""
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            if not name.endswith("/"):
                yield name, z.read(name)


def put(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def stage_scripts(stage: Path, bootstrap: Path, launcher: Path) -> None:
    """The exec wrapper and the build's launcher, at the names Lambda looks for, and the shell
    fragment every launcher sources (register-early.sh, from the launcher's directory)."""
    put(stage / BOOTSTRAP, bootstrap.read_bytes())
    put(stage / LAUNCHER, launcher.read_bytes())
    put(stage / REGISTER_EARLY, (launcher.parent / "register-early.sh").read_bytes())


def mode_of(rel: str) -> int:
    """755 for the two scripts, the interpreter and shared objects; 644 for everything else."""
    name = rel.rsplit("/", 1)[-1]
    executable = (rel in (BOOTSTRAP, LAUNCHER) or rel.startswith(f"{ADAPTER}/bin/")
                  or bool(_SHARED_OBJECT.search(name)))
    return 0o755 if executable else 0o644


def entries(stage: Path) -> list[str]:
    """Every directory (with a trailing /) and file under `stage`, relative, sorted."""
    out = []
    for d, _dirs, files in os.walk(stage):
        rel = os.path.relpath(d, stage).replace(os.sep, "/")
        if rel != ".":
            out.append(rel + "/")
        out += [f if rel == "." else f"{rel}/{f}" for f in files]
    return sorted(out)


def write_zip(stage: Path, target: Path, epoch: int, compresslevel: int) -> None:
    """Sorted entries, one fixed time, fixed modes, no extra fields: same tree, same bytes."""
    date = time.gmtime(epoch)[:6]
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for name in entries(stage):
            info = zipfile.ZipInfo(name, date)
            info.create_system = 3  # Unix, so unzip and Lambda apply the modes
            if name.endswith("/"):
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                z.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | mode_of(name)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, (stage / name).read_bytes(), compresslevel=compresslevel)
    os.replace(tmp, target)


def write_tree(stage: Path, dest: Path, epoch: int) -> None:
    """The staged files unpacked into `dest` (which may be a real /opt): what a build owns there
    is replaced, anything else is left alone; modes and times as in the zip."""
    for ours in OURS:
        p = dest / ours
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    shutil.copytree(stage, dest, dirs_exist_ok=True)
    for name in reversed(entries(stage)):  # files before the directory that holds them
        p = dest / name
        os.chmod(p, 0o755 if name.endswith("/") else mode_of(name))
        os.utime(p, (epoch, epoch))
