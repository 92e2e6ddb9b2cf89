"""One invocation, answered exactly once; and the long-poll loop one slot thread runs.

The invariant: every Invocation that `next()` returns ends in exactly one POST to the Runtime
API for its request id — `/response` (buffered or streamed) or `/error` — and never two.
`handle` is the only place that posts; everything below it raises. An `InvocationError`
carries the errorType to report; a `RuntimeApiError` from posting the response is turned into
an error post only when the Runtime API refused the response as too large (413) — it then holds
no response for this id; any other fault (5xx after the bounded retries, 400 unknown id, 403
already answered) is logged (nothing more can be said for that id) and the thread polls again.
A streamed response that started can only end with trailers, never with a second post.
Nothing raised by one invocation escapes to the loop.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import TYPE_CHECKING, Callable

from . import logs, sources
from .errors import HttpStatusError, InvalidEventError, InvocationError, ResponseTooLargeError, RuntimeApiError
from .jsontext import compact
from .logs import log
from .model import AppResponse
from .signals import StopFlag
from .sources import passthrough
from .variables import status_in

if TYPE_CHECKING:
    from .app import App
    from .config import Config
    from .model import Invocation
    from .protocols import Outcome
    from .runtime import RuntimeClient


MAX_BUFFERED = 6291556  # the Runtime API's limit for a buffered response (docs/behaviour.md §7.3)
MAX_WAIT_S = 86400.0
MAX_ERROR_BODY = 1 << 20  # the app's body quoted in an HttpStatusError at most


class Slots:
    """What every slot shares: config, the app pool (once urllib3 is imported), the init gate."""

    def __init__(
        self, config: Config, get_app: Callable[[], App], wait_ready: Callable[[float], None] | None,
        stop: StopFlag | None = None,
    ) -> None:
        self.config = config
        self.get_app = get_app
        self.wait_ready = wait_ready  # async init: finish the readiness wait at the first invocation
        self.stop = stop or StopFlag()
        self.in_flight = 0
        self.draining = False
        self.stream_hinted = False
        self.lock = threading.Condition(threading.Lock())

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1
            if self.draining:  # only shutdown waits: no notify (Python code) per invocation
                self.lock.notify_all()

    def drain(self, until: float) -> bool:
        """Wait for in-flight invocations until the monotonic `until`; True when none is left."""
        with self.lock:
            self.draining = True
            while self.in_flight:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
        return True


def _status_error(resp: AppResponse, size: int | None) -> HttpStatusError:
    """`{"statusCode":N,"body":"..."}` as upstream (docs/behaviour.md §6.2); a binary body
    base64-encoded, and a huge one cut, so the error itself stays well inside what the Runtime API
    accepts. `size` is the whole body's, when its framing tells (only a part of it was read)."""
    data = resp.body[:MAX_ERROR_BODY]
    text = None
    for end in range(len(data), max(len(data) - 4, -1), -1):  # a cut may split one UTF-8 character
        try:
            text = data[:end].decode("utf-8")
            break
        except UnicodeDecodeError:
            if len(resp.body) <= MAX_ERROR_BODY:
                break
    if text is None:
        text = base64.b64encode(data).decode("ascii")
    if len(resp.body) > MAX_ERROR_BODY:
        text += f"... ({size} bytes, cut)" if size else f"... (over {MAX_ERROR_BODY} bytes, cut)"
    message = compact({"statusCode": resp.status, "body": text})
    return HttpStatusError(message, resp.status, size or len(resp.body))


def _deadline(inv: Invocation, config: Config) -> float:
    """The invocation deadline on the monotonic clock, less the safety margin (docs/behaviour.md §9.32)."""
    left_s = inv.deadline_ms / 1000.0 - time.time() - config.deadline_margin_ms / 1000.0
    # A deadline days away is no deadline (RIE's Managed Instances mode sends one ~10^9 s ahead);
    # capped, so socket timeouts stay representable.
    return time.monotonic() + min(left_s, MAX_WAIT_S)


