"""Lambda's response-streaming wire format (SPEC §7): prelude, 8 NUL bytes, raw body chunks,
and HTTP trailers for a failure mid-stream. Byte builders here are pure; `pump` does the I/O."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Iterable

from .errors import InvocationError
from .logs import log
from .sources.headers import RESPONSE_DROP

if TYPE_CHECKING:
    from .wire import ChunkedWriter


SEPARATOR = b"\x00" * 8
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
STREAM_ERROR = "Runtime.StreamError"


def prelude(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """`{"statusCode","headers","cookies"}` + separator; Set-Cookie values go to `cookies`."""
    out: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        if name == "set-cookie":
            cookies.append(value)
        elif name not in RESPONSE_DROP and name != "x-lambda-http-content-encoding":
            out[name] = f"{out[name]}, {value}" if name in out else value
    out.setdefault("content-type", "application/octet-stream")
    head = {"statusCode": status, "headers": out, "cookies": cookies}
    return json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass") + SEPARATOR


def error_trailers(error: InvocationError) -> list[tuple[str, str]]:
    body = json.dumps({"errorMessage": str(error), "errorType": error.error_type}, ensure_ascii=False)
    return [(ERROR_TYPE, STREAM_ERROR), (ERROR_BODY, base64.b64encode(body.encode("utf-8")).decode("ascii"))]


def pump(writer: ChunkedWriter, head: bytes, chunks: Iterable[bytes]) -> InvocationError | None:
    """Send the prelude at once, then each chunk as it arrives; end with trailers on failure.

    Returns the app-side error reported in the trailers, if any. OSError from the Runtime API
    side propagates: the caller closes the app connection so the app sees the disconnect."""
    writer.write(head)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except InvocationError as exc:
        log.error("stream failed after the prelude: %s", exc)
        writer.finish(error_trailers(exc))
        return exc
    writer.finish()
    return None
