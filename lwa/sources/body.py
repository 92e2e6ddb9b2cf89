"""Bodies: base64 in from the event, text-or-base64 out to Lambda (docs/behaviour.md,
decision "text vs base64"). No I/O."""

from __future__ import annotations

import base64
import binascii

from ..errors import InvalidEventError
from ..jsontext import compact

_TEXT_PREFIXES = ("text", "application/json", "application/javascript", "application/xml", "application/yaml")
_TEXT_SUFFIXES = ("+xml", "+yaml", "+json")
FORCE_TEXT = "x-lambda-http-content-encoding"
_SPLICE_MIN = 4096  # base64 bodies from this length are spliced into the envelope, not escaped


def request_body(event: dict) -> bytes:
    """`body` + `isBase64Encoded` → the exact bytes the client sent; bad base64 fails the event."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidEventError(f"body must be a string or null, got {type(body).__name__}")
    encoded = event.get("isBase64Encoded")
    if encoded is not None and not isinstance(encoded, bool):  # 1/0 compare equal to True/False
        raise InvalidEventError("isBase64Encoded must be a boolean")
    if not encoded:
        return body.encode("utf-8", "surrogatepass")
    try:
        text = body.strip()
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEventError(f"body is marked isBase64Encoded but is not valid base64: {exc}") from None


def is_text_type(content_type: str | None) -> bool:
    """docs/behaviour.md §6.3 rules 2–4: no type, a textual prefix, or a +json/+xml/+yaml suffix."""
    if content_type is None:
        return True
    if content_type.startswith(_TEXT_PREFIXES):
        return True
    media = content_type.strip().split(";", 1)[0].strip()
    return media.endswith(_TEXT_SUFFIXES)


def textual(headers: list[tuple[str, str]]) -> bool:
    """May the body go back as text (if it is UTF-8)? Not when content-encoded; yes for a textual
    type, or when the app forces it with `x-lambda-http-content-encoding: text`."""
    names = {n: v for n, v in reversed(headers)}
    return "content-encoding" not in names and (
        is_text_type(names.get("content-type")) or names.get(FORCE_TEXT, "").strip().lower() == "text"
    )


def response_field(body: bytes, headers: list[tuple[str, str]]) -> tuple[str | bytes, bool]:
    """(body, isBase64Encoded): text only when textual by type AND strict UTF-8, else base64, kept
    as ASCII bytes for `dump` to splice: a large binary body is then never copied into a str and
    back (bench/run.py, 1 MiB)."""
    if textual(headers):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body), True


def dump(envelope: dict) -> bytes:
    """The Lambda response envelope as compact JSON bytes, keys in their order (docs/behaviour.md §6.4).

    A base64 body (ASCII bytes, from `response_field`) is spliced in as it is: its alphabet needs
    no JSON escaping, while json.dumps would scan it char by char, most of the cost of a large
    binary response (bench/run.py)."""
    text = envelope.get("body")
    if isinstance(text, bytes) and len(text) < _SPLICE_MIN:
        envelope = {**envelope, "body": text.decode("ascii")}
    if not isinstance(text, bytes) or len(text) < _SPLICE_MIN:
        return compact(envelope).encode("utf-8", "surrogatepass")
    keys = list(envelope)
    at = keys.index("body")
    before = compact({k: envelope[k] for k in keys[:at]})[:-1]
    after = compact({k: envelope[k] for k in keys[at + 1:]})[1:]
    head = before + ("," if at else "") + '"body":"'
    tail = '"' + ("," if after != "}" else "") + after
    # join, not +: each + of megabytes allocates (and page-faults) one more buffer of that size
    parts = (head.encode("utf-8", "surrogatepass"), text, tail.encode("utf-8", "surrogatepass"))
    return b"".join(parts)
