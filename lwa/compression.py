"""Response compression for buffered mode: pick br or gzip from Accept-Encoding, then compress.

The codecs are imported on first use only: most functions never compress (docs/behaviour.md, decision "compression").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

from .http1 import join_upto
from .logs import log
from .model import AppResponse, first_header

if TYPE_CHECKING:
    from .model import AppRequest


MIN_SIZE = 32
BROTLI_QUALITY = 5
_PREFERENCE = {"br": 2, "gzip": 1, "identity": 0}
_QVALUE = re.compile(r"[01](?:\.[0-9]{0,3})?")
_brotli_state: list = []  # [module] or [None] once tried: the one cached import


def choose(accept_encoding: str | None) -> str:
    """The best coding the client accepts: highest q, br > gzip > identity on ties (docs/behaviour.md §6.5)."""
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


def eligible(status: int, headers: Iterable[tuple[str, str]]) -> bool:
    """Whether an answer may be compressed, from its head alone (the size is checked later)."""
    headers = list(headers)
    if status in (204, 304) or first_header(headers, "content-encoding") or first_header(headers, "content-range"):
        return False
    ctype = first_header(headers, "content-type") or ""
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


class _Packer:
    """One streaming compressor: `add` pieces, then `end`; output comes out as it is made."""

    def __init__(self, coding: str) -> None:
        if coding == "br":
            brotli = _brotli()
            self._br = brotli.Compressor(quality=BROTLI_QUALITY)
            self.add, self.end = self._br.process, self._br.finish
        else:
            import zlib  # noqa: PLC0415 - small, but only needed when compressing

            self._z = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member, mtime 0
            self.add, self.end = self._z.compress, self._z.flush


def _coding(req: AppRequest) -> str:
    coding = choose(", ".join(v for n, v in req.headers if n == "accept-encoding"))
    return "gzip" if coding == "br" and _brotli() is None else coding


def _with_vary(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = list(headers)
    if not any("accept-encoding" in v.lower() for n, v in headers if n == "vary"):
        headers.append(("vary", "accept-encoding"))
    return headers


def read_compressed(req: AppRequest, status: int, headers: tuple[tuple[str, str], ...], chunks: Iterable[bytes],
                    limit: int) -> AppResponse:
    """Read an eligible answer's body and compress it as it arrives, so memory stays bounded
    whatever the app sends: of the raw body only its first bytes are kept (a body under MIN_SIZE
    goes back as it is), and reading stops once the output passes `limit` (the caller then sees
    a body longer than `limit` and reports the response as too large)."""
    coding = _coding(req)
    if coding == "identity":
        return AppResponse(status, tuple(_with_vary(headers)), join_upto(chunks, limit))
    packer = _Packer(coding)
    first = b""
    size = out_size = 0
    out: list[bytes] = []
    for data in chunks:
        if size < MIN_SIZE:
            first += data[:MIN_SIZE]
        size += len(data)
        piece = packer.add(data)
        out.append(piece)
        out_size += len(piece)
        if out_size > limit:
            break  # can never fit; leaving `chunks` unfinished closes the app connection
    else:
        if size < MIN_SIZE:
            return AppResponse(status, headers, first)
        out.append(packer.end())
    body = b"".join(out)
    headers_out = [(n, v) for n, v in _with_vary(headers) if n not in ("content-length", "accept-ranges")]
    headers_out += [("content-encoding", coding), ("content-length", str(len(body)))]
    return AppResponse(status, tuple(headers_out), body)
