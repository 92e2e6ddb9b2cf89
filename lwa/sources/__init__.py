"""Event sources: `classify(event)` picks the translator module that owns an event.

Classification is by discriminating fields, in the order of `READERS` (docs/behaviour.md,
decision "classification", and §9.14): the first predicate that holds owns the event; anything
else is pass-through. A recognised HTTP event with bad fields fails with InvalidEvent later, in
its translator: it is never re-routed."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from . import alb, apigw_v1, apigw_v2, passthrough


def _websocket(event: dict[str, Any]) -> bool:
    """API Gateway WebSocket events look like v1 but are not HTTP requests: pass them through."""
    rc = event.get("requestContext")
    return isinstance(rc, dict) and ("connectionId" in rc or "eventType" in rc)


READERS: tuple[tuple[Callable[[dict[str, Any]], bool], ModuleType], ...] = (
    (apigw_v2.matches, apigw_v2),
    (alb.matches, alb),
    (_websocket, passthrough),
    (apigw_v1.matches, apigw_v1),
)


def classify(event: Any) -> ModuleType:
    """The module whose `to_request`/`to_response` handle this event."""
    if isinstance(event, dict):
        for matches, module in READERS:
            if matches(event):
                return module
    return passthrough
