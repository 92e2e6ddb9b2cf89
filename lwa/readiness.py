"""Wait until the app is ready: HTTP GET or TCP connect every 10 ms, progress logged every 2 s.

Plain sockets only, so the probe runs while urllib3 is still being imported (STYLE: start-up).
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from .config import format_ranges, status_in
from .logs import log
from .wire import connect_host

if TYPE_CHECKING:
    from .config import Config
    from .signals import StopFlag


INTERVAL_S = 0.010
PROGRESS_S = 2.0
ATTEMPT_TIMEOUT_S = 1.0  # a hung health endpoint must not hang the wait


def is_healthy(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return status_in(status, ranges)


def probe(config: Config, timeout: float = ATTEMPT_TIMEOUT_S) -> tuple[bool, str]:
    """One attempt: (ready, what was seen) — the status, or the connect error."""
    host, port = config.host, config.readiness_port
    try:
        with socket.create_connection((connect_host(host), port), timeout=timeout) as sock:
            if config.readiness_protocol == "tcp":
                return True, "connected"
            netloc = config.readiness_url.split("/", 3)[2]
            sock.sendall(
                f"GET {config.readiness_path} HTTP/1.1\r\nHost: {netloc}\r\nConnection: close\r\n\r\n".encode(
                    "latin-1", "replace"
                )
            )
            head = b""
            while b"\n" not in head and len(head) < 8192:
                data = sock.recv(4096)
                if not data:
                    break
                head += data
    except OSError as exc:
        return False, exc.strerror or str(exc) or type(exc).__name__
    parts = head.split(None, 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return False, "no HTTP status line" if not head else f"bad status line {head[:40]!r}"
    status = int(parts[1])
    return is_healthy(status, config.healthy_status), f"status {status}"


def wait_ready(
    config: Config, stop: StopFlag | None = None, budget_s: float | None = None, started: float | None = None
) -> tuple[bool, str]:
    """Probe until ready, `budget_s` runs out (measured from `started`), or `stop` is set."""
    started = time.monotonic() if started is None else started
    checkpoint = PROGRESS_S
    url = config.readiness_url if config.readiness_protocol == "http" else f"tcp://{config.app_netloc}"
    last = "no attempt yet"
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= checkpoint:
            log.info(
                "app is not ready after %dms url=%s last=%s healthy=%s",
                checkpoint * 1000, url, last, format_ranges(config.healthy_status),
            )
            checkpoint += PROGRESS_S
        if budget_s is not None and elapsed >= budget_s:
            return False, last
        timeout = ATTEMPT_TIMEOUT_S if budget_s is None else max(min(ATTEMPT_TIMEOUT_S, budget_s - elapsed), 0.01)
        ready, last = probe(config, timeout)
        if ready:
            log.debug("app is ready url=%s (%s)", url, last)
            return True, last
        if stop is not None and stop.wait(INTERVAL_S):
            return False, last
        if stop is None:
            time.sleep(INTERVAL_S)


def not_ready_message(config: Config, waited_s: float, last: str) -> str:
    url = config.readiness_url if config.readiness_protocol == "http" else f"tcp://{config.app_netloc}"
    return (
        f"the app did not become ready within {waited_s:.1f}s: {url} last answered {last}; "
        f"healthy is {format_ranges(config.healthy_status)} (AWS_LWA_READINESS_CHECK_PATH, "
        f"AWS_LWA_READINESS_CHECK_HEALTHY_STATUS, AWS_LWA_PORT)"
    )
