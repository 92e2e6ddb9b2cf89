"""Wait until the app is ready: an HTTP GET (or a TCP connect) repeated until it passes.

Plain sockets only, so the probe runs while urllib3 is still being imported (bench/README.md, "Cold start").
Every attempt, and the whole wait, is bounded by the wall clock, never per read: a health
endpoint that trickles a byte at a time cannot stretch either (docs/behaviour.md §9.7).
While nothing listens, a refused connect costs microseconds, so the probe retries within a
millisecond or two and notices the app's listener at once; once something answers but is not
yet healthy, attempts are spaced as upstream spaces them (10 ms).
"""

from __future__ import annotations

import socket
import time

from .logs import log
from .variables import format_ranges, status_in
from .wire import connect_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import Config
    from .signals import StopFlag


INTERVAL_S = 0.010  # between attempts the app answered (upstream's interval)
REFUSED_FIRST_S = 0.001  # between refused connects: short, growing to REFUSED_MAX_S
REFUSED_MAX_S = 0.004
PROGRESS_S = 2.0
ATTEMPT_TIMEOUT_S = 1.0  # a hung health endpoint must not hang the wait (docs/behaviour.md §9.7)
MIN_ATTEMPT_S = 0.005
_HEAD_LIMIT = 8192
_CUT = "no complete status line"


def probe(config: Config, timeout: float = ATTEMPT_TIMEOUT_S) -> tuple[bool, str]:
    """One attempt, over within `timeout` seconds of wall-clock time: (ready, what was seen) —
    the status, or what went wrong ("refused" when nothing listens)."""
    end = time.monotonic() + timeout
    try:
        address = (connect_host(config.host), config.readiness_port)
        with socket.create_connection(address, timeout=timeout) as sock:  # type: ignore[arg-type]
            if config.readiness_protocol == "tcp":
                return True, "connected"
            sock.sendall(
                f"GET {config.readiness_path} HTTP/1.1\r\nHost: {config.readiness_netloc}\r\n"
                f"Connection: close\r\n\r\n".encode("latin-1", "replace")
            )
            line = _status_line(sock, end)
    except ConnectionRefusedError:
        return False, "refused"
    except socket.timeout:
        return False, f"{_CUT} within {timeout:.2f}s"
    except OSError as exc:
        return False, exc.strerror or str(exc) or type(exc).__name__
    status = parse_status_line(line)
    if status is None:
        return False, "no HTTP status line" if not line else f"bad status line {line[:40]!r}"
    return status_in(status, config.healthy_status), f"status {status}"


def _status_line(sock: socket.socket, end: float) -> bytes:
    """The first line of the answer, read until `end` (monotonic) at the latest."""
    head = b""
    while b"\n" not in head and len(head) < _HEAD_LIMIT:
        left = end - time.monotonic()
        if left <= 0:
            raise socket.timeout
        sock.settimeout(left)
        data = sock.recv(4096)
        if not data:
            break
        head += data
    return head.split(b"\n", 1)[0] if b"\n" in head else b""


def parse_status_line(line: bytes) -> int | None:
    """The status of a full `HTTP/1.x NNN[ reason]` line (CR optional), else None."""
    line = line.removesuffix(b"\r")
    if len(line) < 12 or not line.startswith(b"HTTP/1.") or line[8:9] != b" ":
        return None
    if not line[7:8].isdigit() or not line[9:12].isdigit() or line[12:13] not in (b"", b" "):
        return None
    return int(line[9:12])


def listening() -> list[str]:
    """host:port of every TCP listener in this network namespace (/proc/net/tcp and tcp6)."""
    found = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            with open(f"/proc/net/{name}", "rb") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == b"0A":  # TCP_LISTEN
                addr, _, port = fields[1].decode("ascii").partition(":")
                if len(addr) == width:
                    found.append(f"{_address(addr)}:{int(port, 16)}")
    return sorted(set(found), key=lambda a: (int(a.rsplit(":", 1)[1]), a))


def _address(hex_addr: str) -> str:
    """/proc/net/tcp* print addresses as 32-bit words in host (little-endian) order."""
    raw = b"".join(bytes.fromhex(hex_addr[i:i + 8])[::-1] for i in range(0, len(hex_addr), 8))
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in raw[12:])
    return "[" + socket.inet_ntop(socket.AF_INET6, raw) + "]"


def _listen_hint(config: Config) -> str:
    """`; listening: ...` — what does listen here, when nothing answers on the readiness port."""
    others = listening()
    shown = ", ".join(others[:20]) + (f" and {len(others) - 20} more" if len(others) > 20 else "")
    return (f"; nothing listens on {config.readiness_netloc}; listening: {shown or 'nothing'}")


def wait_ready(
    config: Config, stop: StopFlag | None = None, budget_s: float | None = None, started: float | None = None
) -> tuple[bool, str]:
    """Probe until ready, `budget_s` (wall clock, from `started`) runs out, or `stop` is set."""
    started = time.monotonic() if started is None else started
    checkpoint = PROGRESS_S
    last = "no attempt yet"
    pause = REFUSED_FIRST_S
    attempted = False
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= checkpoint:
            hint = _listen_hint(config) if last == "refused" else ""
            log.info(
                "app is not ready after %dms url=%s last=%s healthy=%s%s",
                checkpoint * 1000, config.readiness_target, last, format_ranges(config.healthy_status), hint,
            )
            checkpoint += PROGRESS_S
        if budget_s is not None and elapsed >= budget_s - (MIN_ATTEMPT_S if attempted else 0.0):
            return False, last  # a last attempt of a few µs would only hide what the one before saw
        timeout = ATTEMPT_TIMEOUT_S if budget_s is None else max(min(ATTEMPT_TIMEOUT_S, budget_s - elapsed), 0.001)
        ready, seen = probe(config, timeout)
        # An attempt the budget cut short says less than the one before it: keep that one.
        if ready or not (attempted and timeout < ATTEMPT_TIMEOUT_S and seen.startswith(_CUT)):
            last = seen
        attempted = True
        if ready:
            log.debug("app is ready url=%s (%s)", config.readiness_target, last)
            return True, last
        if last == "refused":
            wait, pause = pause, min(pause * 2, REFUSED_MAX_S)
        else:
            wait, pause = INTERVAL_S, REFUSED_FIRST_S
        if budget_s is not None:
            wait = max(min(wait, budget_s - (time.monotonic() - started)), 0.0)
        if stop is None:
            time.sleep(wait)
        elif stop.wait(wait):
            return False, last


def not_ready_message(config: Config, waited_s: float, last: str) -> str:
    hint = _listen_hint(config) if last == "refused" else ""
    return (
        f"the app did not become ready within {waited_s:.1f}s: {config.readiness_target} last answered {last}"
        f"{hint}; healthy is {format_ranges(config.healthy_status)} (AWS_LWA_READINESS_CHECK_PATH, "
        f"AWS_LWA_READINESS_CHECK_HEALTHY_STATUS, AWS_LWA_PORT)"
    )
