#!/usr/bin/env bash
# Build the lwa Lambda layer: a reproducible zip (or an unpacked tree for container images).
#
#   ./layer-build.sh [--arch x86_64|arm64|all] [--out DIR]   -> DIR/lambda-adapter-layer-ARCH.zip
#   ./layer-build.sh [--arch x86_64|arm64] --dir DIR [--python 3.X]   -> DIR/{bootstrap,extensions,lwa-adapter}
#   ./layer-build.sh --self-contained [--arch A] [--out DIR | --dir DIR]   -> packaging/self-contained.sh
#
# --arch defaults to this machine's; --out to ./dist in the checkout. --dir writes the same files
# unpacked, for `COPY` into an image (or `--dir /opt` on a build host); it replaces only
# bootstrap, extensions/lambda-adapter and lwa-adapter/ there. --python 3.X keeps only what that
# Python needs (its brotli module and .pyc files): for an image, whose Python is known, it makes
# the tree 7 MB instead of 29 (five brotli builds of 5 MB each).
#
# Layout (the zip's root is Lambda's /opt):
#   bootstrap                       exec wrapper (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap)
#   extensions/lambda-adapter       launcher (extension/layer-launcher.sh): registers, then runs
#                                   lwa as an external extension
#   lwa-adapter/register-early.sh   the launchers' registration before Python starts
#   lwa-adapter/BUILD-INFO          versions and Pythons this build serves
#   lwa-adapter/python/             private sys.path of the adapter: lwa, urllib3, brotli
#                                   (one _brotli.cpython-3XX-*.so per Lambda Python 3.10-3.14)
#
# Inputs: the checkout's lwa/, bootstrap.sh, extension/ (launchers) and the pins in
# layer-requirements.txt (wheels are verified against its hashes). This script parses the
# options, fetches the wheels and compiles the .pyc files; packaging/layer.py lays out, zips and
# unpacks the files (with packaging/layout.py, which the self-contained build shares). Downloads are cached in
# ${LWA_BUILD_CACHE:-~/.cache/lwa-build}, so a second build needs no network.
# Same inputs and toolchain -> byte-identical zip: sorted entries, fixed times
# (SOURCE_DATE_EPOCH, else 1980-01-01), fixed modes (755 executables and .so, 644 others), no
# extra fields, .pyc in unchecked-hash mode with /opt/lwa-adapter/python as their path.
#
# Environment: PYTHON (the build's interpreter, default python3), LWA_BUILD_CACHE,
# SOURCE_DATE_EPOCH, LWA_PYC_PYTHONS (interpreters that write .pyc files; default: every
# python3.10 ... python3.14 found on PATH or under pyenv, plus PYTHON). A Lambda Python without
# matching .pyc files still works, but compiles lwa and urllib3 in memory at every cold start.
set -euo pipefail

root=$(cd "$(dirname "$0")" && pwd)
pins=$root/layer-requirements.txt
cache=${LWA_BUILD_CACHE:-$HOME/.cache/lwa-build}
PY=${PYTHON:-python3}
lambda_pythons="3.10 3.11 3.12 3.13 3.14"
pyc_prefix=/opt/lwa-adapter/python

die() { echo "layer-build: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
# --self-contained: the build that carries its own interpreter (needs no Python in the image)
case " $* " in *" --self-contained "*) exec "$root/packaging/self-contained.sh" "$@" ;; esac

case $(uname -m) in
  aarch64|arm64) arch=arm64 ;;
  *) arch=x86_64 ;;
esac
out=$root/dist
dir=
only_python=
while [ $# -gt 0 ]; do
  case $1 in
    --arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --python) [ $# -ge 2 ] || usage; only_python=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "layer-build: unknown argument: $1" >&2; usage ;;
  esac
done
case $arch in
  x86_64|arm64) arches=$arch ;;
  all) arches="x86_64 arm64"; [ -z "$dir" ] || die "--dir takes one --arch, not all" ;;
  *) die "--arch must be x86_64, arm64 or all (got '$arch')" ;;
esac
if [ -n "$only_python" ]; then
  case " $lambda_pythons " in
    *" $only_python "*) lambda_pythons=$only_python ;;
    *) die "--python must be one of $lambda_pythons (got '$only_python')" ;;
  esac
fi

[ -f "$root/lwa/__init__.py" ] && [ -f "$root/lwa/__main__.py" ] \
  || die "the lwa package is not in $root/lwa (need __init__.py and __main__.py)"
[ -f "$pins" ] || die "missing $pins"
. "$root/packaging/wheels.sh"  # pin, fetch
urllib3_version=$(pin urllib3 "$pins")
brotli_version=$(pin brotli "$pins")

