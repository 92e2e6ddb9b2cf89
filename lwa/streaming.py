"""Lambda's response-streaming wire format (docs/behaviour.md §7): prelude, 8 NUL bytes, raw body
chunks, and HTTP trailers for a failure mid-stream. Byte builders here are pure; `pump` does the I/O."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Iterable

from .errors import InvocationError
from .jsontext import compact
from .logs import log
from .runtime import ERROR_BODY_TRAILER, ERROR_TYPE_HEADER
from .sources.headers import grouped, response_headers

if TYPE_CHECKING:
    from .protocols import StreamWriter


SEPARATOR = b"\x00" * 8
STREAM_ERROR = "Runtime.StreamError"


def prelude(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """The prelude JSON `{"statusCode","headers","cookies"}`, without the separator: the app's
    headers shaped as for a buffered v2 answer (docs/behaviour.md, decision "streaming")."""
    by_name = grouped(response_headers(headers))
    cookies = by_name.pop("set-cookie", [])
    out = {name: ", ".join(values) for name, values in by_name.items()}
    out.setdefault("content-type", "application/octet-stream")
    head = {"statusCode": status, "headers": out, "cookies": cookies}
    return compact(head).encode("utf-8", "surrogatepass")


def error_trailers(error: InvocationError) -> list[tuple[str, str]]:
    body = json.dumps({"errorMessage": str(error), "errorType": error.error_type}, ensure_ascii=False)
    encoded = base64.b64encode(body.encode("utf-8")).decode("ascii")
    return [(ERROR_TYPE_HEADER, STREAM_ERROR), (ERROR_BODY_TRAILER, encoded)]


def pump(writer: StreamWriter, head: bytes, chunks: Iterable[bytes]) -> InvocationError | None:
    """Send the prelude and the separator, each as its own chunk, then each body chunk as it
    arrives; end with trailers on failure.

    Two chunks, as AWS's Node.js runtime client sends them: `cargo lambda watch` reads the prelude
    from the first chunk and skips the second, and answers 500 when both come in one. Returns the
    app-side error reported in the trailers, if any. OSError from the Runtime API side propagates:
    the caller closes the app connection so the app sees the disconnect."""
    writer.write(head)
    writer.write(SEPARATOR)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except InvocationError as exc:
        log.error("stream failed after the prelude: %s", exc)
        writer.finish(error_trailers(exc))
        return exc
    writer.finish()
    return None
