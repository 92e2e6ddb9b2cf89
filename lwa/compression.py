"""Response compression for buffered mode: pick br or gzip from Accept-Encoding, then compress.

The codecs are imported on first use only: most functions never compress (SPEC Part A).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .logs import log
from .model import AppResponse

if TYPE_CHECKING:
    from .model import AppRequest


MIN_SIZE = 32
BROTLI_QUALITY = 5
_PREFERENCE = {"br": 2, "gzip": 1, "identity": 0}
_QVALUE = re.compile(r"[01](?:\.[0-9]{0,3})?")
_brotli_state: list = []  # [module] or [None] once tried: the one cached import


def choose(accept_encoding: str | None) -> str:
    """The best coding the client accepts: highest q, br > gzip > identity on ties (SPEC §6.5)."""
    if not accept_encoding:
        return "identity"
    best, best_q = "identity", -1.0
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        coding = "gzip" if coding == "x-gzip" else coding
        if coding not in _PREFERENCE:
            continue
        q = 1.0
        params = params.strip()
        if params:
            key, _, value = params.partition("=")
            value = value.strip()
            # RFC 9110 qvalue: "0" or "1", then up to 3 decimals; anything else drops the item.
            if key.strip().lower() != "q" or not _QVALUE.fullmatch(value) or float(value) > 1.0:
                continue
            q = float(value)
        if q <= 0:
            continue
        if q > best_q or (q == best_q and _PREFERENCE[coding] > _PREFERENCE[best]):
            best, best_q = coding, q
    return best


def should_compress(resp: AppResponse) -> bool:
    if resp.status in (204, 304) or resp.header("content-encoding") or resp.header("content-range"):
        return False
    if len(resp.body) < MIN_SIZE:
        return False
    ctype = resp.header("content-type") or ""
    if ctype.startswith(("application/grpc", "text/event-stream")):
        return False
    return not ctype.startswith("image/") or ctype.split(";")[0].strip() == "image/svg+xml"


def _brotli():
    if not _brotli_state:
        try:
            import brotli  # noqa: PLC0415 - only functions that compress pay for it

            _brotli_state.append(brotli)
        except ImportError as exc:
            log.warning("brotli cannot be imported (%s); compressing with gzip instead", exc)
            _brotli_state.append(None)
    return _brotli_state[0]


def compress(data: bytes, coding: str) -> bytes:
    if coding == "br":
        return _brotli().compress(data, quality=BROTLI_QUALITY)
    import zlib  # noqa: PLC0415 - small, but only needed when compressing

    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member, mtime 0
    return packer.compress(data) + packer.flush()


def apply(req: AppRequest, resp: AppResponse) -> AppResponse:
    """A compressed copy of `resp` when it should be, with Vary and Content-Length kept right."""
    if not should_compress(resp):
        return resp
    headers = list(resp.headers)
    if not any("accept-encoding" in v.lower() for n, v in headers if n == "vary"):
        headers.append(("vary", "accept-encoding"))
    coding = choose(", ".join(v for n, v in req.headers if n == "accept-encoding"))
    if coding == "br" and _brotli() is None:
        coding = "gzip"
    if coding == "identity":
        return AppResponse(resp.status, tuple(headers), resp.body)
    body = compress(resp.body, coding)
    headers = [(n, v) for n, v in headers if n not in ("content-length", "accept-ranges")]
    headers += [("content-encoding", coding), ("content-length", str(len(body)))]
    return AppResponse(resp.status, tuple(headers), body)


def brotli_available() -> bool:
    """Start-up check without importing brotli: is there a module to find at all?"""
    from importlib.util import find_spec  # noqa: PLC0415 - start-up only

    return find_spec("brotli") is not None
