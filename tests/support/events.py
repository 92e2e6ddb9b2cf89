"""The real event payloads kept in tests/events (see its PROVENANCE.md), and the one builder for
hand-written HTTP API v2 / Function URL events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
MANIFEST: dict[str, str] = json.loads((EVENTS / "manifest.json").read_text())


def event_files(*kinds: str) -> list[str]:
    """Manifest keys of the real events of these kinds (v1, v2, alb, websocket, passthrough)."""
    return sorted(name for name, kind in MANIFEST.items() if kind in kinds)


def load_event(name: str) -> dict[str, Any]:
    """A real event, parsed; `name` is its manifest key (`apigw-v2/….json`)."""
    return json.loads((EVENTS / name).read_bytes())


def event_bytes(name: str) -> bytes:
    """A real event exactly as stored, for tests that need the raw bytes (pass-through)."""
    return (EVENTS / name).read_bytes()


def v2_event(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    b64: bool = False,
    cookies: list[str] | None = None,
    *,
    marker: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A hand-written Function URL / HTTP API event. A `bytes` body goes base64-encoded; `marker`
    rides in the query (`m=<marker>`) and as the request id, so an app's log can be searched for it;
    `fields` replace top-level keys as given."""
    if isinstance(body, bytes):
        body, b64 = base64.b64encode(body).decode(), True
    if marker is not None:
        query = f"{query}&m={marker}" if query else f"m={marker}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", **(headers or {})},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "stage": "$default",
            "requestId": marker or "r1",
        },
        "body": body,
        "isBase64Encoded": b64,
    }
    if cookies is not None:
        event["cookies"] = cookies
    event.update(fields)
    return event
