"""Frozen values passed between layers: what Lambda gave us, what we send the app, what it answered.

NamedTuples, not frozen dataclasses: as immutable, and `dataclasses` (with `inspect`) would be
the costliest import on the way to the first poll."""

from __future__ import annotations

from typing import NamedTuple


class Invocation(NamedTuple):
    """One event from `/invocation/next`: the Lambda-Runtime-* headers and the raw body."""

    request_id: str
    deadline_ms: int
    body: bytes
    function_arn: str = ""
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None
    tenant_id: str | None = None


class AppRequest(NamedTuple):
    """An HTTP request for the app: `target` is the encoded origin-form path[?query]."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class AppResponse(NamedTuple):
    """What the app answered: status, lowercase headers in wire order, the whole body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]
