"""The plain layer's file work, run by layer-build.sh (which parses the options, fetches the
wheels, compiles the .pyc files and writes BUILD-INFO between the steps):

    python layer.py stage --repo DIR --stage DIR --arch ARCH --pins FILE --urllib3 WHL BROTLI_WHL...
    python layer.py tree --stage DIR --dest DIR
    python layer.py zip --stage DIR --zip FILE

`stage` lays out bootstrap, extensions/lambda-adapter (extension/layer-launcher.sh) and
lwa-adapter/python/ (lwa, urllib3, and brotli with one extension module per Lambda Python);
`tree` and `zip` write that stage reproducibly (see layout.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import layout  # noqa: E402

PYTHON_DIR = f"{layout.ADAPTER}/python"
ZIP_LEVEL = 6


def stage(repo: Path, dest: Path, arch: str, pins: Path, urllib3_whl: str, brotli_whls: list[str]) -> None:
    layout.verify_wheels([pins], [urllib3_whl, *brotli_whls])
    layout.stage_scripts(dest, repo / "bootstrap.sh", repo / "extension" / "layer-launcher.sh")
    pydir = dest / PYTHON_DIR
    for f, rel in layout.lwa_sources(repo):
        layout.put(pydir / rel, f.read_bytes())
    for name, data in layout.wheel_files(urllib3_whl):
        if name.startswith(("urllib3/", "urllib3-")):
            layout.put(pydir / name, data)
    # brotli: one extension module per Python, next to a single brotli.py (checked identical)
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
    shared: dict[str, bytes] = {}
    for whl in brotli_whls:
        for name, data in layout.wheel_files(whl):
            base = name.rsplit("/", 1)[-1]
            if base in ("RECORD", "WHEEL"):
                continue
            if base.endswith(".so"):
                if not re.fullmatch(rf"_brotli\.cpython-3\d+-{machine}-linux-gnu\.so", base):
                    layout.fail(f"unexpected extension module {name} in {whl} for {arch}")
                layout.put(pydir / name, data)
            elif shared.setdefault(name, data) != data:
                layout.fail(f"{name} differs between brotli wheels ({whl})")
    for name, data in shared.items():
        layout.put(pydir / name, data)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="layer.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stage")
    s.add_argument("--repo", type=Path, required=True)
    s.add_argument("--stage", type=Path, required=True)
    s.add_argument("--arch", choices=("x86_64", "arm64"), required=True)
    s.add_argument("--pins", type=Path, required=True)
    s.add_argument("--urllib3", required=True)
    s.add_argument("brotli", nargs="*")
    t = sub.add_parser("tree")
    t.add_argument("--stage", type=Path, required=True)
    t.add_argument("--dest", type=Path, required=True)
    z = sub.add_parser("zip")
    z.add_argument("--stage", type=Path, required=True)
    z.add_argument("--zip", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "stage":
        stage(args.repo, args.stage, args.arch, args.pins, args.urllib3, args.brotli)
    elif args.cmd == "tree":
        layout.write_tree(args.stage, args.dest, layout.build_epoch())
    else:
        layout.write_zip(args.stage, args.zip, layout.build_epoch(), ZIP_LEVEL)


if __name__ == "__main__":
    main()