def _respond(inv: Invocation, shared: Slots, runtime: Outcome) -> None:
    config = shared.config
    try:
        event = json.loads(inv.body)
    except (ValueError, RecursionError) as exc:  # includes UnicodeDecodeError; RecursionError: `[[[[...`
        raise InvalidEventError(f"the event is not valid JSON: {exc}") from None
    source = sources.classify(event)
    try:
        req = source.to_request(event, inv, config)
    except RecursionError:  # parsed, but too deep to re-serialise into x-amzn-request-context
        raise InvalidEventError("the event is nested too deeply to forward") from None
    deadline = _deadline(inv, config)
    if shared.wait_ready is not None:
        shared.wait_ready(deadline)
    app = shared.get_app()
    ex = app.open(req, deadline)
    try:
        if config.error_status_codes and status_in(ex.status, config.error_status_codes):
            body = ex.read_all(MAX_ERROR_BODY)
            size = ex.frame.length if ex.frame.kind == "length" else None
            raise _status_error(AppResponse(ex.status, ex.headers, body), size)
        if config.streaming and source is not passthrough:
            from . import streaming  # noqa: PLC0415 - streaming functions only

            try:
                writer = runtime.open_stream(inv.request_id)
                streaming.pump(writer, streaming.prelude(ex.status, ex.headers), ex.chunks())
            except OSError as exc:
                log.error("the Runtime API connection broke while streaming: %s", exc)
                runtime.close()
            return
        resp = None
        if config.enable_compression:
            from . import compression  # noqa: PLC0415 - only when enabled

            if compression.eligible(ex.status, ex.headers):
                resp = compression.read_compressed(req, ex.status, ex.headers, ex.chunks(), MAX_BUFFERED)
        if resp is None:
            resp = AppResponse(ex.status, ex.headers, ex.read_all(MAX_BUFFERED))
    finally:
        ex.close()  # a no-op after a complete body; else the rest is on the wire: never reused
    if len(resp.body) > MAX_BUFFERED:
        raise ResponseTooLargeError(
            f"the app's response body is over {MAX_BUFFERED} bytes, Lambda's limit for a buffered "
            "response; set AWS_LWA_INVOKE_MODE=response_stream to stream it"
        )
    if not shared.stream_hinted and (resp.header("content-type") or "").startswith("text/event-stream"):
        shared.stream_hinted = True  # once per process; a benign race between slots at worst
        log.info("the app answered text/event-stream in buffered mode: clients get it all at the end; "
                 "set AWS_LWA_INVOKE_MODE=response_stream (and the Function URL to RESPONSE_STREAM) to stream")
    payload = source.to_response(resp, event, config)
    if len(payload) > MAX_BUFFERED:
        raise ResponseTooLargeError(
            f"the Lambda response would be {len(payload)} bytes, over the {MAX_BUFFERED}-byte buffered limit; "
            "set AWS_LWA_INVOKE_MODE=response_stream to stream it"
        )
    try:
        runtime.post_response(inv.request_id, payload)
    except RuntimeApiError as exc:
        if exc.status == 413:
            raise ResponseTooLargeError(
                f"the Runtime API refused the {len(payload)}-byte response as too large; "
                "set AWS_LWA_INVOKE_MODE=response_stream to stream it"
            ) from None
        raise


def handle(inv: Invocation, shared: Slots, runtime: Outcome) -> None:
    """Serve one invocation and post exactly one outcome for it (see the module docstring)."""
    logs.current.request_id = inv.request_id
    try:
        _respond(inv, shared, runtime)
    except InvocationError as exc:
        level = logs.WARNING if isinstance(exc, (HttpStatusError,)) else logs.ERROR
        log.log(level, "invocation failed: %s: %s", exc.error_type, exc.summary())
        _post_error(runtime, inv.request_id, exc.error_type, str(exc))
    except RuntimeApiError as exc:
        log.error("could not deliver the response: %s", exc)
    except Exception as exc:  # noqa: BLE001 - a bug: report it for this invocation and keep serving
        log.exception("internal error while handling the invocation")
        _post_error(runtime, inv.request_id, "InternalError", f"lwa internal error: {type(exc).__name__}: {exc}")
    finally:
        logs.current.request_id = None


def _post_error(runtime: Outcome, request_id: str, error_type: str, message: str) -> None:
    try:
        runtime.post_error(request_id, error_type, message)
    except RuntimeApiError as exc:
        log.error("could not post the error: %s", exc)


def run_slot(shared: Slots, runtime: RuntimeClient) -> None:
    """Thread body: poll, handle, repeat until stop is set."""
    while not shared.stop.is_set():
        try:
            inv = runtime.next(shared.stop)
        except Exception:  # noqa: BLE001 - a bug in polling must not cost the slot: log it, back off, poll again
            log.exception("polling /next failed unexpectedly; retrying")
            runtime.close()
            shared.stop.wait(0.1)
            continue
        if inv is None:
            break
        shared.enter()
        try:
            handle(inv, shared, runtime)
        finally:
            shared.leave()
    runtime.close()
