"""`lwa.compression`: coding negotiation, which answers are compressed, and compressing a whole
answer (docs/behaviour.md §6.5, decision "compression", §9.30, §9.33), through `read_compressed`
as `loop` calls it. Import-time behaviour is checked in fresh interpreters."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import brotli
import pytest

from lwa import compression
from lwa.compression import MIN_SIZE, choose, eligible, read_compressed
from lwa.model import AppRequest, AppResponse
from lwa.sources.body import response_field

REPO = Path(__file__).resolve().parents[2]
TEXT = b"<html>" + b"lorem ipsum dolor sit amet " * 40 + b"</html>"


def apply(req: AppRequest, resp: AppResponse) -> AppResponse:
    """A whole answer through read_compressed when loop would compress it, else as it is."""
    if not should_compress(resp):
        return resp
    return read_compressed(req, resp.status, resp.headers, [resp.body], len(resp.body) * 2 + 64)


def should_compress(resp: AppResponse) -> bool:
    return len(resp.body) >= MIN_SIZE and eligible(resp.status, resp.headers)


def compress(data: bytes, coding: str) -> bytes:
    return read_compressed(AppRequest("GET", "/", (("accept-encoding", coding),)), 200,
                           (("content-type", "text/plain"),), [data], 1 << 30).body


@pytest.mark.parametrize("header, expected", [
    (None, "identity"),
    ("", "identity"),
    ("gzip", "gzip"),
    ("br", "br"),
    ("gzip, br", "br"),  # equal q: br preferred
    ("br, gzip", "br"),
    ("gzip, deflate, br, zstd", "br"),
    ("gzip;q=1.0, br;q=0.9", "gzip"),
    ("br;q=0.5, gzip;q=0.8", "gzip"),
    ("br;q=0, gzip", "gzip"),  # q=0 excludes
    ("br;q=0", "identity"),
    ("br;q=0.000, gzip;q=0", "identity"),
    ("x-gzip", "gzip"),
    ("GZIP", "gzip"),
    ("Br", "br"),
    ("gzip;Q=0.5, br;q=0.4", "gzip"),
    (" gzip ; q=0.5 , br ; q=0.4 ", "gzip"),
    ("br;q=0.001", "br"),
    ("br;q=1.000, gzip", "br"),
    ("deflate, zstd, *", "identity"),  # only br, gzip and identity are known
    ("*", "identity"),
    ("identity", "identity"),
    ("identity, gzip", "gzip"),
    ("identity;q=1, gzip;q=0.5", "identity"),
    ("gzip;q=abc, br;q=0.1", "br"),  # malformed q: the item is ignored
    ("gzip;q=1.5, br;q=0.2", "br"),
    ("gzip;q=0.5000, br;q=0.2", "br"),  # more than 3 decimals
    ("gzip;q=1e0, br;q=0.2", "br"),
    ("gzip;q=nan, br;q=0.2", "br"),
    ("gzip;q=-1, br;q=0.2", "br"),
    ("gzip;level=9, br;q=0.2", "br"),
    ("gzip,,br;q=0.1,", "gzip"),
])
def test_choose(header, expected):
    assert choose(header) == expected


def _resp(ctype: str | None = "text/html", body: bytes = TEXT, status: int = 200, *extra: tuple[str, str]):
    headers = ([("content-type", ctype)] if ctype is not None else []) + list(extra)
    return AppResponse(status, tuple(headers), body)


@pytest.mark.parametrize("resp, expected", [
    (_resp(), True),
    (_resp(None), True),
    (_resp("application/json"), True),
    (_resp("application/octet-stream"), True),  # §9.30: octet-stream is compressible
    (_resp("image/svg+xml"), True),
    (_resp("image/svg+xml; charset=utf-8"), True),
    (_resp("text/plain", b"x" * 32), True),
    (_resp("text/plain", b"x" * 31), False),  # under 32 bytes
    (_resp("text/plain", b""), False),
    (_resp("image/png"), False),
    (_resp("image/jpeg"), False),
    (_resp("image/svg"), False),
    (_resp("text/event-stream"), False),
    (_resp("text/event-stream; charset=utf-8"), False),
    (_resp("application/grpc"), False),
    (_resp("application/grpc+proto"), False),
    (_resp("text/html", TEXT, 204), False),
    (_resp("text/html", TEXT, 304), False),
    (_resp("text/html", TEXT, 200, ("content-encoding", "gzip")), False),
    (_resp("text/html", TEXT, 200, ("content-encoding", "identity")), False),
    (_resp("text/html", TEXT, 206, ("content-range", "bytes 0-99/1000")), False),
], ids=lambda v: repr(v)[:60] if not isinstance(v, bool) else str(v))
def test_should_compress(resp, expected):
    assert should_compress(resp) is expected


def _req(*accept: str) -> AppRequest:
    return AppRequest("GET", "/", tuple(("accept-encoding", a) for a in accept))


def test_apply_gzip_fixes_headers_and_round_trips():
    resp = _resp("text/html", TEXT, 200, ("content-length", str(len(TEXT))), ("accept-ranges", "bytes"),
                 ("etag", '"e"'))
    out = apply(_req("gzip, deflate"), resp)
    assert out.status == 200
    assert out.header("content-encoding") == "gzip"
    assert out.header_all("content-length") == [str(len(out.body))]
    assert out.header("accept-ranges") is None
    assert out.header("vary") == "accept-encoding"
    assert out.header("etag") == '"e"' and out.header("content-type") == "text/html"
    assert len(out.body) < len(TEXT) and gzip.decompress(out.body) == TEXT
    # Compressed bodies go back base64 (docs/behaviour.md §6.3 rule 1).
    text, is_b64 = response_field(out.body, list(out.headers))
    assert is_b64


def test_apply_brotli_when_preferred():
    out = apply(_req("gzip", "br"), _resp("application/json", b'{"k": "' + b"v" * 500 + b'"}'))
    assert out.header("content-encoding") == "br"
    assert brotli.decompress(out.body) == b'{"k": "' + b"v" * 500 + b'"}'
    assert out.header("content-length") == str(len(out.body))


def test_apply_identity_adds_vary_only():
    """docs/behaviour.md §9.33 (matched): a compressible body gets Vary even when the client accepts no coding."""
    resp = _resp("text/html", TEXT, 200, ("content-length", str(len(TEXT))))
    for req in (_req(), _req("deflate"), _req("br;q=0, gzip;q=0")):
        out = apply(req, resp)
        assert out.body == TEXT and out.header("content-encoding") is None
        assert out.header("content-length") == str(len(TEXT))
        assert out.header_all("vary") == ["accept-encoding"]


def test_apply_keeps_an_existing_vary():
    out = apply(_req("gzip"), _resp("text/html", TEXT, 200, ("vary", "Origin, Accept-Encoding")))
    assert out.header_all("vary") == ["Origin, Accept-Encoding"]
    out = apply(_req("gzip"), _resp("text/html", TEXT, 200, ("vary", "Origin")))
    assert out.header_all("vary") == ["Origin", "accept-encoding"]


@pytest.mark.parametrize("resp", [
    _resp("image/png", b"\x89PNG" + bytes(200)),
    _resp("text/plain", b"tiny"),
    _resp("text/plain", TEXT, 200, ("content-encoding", "gzip")),
    _resp("text/event-stream", TEXT),
], ids=["image", "small", "encoded", "event-stream"])
def test_apply_leaves_uncompressible_responses_untouched(resp):
    assert apply(_req("gzip, br"), resp) is resp


def test_x_gzip_is_answered_as_gzip():
    out = apply(_req("x-gzip"), _resp())
    assert out.header("content-encoding") == "gzip" and gzip.decompress(out.body) == TEXT


def test_gzip_output_is_deterministic():
    first, second = compress(TEXT, "gzip"), compress(TEXT, "gzip")
    assert first == second and first[:2] == b"\x1f\x8b" and first[4:8] == b"\0\0\0\0"  # mtime 0


def test_brotli_quality_is_moderate():
    assert 4 <= compression.BROTLI_QUALITY <= 6


def _run(code: str, *, pythonpath: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([*(pythonpath or []), str(REPO)])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30)


PRELUDE = """
    import sys
    from lwa import compression
    from lwa.model import AppRequest, AppResponse
    resp = AppResponse(200, (("content-type", "text/plain"),), b"x" * 100)
    def ask(accept):
        req = AppRequest("GET", "/", (("accept-encoding", accept),))
        return compression.read_compressed(req, resp.status, resp.headers, [resp.body], 1 << 20)
