"""Assemble the self-contained lwa extension: this CPython's interpreter and shared library plus
only the modules lwa imports, compiled, so the result runs where no Python is installed.

Run by packaging/self-contained.sh with the interpreter to ship (PYTHONHASHSEED=0, -S -s;
not -I or -E, which would ignore PYTHONHASHSEED):

    python -S -s self_contained.py --repo DIR --arch x86_64 --urllib3 WHL --brotli WHL \
        --launcher FILE --bootstrap FILE [--zip FILE] [--tree DIR]

Layout (the zip's root is Lambda's /opt; the tree is COPYed to /opt):
    bootstrap                          exec wrapper, as in the plain layer
    extensions/lambda-adapter          extension/self-contained-launcher.sh: registers (with
                                       bash), runs ../lwa-adapter/bin/python3 -I -S -B lwa/__main__.py
    lwa-adapter/register-early.sh      extension/register-early.sh, as in the plain layer
    lwa-adapter/BUILD-INFO             versions, glibc floor, module count
    lwa-adapter/bin/python3            the interpreter (RUNPATH $ORIGIN/../lib)
    lwa-adapter/lib/                   libpythonX.Y.so (if shared) and bundled non-glibc libraries
    lwa-adapter/lib/pythonX.Y/         stdlib subset (sourceless .pyc), urllib3, brotli, lwa
                                       (.py + unchecked-hash .pyc) and lib-dynload/ (needed .so)
"""

from __future__ import annotations

import argparse
import io
import modulefinder
import os
import platform
import py_compile
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import glibc_pin  # noqa: E402
import layout  # noqa: E402

GLIBC_FLOOR = "GLIBC_2.34"  # Amazon Linux 2023; Debian bookworm has 2.36
GLIBC_SONAMES = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                 "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
INSTALL_PREFIX = "/opt/lwa-adapter"  # where tracebacks say the code lives

# Modules the static import graph reaches but lwa never runs. Each is imported optionally
# (inside try/except ImportError, or in a function lwa does not call), so leaving it out is
# safe; the chroot test exercises the paths that matter.
EXCLUDES = [
    # TLS: lwa speaks plain HTTP to the app on loopback and to the Runtime API; urllib3 works
    # without ssl, and hashlib falls back to its built-in _sha*/_md5/_blake2. Drops OpenSSL.
    "ssl", "_ssl", "_hashlib",
    # threads only: no event loop, no processes
    "asyncio", "concurrent", "multiprocessing", "_multiprocessing", "_posixshmem",
    # no FFI, XML, archives other than zip, or decimal arithmetic
    "ctypes", "_ctypes", "xml", "xmlrpc", "pyexpat", "plistlib", "tarfile", "lzma", "_lzma", "bz2", "_bz2",
    "decimal", "_decimal", "_pydecimal", "statistics", "fractions",
    # interactive and developer tools; pickling loggers, -X tracemalloc, PyZipFile
    "pdb", "pydoc", "doctest", "unittest", "tkinter", "curses", "readline", "idlelib", "lib2to3",
    "ensurepip", "venv", "distutils", "sqlite3", "dbm", "getpass", "_pyrepl",
    "pickle", "_pickle", "_compat_pickle", "pprint", "tracemalloc", "py_compile",
    # uuid's optional libuuid binding (uuid4 needs only os.urandom): one library less to carry
    "_uuid",
    # urllib3 extras for other transports and platforms (HTTP/2, SOCKS, zstd, pyOpenSSL, Pyodide)
    "h2", "socks", "zstandard", "compression", "brotlicffi", "OpenSSL", "cryptography", "js", "pyodide",
    "urllib3.contrib", "urllib3.http2.connection",
    # other operating systems
    "nt", "winreg", "_winapi", "msvcrt", "_overlapped", "java", "org", "vms_lib", "_scproxy",
]
# encodings that need the CJK codec extension modules, or exist for Windows only
ENCODING_SKIP = re.compile(r"mbcs|oem|cp65001|big5|big5hkscs|cp932|cp949|cp950|euc_.*|gb.*|hz|iso2022_.*"
                           r"|johab|shift_jis.*")


