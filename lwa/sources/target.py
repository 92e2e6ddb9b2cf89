"""Path, base path and query string → the encoded request target (docs/behaviour.md, decisions
"paths" and "query"). No I/O."""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import InvalidEventError

_HEX = "0123456789ABCDEFabcdef"
# Characters that can never appear literally in an HTTP/1.1 request target (docs/behaviour.md, decision "paths").
_PATH_ILLEGAL = frozenset(" ?#\x7f") | frozenset(chr(c) for c in range(0x20))
_QUERY_ILLEGAL = frozenset(' #"<>\x7f') | frozenset(chr(c) for c in range(0x20))
_FORM_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~*")
_NEEDS_WORK = re.compile(r'[^!$&\'()*+,;=:@/?%\[\]^`{|}~\\A-Za-z0-9._\-]|%(?![0-9A-Fa-f]{2})|[?]')


def _pct(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))


def _encode(raw: str, illegal: frozenset[str], bare_percent: str = "%25") -> str:
    if not _NEEDS_WORK.search(raw):
        return raw
    out = []
    n = len(raw)
    for i, char in enumerate(raw):
        if char == "%":
            ok = i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX
            out.append("%" if ok else bare_percent)
        elif char in illegal or ord(char) > 0x7E:
            out.append(_pct(char))
        else:
            out.append(char)
    return "".join(out)


def encode_path(raw: str) -> str:
    """Percent-encode what cannot stand in a path; never decode, never resolve `..`
    (docs/behaviour.md, decision "paths")."""
    path = _encode(raw, _PATH_ILLEGAL)
    return path if path.startswith("/") else "/" + path


def encode_query(raw: str) -> str:
    """A raw query (v2 rawQueryString, ALB values) made legal: illegal bytes encoded, `#` → %23.

    A bare `%` (`x=%zz`) stays as the client sent it, as upstream leaves it: an app that reads or
    signs the raw query must see the client's bytes, and HTTP/1.1 parsers take it as it is
    (docs/behaviour.md, decision "query")."""
    return _encode(raw, _QUERY_ILLEGAL, "%")


def strip_base_path(path: str, base: str) -> str:
    """Remove `base` once, at a segment boundary: `/api` strips `/api` and `/api/x`, not `/apiv2`."""
    if base and path.startswith(base) and (len(path) == len(base) or path[len(base)] in "/?"):
        path = path[len(base):]
        return path if path.startswith("/") else "/" + path
    return path


def form_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """Encode decoded key/value pairs for a query: `+`→%2B, space→%20, `&=#`→encoded
    (docs/behaviour.md, decision "query")."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs)


def _quote(text: str) -> str:
    if _FORM_SAFE.issuperset(text):
        return text
    return "".join(c if c in _FORM_SAFE else _pct(c) for c in text)


def join_target(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


def request_method(value: object, where: str) -> str:
    """The method verbatim (docs/behaviour.md §9.34); empty means GET; anything that is not an HTTP token fails."""
    if value is None or value == "":
        return "GET"
    if not isinstance(value, str) or not _METHOD.fullmatch(value):
        raise InvalidEventError(f"{where} must be an HTTP method token, got {str(value)[:40]!r}")
    return value


def string_field(event: dict, key: str, default: str = "") -> str:
    value = event.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidEventError(f"{key} must be a string, got {type(value).__name__}")
    return value


def query_pairs(event: dict, multi_key: str, single_key: str) -> list[tuple[str, str]]:
    """Pairs in event order from the multi-value map when it has entries, else the single map.

    Both maps are checked even when only one is used: a wrong type (`""`, `0`, `[]` included)
    fails the event instead of passing silently (docs/behaviour.md, decision "classification")."""
    multi = event.get(multi_key) if multi_key else None
    pairs: list[tuple[str, str]] = []
    if multi is not None:
        if not isinstance(multi, dict):
            raise InvalidEventError(f"{multi_key} must be an object or null")
        for key, values in multi.items():
            if values is None:
                continue
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise InvalidEventError(f"{multi_key}.{key} must be a list of strings")
            pairs.extend((key, v) for v in values)
    single = event.get(single_key)
    if single is not None:
        if not isinstance(single, dict):
            raise InvalidEventError(f"{single_key} must be an object of strings or null")
        for key, value in single.items():
            if value is not None and not isinstance(value, str):
                raise InvalidEventError(f"{single_key}.{key} must be a string or null")
        if not pairs:
            pairs = [(k, v) for k, v in single.items() if v is not None]
    return pairs


_METHOD = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$")  # use fullmatch: `$` also matches before "\n"
