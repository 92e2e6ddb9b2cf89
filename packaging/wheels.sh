# Sourced by layer-build.sh and packaging/self-contained.sh: pinned versions and the wheel cache
# they share. Needs: $cache (download cache), $PY (a python with pip), and a die() function.

# pin NAME FILE: the exact version pinned for NAME in FILE (a pip requirements file).
pin() {
  local v
  v=$(sed -n "s/^$1==\([^ \\\\]*\).*/\1/p" "$2")
  [ -n "$v" ] || die "no '$1==VERSION' line in $2"
  echo "$v"
}

# fetch KEY PIP_ARGS...: print the one wheel cached in $cache/KEY, downloading it when absent.
fetch() {
  local d=$cache/$1 tmp w
  shift
  for w in "$d"/*.whl; do [ -f "$w" ] && { echo "$w"; return 0; }; done
  mkdir -p "$d"
  tmp=$(mktemp -d "$d.XXXXXX")
  if ! "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$tmp" "$@" >"$tmp.log" 2>&1; then
    sed 's/^/    pip: /' "$tmp.log" | grep -v 'is ignored: it is neither' >&2 || true
    rm -rf "$tmp" "$tmp.log"
    return 1
  fi
  mv "$tmp"/*.whl "$d"/
  rm -rf "$tmp" "$tmp.log"
  for w in "$d"/*.whl; do echo "$w"; return 0; done
}
