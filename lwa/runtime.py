"""Runtime API client: the only module that knows `/2018-06-01/runtime/...` and `Lambda-Runtime-*`
(streaming imports its trailer names from here).

Each slot thread owns one `RuntimeClient` (one keep-alive socket), so slots never contend. It is
on the way to the first poll, so it imports neither `json` nor `model` (and with it `typing`) at
module level: both are first needed when an event arrives, and by then they are loaded.
"""

from __future__ import annotations

import time

from .errors import RuntimeApiError
from .logs import log
from .wire import ChunkedWriter, Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable

    from .model import Invocation
    from .signals import StopFlag


PREFIX = "/2018-06-01/runtime"
H_REQUEST_ID = "lambda-runtime-aws-request-id"
H_DEADLINE = "lambda-runtime-deadline-ms"
H_ARN = "lambda-runtime-invoked-function-arn"
H_TRACE = "lambda-runtime-trace-id"
H_CLIENT_CONTEXT = "lambda-runtime-client-context"
H_COGNITO = "lambda-runtime-cognito-identity"
H_TENANT = "lambda-runtime-aws-tenant-id"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
STREAM_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
BACKOFF_START_S = 0.01
BACKOFF_MAX_S = 1.0
POST_ATTEMPTS = 3


def error_body(error_type: str, message: str) -> bytes:
    from .jsontext import compact  # noqa: PLC0415 - loaded long before any error is posted; see the module docstring

    return compact({"errorType": error_type, "errorMessage": message}).encode("utf-8")


class RuntimeClient:
    """`on_answer` is called once, after the first response or error this client delivered."""

    def __init__(self, netloc: str, on_answer: Callable[[], None] | None = None) -> None:
        self.netloc = netloc
        self.conn = Connection(netloc)
        self.on_answer = on_answer

    def _answered(self) -> None:
        hook, self.on_answer = self.on_answer, None
        if hook is not None:
            hook()

    def next(self, stop: StopFlag) -> Invocation | None:
        """Block until Lambda hands over an event; transport faults retry with backoff
        (docs/behaviour.md §9.13). Returns None once `stop` is set."""
        delay = BACKOFF_START_S
        while not stop.is_set():
            try:
                resp = self.conn.request("GET", f"{PREFIX}/invocation/next", timeout=None)
            except OSError as exc:
                log.warning("Error polling /next, retrying in %d ms: %s", delay * 1000, exc)
            else:
                if resp.status == 200:
                    inv = _invocation(resp.headers, resp.body)
                    if inv is not None:
                        return inv
                else:
                    log.warning("/next answered %d, retrying in %d ms: %s", resp.status, delay * 1000,
                                resp.body[:200].decode("utf-8", "replace"))
            stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        return None

    def _post(self, path: str, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> int:
        """POST with bounded retries on transport faults and 5xx; returns the final status."""
        delay = BACKOFF_START_S
        for attempt in range(POST_ATTEMPTS):
            try:
                resp = self.conn.request("POST", path, headers, body, timeout=30.0)
            except OSError as exc:
                if attempt == POST_ATTEMPTS - 1:
                    raise RuntimeApiError(path, None, str(exc)) from None
            else:
                if resp.status < 500 or attempt == POST_ATTEMPTS - 1:
                    if resp.status >= 300:
                        raise RuntimeApiError(path, resp.status, resp.body)
                    return resp.status
            time.sleep(delay)
            delay = min(delay * 4, BACKOFF_MAX_S)
        raise AssertionError("unreachable")

    def post_response(self, request_id: str, payload: bytes) -> None:
        self._post(f"{PREFIX}/invocation/{request_id}/response", payload)
        self._answered()

    def post_error(self, request_id: str, error_type: str, message: str) -> None:
        self._post(
            f"{PREFIX}/invocation/{request_id}/error",
            error_body(error_type, message),
            [(ERROR_TYPE_HEADER, "unhandled"), ("Content-Type", "application/json")],
        )
        self._answered()

    def post_init_error(self, error_type: str, message: str) -> None:
        self._post(f"{PREFIX}/init/error", error_body(error_type, message), [(ERROR_TYPE_HEADER, error_type)])

    def restore_next(self) -> None:
        resp = self.conn.request("GET", f"{PREFIX}/restore/next", timeout=None)
        if resp.status != 200:
            raise RuntimeApiError(f"{PREFIX}/restore/next", resp.status, resp.body)

    def post_restore_error(self, error_type: str, message: str) -> None:
        self._post(f"{PREFIX}/restore/error", error_body(error_type, message), [(ERROR_TYPE_HEADER, error_type)])

    def open_stream(self, request_id: str) -> ChunkedWriter:
        """Start a streamed response (docs/behaviour.md §7.1); the caller writes prelude,
        separator, body."""
        return self.conn.open_chunked(
            "POST",
            f"{PREFIX}/invocation/{request_id}/response",
            [
                ("Lambda-Runtime-Function-Response-Mode", "streaming"),
                ("Content-Type", STREAM_CONTENT_TYPE),
                ("Trailer", ERROR_TYPE_HEADER),
                ("Trailer", ERROR_BODY_TRAILER),
            ],
            self._answered,
        )

    def close(self) -> None:
        self.conn.close()


_UNSAFE_IN_ID = frozenset("/?# \r\n")  # the id goes into a request path
RELATIVE_DEADLINE_MS = 10**12  # 2001-09-09 as a Unix time in ms: any real deadline is later


def _invocation(headers: dict[str, str], body: bytes) -> Invocation | None:
    from .model import Invocation  # noqa: PLC0415 - see the module docstring

    request_id = headers.get(H_REQUEST_ID, "")
    if not request_id or not _UNSAFE_IN_ID.isdisjoint(request_id):
        log.error("/next answered without a usable Lambda-Runtime-Aws-Request-Id; skipping that event")
        return None
    deadline_raw = headers.get(H_DEADLINE, "")
    try:
        deadline_ms = int(deadline_raw)
    except ValueError:
        log.warning("invalid Lambda-Runtime-Deadline-Ms %r; assuming 15 minutes", deadline_raw)
        deadline_ms = int(time.time() * 1000) + 900_000
    if deadline_ms < RELATIVE_DEADLINE_MS:  # a duration, not a date: `cargo lambda watch` sends 600000
        deadline_ms += int(time.time() * 1000)
    return Invocation(
        request_id=request_id,
        deadline_ms=deadline_ms,
        body=body,
        function_arn=_utf8(headers.get(H_ARN)) or "",
        trace_id=_utf8(headers.get(H_TRACE)) or None,
        client_context=_utf8(headers.get(H_CLIENT_CONTEXT)) or None,
        cognito_identity=_utf8(headers.get(H_COGNITO)) or None,
        tenant_id=_utf8(headers.get(H_TENANT)) or None,
    )


def _utf8(value: str | None) -> str | None:
    if value is None or value.isascii():
        return value
    return value.encode("latin-1").decode("utf-8", "replace")
