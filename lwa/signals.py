"""The one "stop" flag, and the SIGTERM/SIGINT handlers that raise it.

A signal handler runs between bytecodes of the main thread, possibly while that thread holds a
lock; so the handler only appends to a list (atomic, lock-free) and waiters poll the flag.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal  # the C module itself: `signal` builds three IntEnum classes on import, ~1 ms

POLL_S = 0.02


class StopFlag:
    """Like threading.Event for our needs, but safe to set from a signal handler."""

    def __init__(self) -> None:
        self._marks: list = []

    def set(self) -> None:
        self._marks.append(True)

    def is_set(self) -> bool:
        return bool(self._marks)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or `timeout` passes; True when set."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._marks:
            left = POLL_S if end is None else min(POLL_S, end - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True


def install(stop: StopFlag) -> None:
    """First SIGTERM/SIGINT sets `stop`; a second one exits at once."""

    def on_signal(signum, frame) -> None:
        if stop.is_set():
            os._exit(0)
        stop.set()

    # before registration, on every cold start (bench/README.md, "Cold start")
    _signal.signal(_signal.SIGTERM, on_signal)
    _signal.signal(_signal.SIGINT, on_signal)