class Finder(modulefinder.ModuleFinder):
    """ModuleFinder that remembers who first imported each module (for --why)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.importer: dict[str, str] = {}

    def import_hook(self, name, caller=None, fromlist=None, level=-1):
        before = set(self.modules)
        try:
            return super().import_hook(name, caller, fromlist, level)
        finally:
            for new in set(self.modules) - before:
                self.importer.setdefault(new, caller.__name__ if caller else "<root>")


WHO = "self-contained"
ZIP_LEVEL = 9


def fail(msg: str) -> NoReturn:
    layout.fail(msg, WHO)


def stage_sources(repo: Path, site: Path, urllib3_whl: str, brotli_whl: str) -> None:
    """lwa from the checkout, urllib3 and brotli from their wheels (code only, no metadata)."""
    for f, rel in layout.lwa_sources(repo):
        layout.put(site / rel, f.read_bytes())
    for whl in (urllib3_whl, brotli_whl):
        for name, data in layout.wheel_files(whl):
            top = name.split("/")[0]
            if ".dist-info" not in top and ".data" not in top:
                layout.put(site / name, data)


def find_modules(site: Path, stdlib: Path, dynload: Path) -> tuple[Finder, list[str]]:
    finder = Finder(path=[str(site), str(stdlib), str(dynload)], excludes=EXCLUDES)
    roots = ["brotli"]
    for base, prefix in ((site / "lwa", "lwa"), (site / "urllib3", "urllib3")):
        for f in sorted(base.rglob("*.py")):
            parts = list(f.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([prefix, *parts])
            if not any(name == x or name.startswith(x + ".") for x in EXCLUDES):
                roots.append(name)
    roots += ["encodings"] + sorted(
        f"encodings.{f.stem}" for f in (stdlib / "encodings").glob("*.py")
        if f.stem != "__init__" and not ENCODING_SKIP.fullmatch(f.stem))
    for name in roots:
        finder.import_hook(name)
    return finder, roots


def compile_to(src: Path, dest: Path, shown: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(str(src), cfile=str(dest), dfile=shown, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def host_library(soname: str) -> Path:
    try:
        return glibc_pin.find_library(soname)
    except FileNotFoundError as exc:
        fail(f"{soname} is needed: {exc}")


def run(*cmd: str) -> None:
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        fail(f"{' '.join(cmd)} failed:\n{r.stdout}")


def add_native(home: Path, args: argparse.Namespace) -> tuple[list[str], list[str], str]:
    """The interpreter, its shared library and every non-glibc library anything here loads;
    then every ELF file stripped, its RUNPATH made relative (or removed) and its glibc symbol
    versions lowered to the floor. Returns (libraries copied, versions lowered, glibc floor)."""
    exe = Path(sys.executable).resolve()
    (home / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exe, home / "bin" / "python3")
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        soname = sysconfig.get_config_var("INSTSONAME")
        shutil.copyfile(Path(sysconfig.get_config_var("LIBDIR"), soname), home / "lib" / soname)
    elves = sorted(p for p in home.rglob("*") if p.is_file() and glibc_pin.is_elf(p))
    bundled = {p.name for p in elves}
    copied = []
    queue = list(elves)
    while queue:
        for soname in glibc_pin.Elf(queue.pop()).needed():
            if soname not in bundled and soname not in GLIBC_SONAMES:
                shutil.copyfile(host_library(soname), home / "lib" / soname)
                bundled.add(soname)
                copied.append(soname)
                queue.append(home / "lib" / soname)
    elves = sorted(p for p in home.rglob("*") if p.is_file() and glibc_pin.is_elf(p))

    pins = []
    for p in elves:
        run(args.strip, "--strip-unneeded", "--remove-section=.comment", str(p))
        if any(n not in GLIBC_SONAMES for n in glibc_pin.Elf(p).needed()):
            rpath = "$ORIGIN/" + os.path.relpath(home / "lib", p.parent)
            run(args.patchelf, "--set-rpath", rpath.removesuffix("/."), str(p))
        else:
            run(args.patchelf, "--remove-rpath", str(p))
        try:
            pins += [f"{p.relative_to(home)}: {c}" for c in glibc_pin.pin(p, GLIBC_FLOOR)]
        except ValueError as exc:  # a symbol the floor's glibc does not have at all
            fail(f"{exc}. Build with a Python whose libraries need glibc {GLIBC_FLOOR[6:]} at most "
                 f"(this one is {sys.executable}; pyenv and python.org builds bundle their own expat)")
    floor = max((glibc_pin.max_glibc(p) or "GLIBC_2.0" for p in elves), key=glibc_pin.version_key)
    if glibc_pin.version_key(floor) > glibc_pin.version_key(GLIBC_FLOOR):
        fail(f"the build needs {floor}, above the {GLIBC_FLOOR} floor")
    return sorted(copied), pins, floor


def build(args: argparse.Namespace, stage: Path) -> dict:
    if sys.implementation.name != "cpython" or sys.version_info < (3, 10) or sys.platform != "linux":
        fail(f"the interpreter must be CPython 3.10+ on Linux (got {sys.version.split()[0]} {sys.platform})")
    if sys.flags.hash_randomization:
        fail("run with PYTHONHASHSEED=0, without -I/-E (set constants are marshalled in hash order)")
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[args.arch]
    if platform.machine() != machine:
        fail(f"this interpreter is {platform.machine()}, not {machine}")
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or stdlib / "lib-dynload").resolve()
    home = stage / "lwa-adapter"
    pylib = home / "lib" / f"python{ver}"

    site = Path(tempfile.mkdtemp(prefix="lwa-sc-site."))
    try:
        stage_sources(args.repo, site, args.urllib3, args.brotli)
        finder, roots = find_modules(site, stdlib, dynload)
        missing_roots = [r for r in roots if r not in finder.modules]
        if missing_roots:
            fail(f"cannot import {', '.join(missing_roots)}")
        shipped = []
        for name, mod in sorted(finder.modules.items()):
            file = getattr(mod, "__file__", None)
            f = Path(file).resolve() if file else None
            if f is None or name == "__main__":
                continue  # built into the interpreter
            for base in (site, dynload, stdlib):
                if f.is_relative_to(base):
                    rel = f.relative_to(base)
                    break
            else:
                fail(f"{name} comes from {f}, outside the stdlib and the staged packages")
            shipped.append(name)
            if f.suffix == ".so":
                dest = (pylib / "lib-dynload" / rel) if base == dynload else pylib / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
            elif rel.parts[0] == "lwa":  # sources kept: tracebacks in the logs show lwa's lines
                (pylib / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, pylib / rel)
                cache = pylib / rel.parent / "__pycache__" / f"{rel.stem}.{sys.implementation.cache_tag}.pyc"
                compile_to(f, cache, f"{INSTALL_PREFIX}/lib/python{ver}/{rel}")
            else:
                compile_to(f, (pylib / rel).with_suffix(".pyc"), f"{INSTALL_PREFIX}/lib/python{ver}/{rel}")
        if args.why:
            for name in shipped:
                print(f"  {name:40} <- {finder.importer.get(name, '?')}", file=sys.stderr)
    finally:
        shutil.rmtree(site)

    copied, pins, floor = add_native(home, args)

    layout.stage_scripts(stage, Path(args.bootstrap), Path(args.launcher))
    versions = {m: Path(w).name.split("-")[1] for m, w in (("urllib3", args.urllib3), ("brotli", args.brotli))}
    init = (args.repo / "lwa" / "__init__.py").read_text()
    found = re.search(r"__version__\s*=\s*[\"']([^\"']+)", init)
    if found is None:
        fail(f"no __version__ in {args.repo / 'lwa' / '__init__.py'}")
    lwa_version = found[1]
    info = {
        "lwa": lwa_version,
        "arch": args.arch,
        "python": platform.python_version(),
        "urllib3": versions["urllib3"],
        "brotli": versions["brotli"],
        "glibc": f">= {floor.removeprefix('GLIBC_')} (libc.so.6, libm.so.6 from the image)",
        "modules": f"{len(shipped)} (of the stdlib: only what lwa, urllib3 and brotli import)",
        "libraries copied from the build machine": " ".join(copied) or "none",
        "symbol versions lowered": "; ".join(pins) or "none",
    }
    (home / "BUILD-INFO").write_text("".join(f"{k}: {v}\n" for k, v in info.items()))
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--arch", choices=("x86_64", "arm64"), required=True)
    ap.add_argument("--urllib3", required=True)
    ap.add_argument("--brotli", required=True)
    ap.add_argument("--pins", type=Path, action="append", default=[], help="requirements file with hashes")
    ap.add_argument("--verify", action="append", default=[], help="another wheel to check against --pins")
    ap.add_argument("--launcher", required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--patchelf", default="patchelf")
    ap.add_argument("--strip", default="strip")
    ap.add_argument("--zip", type=Path)
    ap.add_argument("--tree", type=Path)
    ap.add_argument("--why", action="store_true", help="list each shipped module and who imports it")
    args = ap.parse_args()
    layout.verify_wheels(args.pins, [args.urllib3, args.brotli, *args.verify], WHO)
    epoch = layout.build_epoch()
    stage = Path(tempfile.mkdtemp(prefix="lwa-sc-stage."))
    try:
        info = build(args, stage)
        if args.zip:
            layout.write_zip(stage, args.zip, epoch, ZIP_LEVEL)
        if args.tree:
            layout.write_tree(stage, args.tree, epoch)
        files = [n for n in layout.entries(stage) if not n.endswith("/")]
        unpacked = sum((stage / n).stat().st_size for n in files)
        out = io.StringIO()
        for k, v in info.items():
            out.write(f"  {k}: {v}\n")
        out.write(f"  unpacked: {unpacked} bytes in {len(files)} files\n")
        if args.zip:
            out.write(f"  zip: {args.zip} {args.zip.stat().st_size} bytes\n")
        if args.tree:
            out.write(f"  tree: {args.tree}\n")
        sys.stdout.write(out.getvalue())
    finally:
        shutil.rmtree(stage)


if __name__ == "__main__":
    main()