"""


def test_brotli_is_imported_only_when_first_needed():
    proc = _run(PRELUDE + """
    assert "brotli" not in sys.modules, "imported with lwa.compression"
    import lwa.app  # urllib3 would import brotli for its own decoders: lwa.app hides it
    assert "urllib3" in sys.modules and "brotli" not in sys.modules, "imported with urllib3"
    assert ask("gzip").header("content-encoding") == "gzip"
    assert ask("identity").header("content-encoding") is None
    assert "brotli" not in sys.modules, "imported for a gzip-only client"
    assert ask("br").header("content-encoding") == "br"
    assert "brotli" in sys.modules
    print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_missing_brotli_falls_back_to_gzip_with_one_warning(tmp_path):
    (tmp_path / "brotli.py").write_text('raise ImportError("brotli hidden by the test")\n')
    proc = _run(PRELUDE + """
    import gzip
    for _ in range(3):
        out = ask("br")
        assert out.header("content-encoding") == "gzip", out.headers
        assert gzip.decompress(out.body) == b"x" * 100
    assert ask("br;q=1, gzip;q=0.5").header("content-encoding") == "gzip"
    print("ok")
    """, pythonpath=[str(tmp_path)])
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "brotli cannot be imported" in line]
    assert len(warnings) == 1, proc.stderr
    assert "brotli hidden by the test" in warnings[0]
