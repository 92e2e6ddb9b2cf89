"""The repository stands alone: nothing in it refers to folders beside it, to the reference
material it was built from, or to paths of one machine. The behaviour it documents is cited as
docs/behaviour.md (its sections, decisions and upstream quirks §9.n)."""

from __future__ import annotations

import codecs
import re
import subprocess
from pathlib import Path

from tests.support.events import REPO

# The names this scan forbids are the names of material that is not in the repository: kept
# rot13-encoded here, so that this file, which is scanned like any other, does not carry them.
_SIBLING, _CONTRACT, _NOTES, _PART, _QUIRK = (
    codecs.decode(name, "rot13") for name in ("funerq", "FCRP", "HFREF", "Cneg", "D")
)
FORBIDDEN = {
    "a folder beside the repository": re.compile(
        rf"\.\./{_SIBLING}\b|(?<![\w.-]){_SIBLING}/(?:events|tools|{_CONTRACT})"
    ),
    "the old contract's name (cite docs/behaviour.md)": re.compile(rf"\b{_CONTRACT}(?:\.md)?\b"),
    "its parts (cite a decision of docs/behaviour.md)": re.compile(rf"\b{_PART} [AB]\b"),
    "an upstream quirk by its old number (cite docs/behaviour.md §9.n)": re.compile(rf"\b{_QUIRK}-\d+\b"),
    "the user-research notes (cite docs/behaviour.md, \"Why\")": re.compile(rf"\b{_NOTES}\.md\b"),
    "a path of one machine": re.compile(r"(?<![\w.-])/(?:work|root|home/\w+)/"),
}
SKIP_PARTS = {"node_modules", ".git", "__pycache__", ".hypothesis", ".ruff_cache", ".mypy_cache", "build", "dist"}
THIS = Path(__file__).resolve()


def _files() -> list[Path]:
    """What a clone holds: git's list when this is a checkout, else every file under the root."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30).stdout
        names = [REPO / n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [p for p in REPO.rglob("*") if p.is_file()]
    return [p for p in names if not SKIP_PARTS & set(p.relative_to(REPO).parts) and p.resolve() != THIS]


def test_nothing_refers_outside_the_repository():
    files = _files()
    assert any(p.name == "README.md" for p in files) and len(files) > 50, "the scan found too few files"
    found = []
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary
        for what, pattern in FORBIDDEN.items():
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {m.group(0)!r} — {what}")
    assert not found, "\n".join(found)


def test_the_scan_catches_each_kind_of_reference():
    """Each pattern fires on what it is meant to catch, and not on the project's own citations."""
    caught = [f"see ../{_SIBLING}/events", f"{_CONTRACT} §5.2", f"{_PART} A \"paths\"", f"({_QUIRK}-21)",
              f"{_NOTES}.md §1.4", "/work/main/x"]
    for sample, pattern in zip(caught, FORBIDDEN.values()):
        assert pattern.search(sample), sample
    fine = f"docs/behaviour.md §9.21, decision \"paths\"; tests/support/rie.py; the {_SIBLING} stack; a/work/b"
    assert not any(p.search(fine) for p in FORBIDDEN.values())
