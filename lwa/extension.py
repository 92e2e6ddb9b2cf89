"""Extensions API: register as `lambda-adapter`, then block on the next event; SHUTDOWN sets stop."""

from __future__ import annotations

from .errors import RuntimeApiError
from .logs import log
from .wire import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

    from .signals import StopFlag


NAME = "lambda-adapter"  # must equal the file name under /opt/extensions (docs/behaviour.md §2.1)
PREFIX = "/2020-01-01/extension"
# Set by the layer's launcher when it registered already, before Python started: Lambda starts
# the app once every extension has registered, so the app's boot no longer waits for ours.
REGISTERED_ID = "LWA_EXTENSION_ID"


def identifier(environ: Mapping[str, str], netloc: str) -> str:
    """The extension identifier: the launcher's, or a registration now."""
    return environ.get(REGISTERED_ID) or register(netloc)


def register(netloc: str) -> str:
    """Register for SHUTDOWN; returns the extension identifier.

    Started by the runtime process itself (lwa as a container's entrypoint) we are an *internal*
    extension, which Lambda does not let subscribe to SHUTDOWN (403 Extension.InvalidEventType):
    then register for no events, as upstream always does, and rely on SIGTERM alone."""
    try:
        return _register(netloc, b'{"events":["SHUTDOWN"]}')
    except RuntimeApiError as exc:
        if exc.status != 403:
            raise
        log.info("registered without the SHUTDOWN event (%s): SIGTERM alone ends lwa", exc.body[:120])
        return _register(netloc, b'{"events":[]}')


def _register(netloc: str, body: bytes) -> str:
    conn = Connection(netloc, timeout=10.0)
    try:
        resp = conn.request(
            "POST", f"{PREFIX}/register", [("Lambda-Extension-Name", NAME), ("Content-Type", "application/json")],
            body,
        )
    except OSError as exc:
        raise RuntimeApiError(f"{PREFIX}/register", None, str(exc)) from None
    finally:
        conn.close()
    ident = resp.headers.get("lambda-extension-identifier")
    if resp.status != 200 or not ident:
        raise RuntimeApiError(f"{PREFIX}/register", resp.status, resp.body)
    return ident


def watch(netloc: str, ident: str, stop: StopFlag, shutdown_info: dict) -> None:
    """Thread body: wait for events; SHUTDOWN (or a lost Extensions API) means stop."""
    conn = Connection(netloc)
    try:
        while not stop.is_set():
            resp = conn.request("GET", f"{PREFIX}/event/next", [("Lambda-Extension-Identifier", ident)], timeout=None)
            if resp.status != 200:
                log.error("extension event/next answered %d: %s", resp.status, resp.body[:200])
                break
            import json  # noqa: PLC0415 - once an event came (SHUTDOWN): off the way to the first poll

            try:
                event = json.loads(resp.body)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("eventType") == "SHUTDOWN":
                shutdown_info.update(event)
                log.info("SHUTDOWN received (%s)", event.get("shutdownReason", "unknown"))
                break
    except OSError as exc:
        if not stop.is_set():
            log.error("Extensions API connection lost: %s", exc)
    finally:
        conn.close()
        stop.set()
