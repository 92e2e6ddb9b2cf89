"""The cold-start line: where a sandbox's init time went, logged once the first invocation is
answered (`cold start: lwa ready 41 ms, app healthy 612 ms, first response 619 ms`)."""

from __future__ import annotations

import time

from . import logs
from .logs import log


class ColdStart:
    """Monotonic marks of one start, from lwa's own start (the interpreter's ~10 ms before it are
    not seen); the cold-start line is logged once the first invocation is answered."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.title = "cold start"
        self.marks: dict[str, float] = {}
        self._done: list = []

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())

    def restored(self) -> None:
        """SnapStart: the snapshot was restored; the figures count from now."""
        self.started, self.title, self.marks = time.monotonic(), "cold start after restore", {}

    def answered(self) -> None:
        """Called by each slot's first Runtime API answer; logs at the first of them."""
        now = time.monotonic()
        self._done.append(True)
        if len(self._done) > 1:
            return
        shown = [f"{name} {(at - self.started) * 1000:.0f} ms" for name, at in self.marks.items()]
        rid = getattr(logs.current, "request_id", None)
        logs.current.request_id = None  # a line about the process, not about this invocation
        try:
            log.info("%s: %s", self.title, ", ".join([*shown, f"first response {(now - self.started) * 1000:.0f} ms"]))
        finally:
            logs.current.request_id = rid
