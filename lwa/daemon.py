"""Start-up order and shutdown: config, logs, extension, readiness (or async init), SnapStart,
N slot threads, signals, drain, exit code.

The way to the first poll is kept short: registration and readiness use plain sockets, and
everything only an invocation needs is imported on one background thread started right after
registration (docs/behaviour.md §2.2: Lambda starts the app once every extension has registered,
so the import hides behind the app's own boot). That thread loads `lwa.loop` and the translators
first, then urllib3 with the app pool, so nothing is left to import once the app is ready.
Each slot sends its first poll before it needs any of it. The main thread only waits for the
stop flag; SnapStart's lifecycle runs on a thread of its own (docs/behaviour.md §2.8).
"""

from __future__ import annotations

import os
import sys
import threading
import time

from . import extension, logs, readiness
from .coldstart import ColdStart
from .config import ASYNC_INIT_BUDGET_S, load_config
from .errors import AppConnectionError, ConfigError, LwaError
from .logs import log
from .preload import STARTUP_SWITCH_INTERVAL_S, AppHolder
from .runtime import RuntimeClient
from .signals import StopFlag
from .signals import install as install_signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Mapping

    from .config import Config
    from .loop import Slots

SHUTDOWN_BUDGET_S = 1.8  # SIGTERM without a SHUTDOWN event: Lambda allows about 2 s
class Serving:
    """The slot threads and the `Slots` they share. The threads and their Runtime API connections
    are made during the readiness wait (`prepare`); `start` only lets them poll."""

    def __init__(self, config: Config, holder: AppHolder, stop: StopFlag, cold: ColdStart) -> None:
        self.config = config
        self.holder = holder
        self.stop = stop
        self.cold = cold
        self.gate: Callable[[float], None] | None = None
        self.shared: Slots | None = None
        self.go = threading.Event()
        self._lock = threading.Lock()

    def prepare(self) -> None:
        for n in range(self.config.concurrency):
            runtime = RuntimeClient(self.config.runtime_api, self.cold.answered)
            threading.Thread(target=self._slot, args=(runtime,), name=f"lwa-slot-{n}", daemon=True).start()

    def start(self, ready_at_init: bool) -> None:
        self.gate = _async_gate(self.config, ready_at_init, self.cold)
        self.go.set()

    def _slots(self) -> Slots:
        self.holder.preloaded.wait()
        from . import loop  # noqa: PLC0415 - loaded by the lwa-import thread (or its error is below)

        with self._lock:
            if self.shared is None:
                self.shared = loop.Slots(self.config, self.holder.get, self.gate, self.stop)
            return self.shared

    def _slot(self, runtime: RuntimeClient) -> None:
        """Thread body: connect, wait for `start`, poll at once; then the loop takes over."""
        if not self.config.snapstart:  # no connection may cross a snapshot
            try:
                runtime.conn.connect()
            except OSError:
                pass  # the poll connects again and retries as on any transport fault
        self.go.wait()
        try:
            inv = runtime.next(self.stop)
        except Exception:  # noqa: BLE001 - as loop.run_slot: a fault in polling must not cost the slot
            log.exception("polling /next failed unexpectedly; retrying")
            runtime.close()
            inv = None
        shared = self._slots()
        from . import loop  # noqa: PLC0415 - loaded by now (see _slots)

        if inv is not None:
            shared.enter()
            try:
                loop.handle(inv, shared, runtime)
            finally:
                shared.leave()
        loop.run_slot(shared, runtime)


def _async_gate(config: Config, ready_at_init: bool, cold: ColdStart) -> Callable[[float], None] | None:
    """Async init: until the app is ready, each invocation first finishes the readiness wait,
    bounded by its own deadline (then AppConnectionError, never a silent Lambda timeout)."""
    if ready_at_init or not config.async_init:
        return None
    state = {"ready": False}
    lock = threading.Lock()

    def wait(deadline: float) -> None:
        if state["ready"]:
            return
        with lock:
            if not state["ready"]:
                started = time.monotonic()
                ready, last = readiness.wait_ready(config, None, deadline - started, started)
                if not ready:
                    raise AppConnectionError(readiness.not_ready_message(config, time.monotonic() - started, last))
                cold.mark("app healthy")
                state["ready"] = True

    return wait


def _init_fail(runtime_api: str, error_type: str, message: str) -> int:
    log.error("%s", message)
    try:
        RuntimeClient(runtime_api).post_init_error(error_type, message)
    except (LwaError, OSError) as exc:
        log.error("could not post the init error: %s", exc)
    return 1


