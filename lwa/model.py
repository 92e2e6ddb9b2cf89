"""Frozen values passed between layers: what Lambda gave us, what we send the app, what it answered.

NamedTuples (lwa/record.py, no `typing` at run time), not frozen dataclasses: as immutable, and
`dataclasses` (with `inspect`) would be the costliest import on the way to the first poll."""

from __future__ import annotations

from .record import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable


def first_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of the lowercase header `name`, or None."""
    return next((value for key, value in headers if key == name), None)


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
        return first_header(self.headers, name)


class AppResponse(NamedTuple):
    """What the app answered: status, lowercase headers in wire order, the whole body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]
