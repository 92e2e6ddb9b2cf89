"""Event sources: `classify(event)` picks the translator module that owns an event.

Classification is by discriminating fields (SPEC Part A, Q-14), checked in this order; a
recognised HTTP event with bad fields fails with InvalidEvent, it is never re-routed."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import alb, apigw_v1, apigw_v2, passthrough


def _websocket(event: dict) -> bool:
    rc = event.get("requestContext")
    return isinstance(rc, dict) and ("connectionId" in rc or "eventType" in rc)


def classify(event: Any) -> ModuleType:
    """The module whose `to_request`/`to_response` handle this event."""
    if not isinstance(event, dict):
        return passthrough
    if apigw_v2.matches(event):
        return apigw_v2
    if alb.matches(event):
        return alb
    if _websocket(event):
        return passthrough
    if apigw_v1.matches(event):
        return apigw_v1
    return passthrough


BY_NAME = {m.NAME: m for m in (apigw_v1, apigw_v2, alb, passthrough)}
