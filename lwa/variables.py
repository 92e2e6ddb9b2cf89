"""How one variable is read and parsed (docs/behaviour.md §1.1, §1.3): deprecated names,
booleans, ports, choices, status lists, seconds, counts and paths. `config` says which variables
there are; this module how each kind of value is taken.
"""

from __future__ import annotations

from .errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

# new name → deprecated name, for every variable with an alias (docs/behaviour.md §1.2).
_DEPRECATED = {
    "AWS_LWA_HOST": "HOST",
    "AWS_LWA_READINESS_CHECK_PORT": "READINESS_CHECK_PORT",
    "AWS_LWA_READINESS_CHECK_PATH": "READINESS_CHECK_PATH",
    "AWS_LWA_READINESS_CHECK_PROTOCOL": "READINESS_CHECK_PROTOCOL",
    "AWS_LWA_REMOVE_BASE_PATH": "REMOVE_BASE_PATH",
    "AWS_LWA_ASYNC_INIT": "ASYNC_INIT",
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_status_list(text: str) -> tuple[tuple[tuple[int, int], ...], list[str]]:
    """Parse `500,502-504` into inclusive ranges plus warnings for parts it skipped (docs/behaviour.md §1.3)."""
    ranges: list[tuple[int, int]] = []
    bad: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            pieces = part.split("-")
            if len(pieces) == 2 and all(is_u16(p) for p in pieces):
                ranges.append((int(pieces[0]), int(pieces[1])))
            else:
                bad.append(f"Failed to parse status code range: {part}")
        elif is_u16(part):
            ranges.append((int(part), int(part)))
        else:
            bad.append(f"Failed to parse status code: {part}")
    return tuple(ranges), bad


def is_u16(text: str) -> bool:
    digits = text[1:] if text.startswith("+") else text
    return digits.isascii() and digits.isdigit() and int(digits) <= 65535


def status_in(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= status <= hi for lo, hi in ranges)


def format_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


class Reader:
    """Looks variables up with docs/behaviour.md §1.1 semantics (set-but-empty counts as set) and
    parses each kind of value; a value it cannot use is a ConfigError or a warning plus the default."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.env = environ
        self.warnings: list[str] = []

    def get(self, name: str) -> str | None:
        if name in self.env:
            return self.env[name]
        old = _DEPRECATED.get(name)
        if old is not None and old in self.env:
            self.warnings.append(
                f"Environment variable '{old}' is deprecated and will be removed in version 2.0. "
                f"Please use '{name}' instead."
            )
            return self.env[old]
        return None

    def text(self, name: str, default: str = "") -> str:
        """The raw value; unset or empty gives `default`."""
        return self.get(name) or default

    def boolean(self, name: str, default: bool = False) -> bool:
        return self._word(name, _BOOLEANS, default, "a boolean (true/false)", str(default).lower())

    def port(self, name: str, default: int, *, fallback: str | None = None) -> int:
        """A TCP port; `fallback` names a variable read when `name` is unset (PORT for AWS_LWA_PORT)."""
        if fallback is not None and name not in self.env:
            name = fallback
        raw = self.get(name)
        if raw is None:
            return default
        if raw == "":
            # Upstream quirk: an empty port means the scheme default (docs/behaviour.md §9.4).
            self.warnings.append(f"{name} is empty; using port 80 as upstream does")
            return 80
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
            raise ConfigError(name, raw, "must be a port number from 1 to 65535")
        return int(text)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        return self._word(name, {c: c for c in choices}, default, f"one of {', '.join(choices)}", default)

    def _word(self, name: str, words: Mapping[str, Any], default: Any, what: str, shown: str) -> Any:
        """The value `words` gives for the variable's trimmed, lowercase text; unset, or a word it
        does not know (with a warning), gives `default`."""
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in words:
            return words[value]
        self.warnings.append(f"{name}={raw!r} is not {what}; using {shown}")
        return default

    def status_list(self, name: str, default: tuple[tuple[int, int], ...] = ()) -> tuple[tuple[int, int], ...]:
        """`500,502-504`; unset gives `default`, and so does a list with no usable part (with a
        warning when `default` is not empty)."""
        raw = self.get(name)
        if raw is None:
            return default
        ranges, bad = parse_status_list(raw)
        self.warnings.extend(f"{name}: {b}" for b in bad)
        if not ranges and default:
            self.warnings.append(f"{name}={raw!r} holds no status code; using {format_ranges(default)}")
            return default
        return ranges

    def seconds(self, name: str, default: float, maximum: float = float("inf")) -> float:
        """A number of seconds in (0, maximum]; unset or empty gives `default`."""
        raw = self.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = 0.0
        if not 0 < value <= maximum:  # also refuses NaN
            bound = "" if maximum == float("inf") else f" and at most {maximum:g}"
            raise ConfigError(name, raw, f"must be a number of seconds > 0{bound}")
        return value

    def count(self, name: str, default: int, *, least: int = 0, strict: bool = False) -> int:
        """A whole number ≥ `least`; unset or empty gives `default`. Anything else is a ConfigError
        when `strict`, else a warning and `default`."""
        raw = self.get(name)
        text = (raw or "").strip()
        if not text:
            return default
        if text.isascii() and text.isdigit() and int(text) >= least:
            return int(text)
        if strict:
            raise ConfigError(name, text, f"must be a whole number ≥ {least}")
        self.warnings.append(f"{name}={raw!r} is not a whole number ≥ {least}; using {default}")
        return default

    def path(self, name: str, default: str) -> str:
        """A URL path: `/` first, no spaces or control characters; unset or empty gives `default`."""
        raw = self.get(name) or default
        if raw and (not raw.startswith("/") or any(c in raw for c in " \r\n\t\0#")):
            raise ConfigError(name, raw, "must be a path starting with '/' without spaces or control characters")
        return raw
