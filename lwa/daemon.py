"""Start-up order and shutdown: config, logs, extension, readiness (or async init), SnapStart,
N slot threads, signals, drain, exit code.

urllib3 is imported on a background thread started right after registration, so its ~150 ms
hide behind the app's own boot; registration and readiness use plain sockets (STYLE: start-up cost).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Mapping

from . import extension, logs, readiness
from .config import ASYNC_INIT_BUDGET_S, Config, load_config
from .errors import AppConnectionError, ConfigError, LwaError
from .logs import log
from .runtime import RuntimeClient
from .signals import StopFlag
from .signals import install as install_signals

SHUTDOWN_BUDGET_S = 1.8  # SIGTERM without a SHUTDOWN event: Lambda allows about 2 s


# Hidden while lwa.app imports urllib3 (and http.client), which load them only for TLS: lwa talks
# plain HTTP to the app (SPEC §5.8). Saves ~5 MB of RSS (libssl, libcrypto) and part of the import.
_TLS_MODULES = ("ssl", "_hashlib")


def _import_app():
    """`lwa.app.App`, imported without TLS support. In the daemon only (its own process): the main
    thread imports neither module meanwhile (tests/unit/test_imports.py), and no code of this
    process hashes or speaks TLS later (hashlib keeps its built-in, non-OpenSSL constructors)."""
    import sys  # noqa: PLC0415

    hidden = [name for name in _TLS_MODULES if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))
    try:
        from .app import App  # noqa: PLC0415 - the heavy import, off the start-up path
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return App


class _AppHolder:
    """The shared App, built on a background thread; slots wait for it at their first event."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ready = threading.Event()
        self.app = None
        self.error: BaseException | None = None
        threading.Thread(target=self._build, name="lwa-import", daemon=True).start()

    def _build(self) -> None:
        try:
            self.app = _import_app()(self.config)
        except BaseException as exc:  # reported to every invocation by get()
            self.error = exc
        finally:
            self.ready.set()

    def get(self):
        self.ready.wait()
        if self.app is None:
            raise LwaError(f"cannot load the HTTP client: {self.error}")
        return self.app


def _async_gate(config: Config, ready_at_init: bool):
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
    """Ports known to be taken by someone else in Lambda (USERS.md §1.4): a readiness check could
    even pass against that other listener, so say it before anything goes wrong."""
    out = []
    if config.port == 9001 or config.readiness_port == 9001:
        out.append("port 9001 is the Lambda Runtime API's: set AWS_LWA_PORT to another port for the app")
    if config.port == 8080 and environ.get("AWS_SAM_LOCAL") == "true":
        out.append("sam local uses port 8080 itself: set AWS_LWA_PORT (and your app's port) to another one")
    if config.port == 3000:
        try:
            others = [name for name in os.listdir("/opt/extensions") if name != "lambda-adapter"]
        except OSError:
            others = []
        if others:
            out.append(
                f"port 3000 is also used by some extensions (e.g. Lambda Insights); other extensions here: "
                f"{', '.join(sorted(others))}. If readiness passes but requests fail, move the app's port"
            )
    return tuple(out)


def main(environ: Mapping[str, str]) -> int:
    started = time.monotonic()
    stop = StopFlag()
    install_signals(stop)  # first: a SIGTERM during start-up must still end in a clean exit
    logs.setup(environ)
    try:
        config = load_config(environ)
    except ConfigError as exc:
        # Unusable configuration: say so once, as an init error Lambda shows the invoker.
        real_api = (environ.get("AWS_LAMBDA_RUNTIME_API") or "").removeprefix("http://")
        if not real_api:
            log.error("invalid configuration: %s", exc)
            return 1
        try:
            extension.register(real_api)
        except LwaError as reg:
            log.error("Extension registration failed - terminating process: %s", reg)
        return _init_fail(real_api, "Runtime.InvalidConfiguration", f"invalid configuration: {exc}")
    for warning in config.warnings + _port_warnings(config, environ):
        log.warning("%s", warning)
    if not config.runtime_api_set:
        log.info(
            "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda, nothing to do. "
            "To debug locally, run `python -m lwa serve` or `python -m lwa invoke EVENT.json` (see --help)."
        )
        return 0

    shutdown_info: dict = {}

    try:
        ident = extension.register(config.extension_api)
    except LwaError as exc:
        log.error("Extension registration failed - terminating process: %s", exc)
        return 1
    # Only now: Lambda starts the app once every extension has registered (SPEC §2.2), so the
    # import hides behind the app's boot; started earlier, it slows the registration (GIL).
    holder = _AppHolder(config)
    threading.Thread(
        target=extension.watch, args=(config.extension_api, ident, stop, shutdown_info), name="lwa-extension",
        daemon=True,
    ).start()
    log.info(
        "lwa ready to wait for the app: %s (%s), invoke mode %s, %d slot(s)",
        config.readiness_url if config.readiness_protocol == "http" else f"tcp://{config.app_netloc}",
        config.readiness_protocol, config.invoke_mode, config.concurrency,
    )

    budget = ASYNC_INIT_BUDGET_S if config.async_init else config.readiness_timeout_s
    ready, last = readiness.wait_ready(config, stop, budget, started)
    if stop.is_set():
        return 0
    if not ready and not config.async_init:
        message = readiness.not_ready_message(config, time.monotonic() - started, last)
        return _init_fail(config.runtime_api, "Runtime.AppNotReady", message)
    if not ready:
        log.info("app not ready after %.1fs: ending Init, the first invocation finishes the wait", budget)

    if config.snapstart:
        from .snapstart import run_hooks  # noqa: PLC0415 - SnapStart functions only

        failed = run_hooks(config, holder, config.runtime_api)
        if failed is not None:
            return failed

    from .loop import Slots, run_slot  # noqa: PLC0415 - after readiness: keeps the wait lean

    shared = Slots(config, holder.get, _async_gate(config, ready), stop)
    for n in range(config.concurrency):
        threading.Thread(
            target=run_slot, args=(shared, RuntimeClient(config.runtime_api)), name=f"lwa-slot-{n}", daemon=True
        ).start()

    stop.wait()
    deadline_ms = shutdown_info.get("deadlineMs")
    budget_s = SHUTDOWN_BUDGET_S
    if isinstance(deadline_ms, (int, float)):
        budget_s = max(0.0, min(budget_s, deadline_ms / 1000.0 - time.time() - 0.2))
    drained = shared.drain(time.monotonic() + budget_s)
    if not drained:
        log.warning("shutting down with %d invocation(s) still in flight", shared.in_flight)
    if holder.app is not None:
        holder.app.close()
    log.info("lwa stopped")
    return 0