def _port_warnings(config: Config, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Ports known to be taken by someone else in Lambda (docs/behaviour.md, "Why": ports): a
    readiness check could even pass against that other listener, so say it before anything goes wrong."""
    out = []
    if config.port == 9001 or config.readiness_port == 9001:
        out.append("port 9001 is the Lambda Runtime API's: set AWS_LWA_PORT to another port for the app")
    if config.port == 8080 and environ.get("AWS_SAM_LOCAL") == "true":
        out.append("sam local uses port 8080 itself: set AWS_LWA_PORT (and your app's port) to another one")
    if config.port == 3000:
        try:
            others = [name for name in os.listdir("/opt/extensions") if name != extension.NAME]
        except OSError:
            others = []
        if others:
            out.append(
                f"port 3000 is also used by some extensions (e.g. Lambda Insights); other extensions here: "
                f"{', '.join(sorted(others))}. If readiness passes but requests fail, move the app's port"
            )
    return tuple(out)


def _config_failed(environ: Mapping[str, str], exc: ConfigError) -> int:
    """Unusable configuration: say so once, as an init error Lambda shows the invoker."""
    real_api = (environ.get("AWS_LAMBDA_RUNTIME_API") or "").removeprefix("http://")
    if not real_api:
        log.error("invalid configuration: %s", exc)
        return 1
    try:
        extension.identifier(environ, real_api)
    except LwaError as reg:
        log.error("Extension registration failed - terminating process: %s", reg)
    return _init_fail(real_api, "Runtime.InvalidConfiguration", f"invalid configuration: {exc}")


def _snapstart(config: Config, holder: AppHolder, stop: StopFlag, serving: Serving, outcome: list) -> None:
    """Thread body: the SnapStart lifecycle, then the slots; a failure or a stop ends the process."""
    from .snapstart import run_hooks  # noqa: PLC0415 - SnapStart functions only

    code = run_hooks(config, holder, config.runtime_api, stop, serving.cold.restored)
    if code is not None:
        outcome.append(code)
        stop.set()
        return
    serving.cold.mark("app healthy")
    serving.start(True)


def main(environ: Mapping[str, str]) -> int:
    started = time.monotonic()
    stop = StopFlag()
    install_signals(stop)  # first: a SIGTERM during start-up must still end in a clean exit
    logs.setup(environ)
    try:
        config = load_config(environ)
    except ConfigError as exc:
        return _config_failed(environ, exc)
    for warning in config.warnings + _port_warnings(config, environ):
        log.warning("%s", warning)
    if not config.runtime_api_set:
        log.info(
            "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda, nothing to do. "
            "To debug locally, run `python -m lwa serve` or `python -m lwa invoke EVENT.json` (see --help)."
        )
        return 0

    try:
        ident = extension.identifier(environ, config.extension_api)
    except LwaError as exc:
        log.error("Extension registration failed - terminating process: %s", exc)
        return 1
    cold = ColdStart(started)
    cold.mark("lwa ready")
    sys.setswitchinterval(STARTUP_SWITCH_INTERVAL_S)  # back to the default at the first answer
    holder = AppHolder(config)
    shutdown_info: dict = {}
    threading.Thread(
        target=extension.watch, args=(config.extension_api, ident, stop, shutdown_info), name="lwa-extension",
        daemon=True,
    ).start()
    log.info(
        "lwa ready to wait for the app: %s (%s), invoke mode %s, %d slot(s)",
        config.readiness_target, config.readiness_protocol, config.invoke_mode, config.concurrency,
    )
    serving = Serving(config, holder, stop, cold)
    serving.prepare()

    budget = ASYNC_INIT_BUDGET_S if config.async_init else config.readiness_timeout_s
    ready, last = readiness.wait_ready(config, stop, budget, started)
    if stop.is_set():
        return 0
    if not ready and not config.async_init:
        message = readiness.not_ready_message(config, time.monotonic() - started, last)
        return _init_fail(config.runtime_api, "Runtime.AppNotReady", message)
    if ready:
        cold.mark("app healthy")
    else:
        log.info("app not ready after %.1fs: ending Init, the first invocation finishes the wait", budget)

    outcome: list[int] = []
    if config.snapstart:
        threading.Thread(
            target=_snapstart, args=(config, holder, stop, serving, outcome), name="lwa-snapstart", daemon=True
        ).start()
    else:
        serving.start(ready)

    stop.wait()
    if outcome:
        return outcome[0]
    deadline_ms = shutdown_info.get("deadlineMs")
    budget_s = SHUTDOWN_BUDGET_S
    if isinstance(deadline_ms, (int, float)):
        budget_s = max(0.0, min(budget_s, deadline_ms / 1000.0 - time.time() - 0.2))
    shared = serving.shared
    if shared is not None and not shared.drain(time.monotonic() + budget_s):
        log.warning("shutting down with %d invocation(s) still in flight", shared.in_flight)
    if holder.app is not None:
        holder.app.close()
    log.info("lwa stopped")
    return 0