# Interpreters that write .pyc files, one per minor version.
pyc_pythons=()
pyc_versions=
add_pyc_python() {
  local v
  v=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
  case " $lambda_pythons " in *" $v "*) ;; *) return 1 ;; esac
  case " $pyc_versions " in *" $v "*) return 0 ;; esac
  pyc_pythons+=("$1")
  pyc_versions="$pyc_versions $v"
}
if [ -n "${LWA_PYC_PYTHONS:-}" ]; then
  for p in $LWA_PYC_PYTHONS; do
    add_pyc_python "$p" || die "LWA_PYC_PYTHONS: '$p' is not a Python 3.10-3.14 interpreter"
  done
else
  add_pyc_python "$PY" || true
  for v in $lambda_pythons; do
    add_pyc_python "python$v" && continue
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
      [ -x "$p" ] && add_pyc_python "$p" && break
    done
  done
fi
pyc_versions=$(echo "$pyc_versions" | tr ' ' '\n' | sort -V | xargs)

stage_root=$(mktemp -d "${TMPDIR:-/tmp}/lwa-layer.XXXXXX")
trap 'rm -rf "$stage_root"' EXIT

urllib3_whl=$(fetch "urllib3-$urllib3_version" "urllib3==$urllib3_version") \
  || die "cannot download urllib3==$urllib3_version (offline and not in $cache?)"

for a in $arches; do
  case $a in x86_64) plat=manylinux2014_x86_64 ;; arm64) plat=manylinux2014_aarch64 ;; esac
  brotli_whls=()
  missing=
  for v in $lambda_pythons; do
    tag=cp${v/./}
    if w=$(fetch "brotli-$brotli_version/$tag-$plat" --platform "$plat" --python-version "$v" \
        --implementation cp "brotli==$brotli_version"); then
      brotli_whls+=("$w")
    else
      missing="$missing $v"
    fi
  done
  if [ -n "$missing" ]; then
    {
      echo "################################################################################"
      echo "## WARNING: no brotli==$brotli_version wheel for Python$missing on $plat."
      echo "## On those runtimes the adapter has no brotli (gzip only). Pick a brotli version"
      echo "## with wheels for every Lambda Python, or check the network / $cache."
      echo "################################################################################"
    } >&2
  fi

  stage=$stage_root/$a
  "$PY" "$root/packaging/layer.py" stage --repo "$root" --stage "$stage" --arch "$a" --pins "$pins" \
    --urllib3 "$urllib3_whl" "${brotli_whls[@]}" || die "cannot stage the $a layer (see above)"

  for p in "${pyc_pythons[@]}"; do
    # a fixed hash seed: set constants (`x in {"GET", "HEAD"}`) marshal in hash order
    PYTHONHASHSEED=0 "$p" -m compileall -q --invalidation-mode unchecked-hash \
      -s "$stage/lwa-adapter/python" -p "$pyc_prefix" "$stage/lwa-adapter/python" >&2 \
      || die "$p could not compile the layer's Python files (see above)"
  done

  lwa_version=$(sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\).*/\1/p' "$root/lwa/__init__.py")
  brotli_for=$(for f in "$stage"/lwa-adapter/python/_brotli.cpython-3*.so; do
    [ -e "$f" ] && f=${f##*cpython-3} && echo "3.${f%%-*}"; done | sort -V | xargs)
  {
    echo "lwa $lwa_version"
    echo "arch $a"
    echo "urllib3 $urllib3_version"
    echo "brotli $brotli_version for Python $brotli_for"
    echo "pyc for Python ${pyc_versions:-none}"
  } > "$stage/lwa-adapter/BUILD-INFO"

  if [ -n "$dir" ]; then
    "$PY" "$root/packaging/layer.py" tree --stage "$stage" --dest "$dir" || die "cannot write $dir"
    echo "layer-build: wrote the $a tree to $dir (an image COPYs its extensions/ to" \
      "/opt/extensions and its lwa-adapter/ to /opt/lwa-adapter)"
    sed 's/^/  /' "$stage/lwa-adapter/BUILD-INFO"
    continue
  fi

  mkdir -p "$out"
  zip=$(cd "$out" && pwd)/lambda-adapter-layer-$a.zip
  "$PY" "$root/packaging/layer.py" zip --stage "$stage" --zip "$zip" || die "cannot write $zip"
  size=$(wc -c < "$zip" | tr -d ' ')
  echo "$zip $size bytes ($(awk "BEGIN {printf \"%.1f\", $size / 1048576}") MiB)"
  sed 's/^/  /' "$stage/lwa-adapter/BUILD-INFO"
done
