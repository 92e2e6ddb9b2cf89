"""The interfaces swapped at run time, for the type checker only: imported under TYPE_CHECKING,
so they cost nothing when lwa runs.

`loop.handle` answers through an `Outcome`: the Runtime API client in Lambda
(`runtime.RuntimeClient`), or what `python -m lwa invoke/serve` put in its place (print the
result, or answer the HTTP client). A streamed answer goes through a `StreamWriter`.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol


class StreamWriter(Protocol):
    """One streamed response: `write` sends one chunk at once; `finish` ends it, with trailers
    reporting a failure after the prelude went out."""

    def write(self, data: bytes) -> None: ...

    def finish(self, trailers: Iterable[tuple[str, str]] = ()) -> Any: ...


class Outcome(Protocol):
    """Where one invocation's single outcome goes (see the top of loop.py)."""

    def post_response(self, request_id: str, payload: bytes) -> None: ...

    def post_error(self, request_id: str, error_type: str, message: str) -> None: ...

    def open_stream(self, request_id: str) -> StreamWriter: ...

    def close(self) -> None: ...
