"""Read and lower the glibc symbol versions an ELF file needs (build time only, no dependencies).

A binary linked on a new glibc asks for the newest version of each symbol it uses, even when an
older version of the same function exists: CPython built on Debian bookworm (glibc 2.36) asks
for `hypot@GLIBC_2.35`, so it would not load on Amazon Linux 2023 (glibc 2.34). `pin()` moves
such references to the newest version at or below a floor that the build machine's own library
still defines (`hypot@GLIBC_2.2.5` on x86_64), as `.symver` would have at link time, and marks a
version requirement nothing uses any more as weak, so the loader does not insist on it.

Only ELF64 little-endian (x86_64, aarch64) and only the .gnu.version / .gnu.version_r tables are
touched, in place: no size or layout change.
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

SHT_DYNAMIC = 6
SHT_DYNSYM = 11
DT_NEEDED = 1
SHT_GNU_VERDEF = 0x6FFFFFFD
SHT_GNU_VERNEED = 0x6FFFFFFE
SHT_GNU_VERSYM = 0x6FFFFFFF
VER_FLG_WEAK = 0x2
LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def version_key(name: str) -> tuple[int, ...]:
    """GLIBC_2.2.5 -> (2, 2, 5); anything else sorts first."""
    m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", name)
    return tuple(int(p) for p in m[1].split(".")) if m else ()


def _elf_hash(name: bytes) -> int:
    h = 0
    for c in name:
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


class Elf:
    """The dynamic symbol and version tables of one ELF64 LE file, kept as a mutable buffer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray(path.read_bytes())
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise ValueError(f"{path}: not an ELF64 little-endian file")
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", d, 0x3A)
        # (offset, size, link, entsize) of each section header; the first of each type by type
        headers = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
        self.headers = [(h[4], h[5], h[6], h[9]) for h in headers]
        self.sections: dict[int, tuple[int, int, int, int]] = {}
        for h, kept in zip(headers, self.headers):
            self.sections.setdefault(h[1], kept)
        self.symbols: list[tuple[str, int]] = []  # (name, st_shndx) per .dynsym entry
        self.dynstr = (0, 0)
        if SHT_DYNSYM in self.sections:
            off, size, link, entsize = self.sections[SHT_DYNSYM]
            self.dynstr = self.headers[link][:2]
            for i in range(size // entsize):
                st_name, _info, _other, shndx = struct.unpack_from("<IBBH", d, off + i * entsize)
                self.symbols.append((self._str(st_name), shndx))

    def _str(self, offset: int) -> str:
        start = self.dynstr[0] + offset
        return self.data[start:self.data.index(b"\0", start)].decode("ascii", "replace")

    def needed(self) -> list[str]:
        """DT_NEEDED: the shared libraries this file loads."""
        if SHT_DYNAMIC not in self.sections:
            return []
        off, size, link, _ = self.sections[SHT_DYNAMIC]
        strtab = self.headers[link][0]
        out = []
        for at in range(off, off + size, 16):
            tag, val = struct.unpack_from("<qQ", self.data, at)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                out.append(self.data[strtab + val:self.data.index(b"\0", strtab + val)].decode())
        return out

    def _versym_off(self, i: int) -> int:
        return self.sections[SHT_GNU_VERSYM][0] + 2 * i

    def versym(self, i: int) -> int:
        return struct.unpack_from("<H", self.data, self._versym_off(i))[0]

    def needs(self) -> list[dict]:
        """Every version requirement: file, version name, index, flags, and the record offset."""
        out: list[dict] = []
        if SHT_GNU_VERNEED not in self.sections:
            return out
        off = self.sections[SHT_GNU_VERNEED][0]
        while True:
            _ver, cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", self.data, off)
            aux = off + vn_aux
            for _ in range(cnt):
                _hash, flags, other, name, vna_next = struct.unpack_from("<IHHII", self.data, aux)
                out.append({"file": self._str(vn_file), "version": self._str(name), "index": other,
                            "flags": flags, "at": aux})
                aux += vna_next
            if not vn_next:
                return out
            off += vn_next

    def defined_versions(self, symbol: str) -> list[str]:
        """Versions under which this library defines `symbol` (default and compat ones)."""
        if SHT_GNU_VERDEF not in self.sections or SHT_GNU_VERSYM not in self.sections:
            return []
        names = {}
        off = self.sections[SHT_GNU_VERDEF][0]
        while True:
            _ver, _flags, ndx, _cnt, _hash, vd_aux, vd_next = struct.unpack_from("<HHHHIII", self.data, off)
            names[ndx] = self._str(struct.unpack_from("<I", self.data, off + vd_aux)[0])
            if not vd_next:
                break
            off += vd_next
        return [names[self.versym(i) & 0x7FFF] for i, (name, shndx) in enumerate(self.symbols)
                if name == symbol and shndx != 0 and (self.versym(i) & 0x7FFF) in names]

    def required_glibc(self) -> list[tuple[str, str]]:
        """(version, symbol) for every undefined symbol bound to a GLIBC_* version; plus
        (version, "") for a non-weak GLIBC_* requirement no symbol uses."""
        needs = [n for n in self.needs() if n["version"].startswith("GLIBC_")]
        by_index = {n["index"]: n for n in needs}
        used = set()
        out = []
        for i, (name, shndx) in enumerate(self.symbols):
            if shndx == 0 and i and SHT_GNU_VERSYM in self.sections:
                n = by_index.get(self.versym(i) & 0x7FFF)
                if n:
                    used.add(n["index"])
                    out.append((n["version"], name))
        out += [(n["version"], "") for n in needs if n["index"] not in used and not n["flags"] & VER_FLG_WEAK]
        return out


def max_glibc(path: Path) -> str | None:
    """The highest GLIBC_x version this file makes the loader insist on, or None."""
    versions = [v for v, _ in Elf(path).required_glibc()]
    return max(versions, key=version_key) if versions else None


def find_library(soname: str) -> Path:
    """This machine's copy of a system library (the one the build's binaries were linked with)."""
    for d in LIB_DIRS:
        p = Path(d, soname)
        if p.is_file():
            return p.resolve()
    raise FileNotFoundError(f"{soname} not found in {', '.join(LIB_DIRS)}")


def pin(path: Path, floor: str) -> list[str]:
    """Lower every GLIBC_* requirement above `floor` in place; return what changed.

    Raises ValueError when a symbol exists only in a newer glibc than the floor.
    """
    elf = Elf(path)
    floor_key = version_key(floor)
    needs = elf.needs()
    changes = []
    for need in needs:
        if not need["version"].startswith("GLIBC_") or version_key(need["version"]) <= floor_key:
            continue
        lib = Elf(find_library(need["file"]))
        users = [i for i, (_, shndx) in enumerate(elf.symbols)
                 if i and shndx == 0 and elf.versym(i) & 0x7FFF == need["index"]]
        targets = {}
        for i in users:
            symbol = elf.symbols[i][0]
            older = [v for v in lib.defined_versions(symbol)
                     if v.startswith("GLIBC_") and version_key(v) <= floor_key]
            if not older:
                raise ValueError(f"{path.name}: {symbol}@{need['version']} has no version at or below "
                                 f"{floor} in {need['file']}; this build cannot run on glibc {floor[6:]}")
            targets[i] = max(older, key=version_key)
        same_file = {n["version"]: n for n in needs if n["file"] == need["file"]}
        for i, version in targets.items():
            if version in same_file:
                struct.pack_into("<H", elf.data, elf._versym_off(i), same_file[version]["index"])
                changes.append(f"{elf.symbols[i][0]}@{need['version']} -> @{version}")
        left = [i for i in users if targets[i] not in same_file]
        if left and len({targets[i] for i in left}) == 1:
            # No requirement for the older version yet: rename this one, if .dynstr has the name.
            name = targets[left[0]].encode()
            start, size = elf.dynstr
            at = bytes(elf.data).find(b"\0" + name + b"\0", start, start + size)
            if at < 0:
                raise ValueError(f"{path.name}: cannot rename {need['version']} to {name.decode()} in place")
            struct.pack_into("<I", elf.data, need["at"], _elf_hash(name))
            struct.pack_into("<I", elf.data, need["at"] + 8, at + 1 - start)
            changes += [f"{elf.symbols[i][0]}@{need['version']} -> @{name.decode()}" for i in left]
            continue
        if left:
            raise ValueError(f"{path.name}: cannot lower {need['version']} of {need['file']}")
        struct.pack_into("<H", elf.data, need["at"] + 4, need["flags"] | VER_FLG_WEAK)
    if changes:
        path.write_bytes(elf.data)
    return changes


if __name__ == "__main__":
    # python3 glibc_pin.py FILE...  -> the highest GLIBC version each file needs
    for arg in sys.argv[1:]:
        print(f"{max_glibc(Path(arg)) or '-'}\t{arg}")
