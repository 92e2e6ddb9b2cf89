"""SnapStart bridge: carry the snapshot lifecycle to the app, with no pooled connection ever
crossing a snapshot (upstream 1.1). Order: before-checkpoint hook → drop the pool →
`restore/next` (blocks across the snapshot) → fresh pool → after-restore hook → readiness.

It runs on a thread of its own (daemon.py): the main thread only waits for the stop flag, so a
SIGTERM ends the process even while `restore/next` blocks."""

from __future__ import annotations

import time

from . import readiness
from .errors import InvocationError, LwaError
from .logs import log
from .model import AppRequest
from .runtime import RuntimeClient

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from .app import App
    from .config import Config
    from .preload import AppHolder
    from .signals import StopFlag


def call_hook(app: App, path: str, timeout_s: float) -> str | None:
    """POST `path` on the app, bounded; None on a 2xx answer, else what went wrong."""
    req = AppRequest(method="POST", target=path, headers=(("content-type", "application/json"),), body=b"")
    try:
        resp = app.send(req, time.monotonic() + timeout_s)
    except InvocationError as exc:
        return f"{exc.error_type}: {exc}"
    if not 200 <= resp.status < 300:
        return f"status {resp.status}: {resp.body[:200].decode('utf-8', 'replace')}"
    return None


def _failed_hook(app: App, config: Config, path: str, which: str) -> str | None:
    """Call one hook when its path is set; the logged error message when it failed."""
    problem = call_hook(app, path, config.snapstart_hook_timeout_s) if path else None
    if not problem:
        return None
    message = f"SnapStart {which} hook POST {path} failed: {problem}"
    log.error("%s", message)
    return message


def run_hooks(
    config: Config, holder: AppHolder, runtime_api: str, stop: StopFlag, on_restore: Callable[[], None] | None = None,
) -> int | None:
    """Run the lifecycle; an exit code when it failed (after posting the error) or `stop` was set
    (0), else None: the app is ready to serve."""
    runtime = RuntimeClient(runtime_api)
    try:
        app = holder.get()
    except LwaError as exc:
        runtime.post_init_error("Runtime.SnapStartError", str(exc))
        return 1
    message = _failed_hook(app, config, config.snapstart_before_checkpoint_path, "before-checkpoint")
    if message:
        runtime.post_init_error("Runtime.BeforeCheckpointHookError", message)
        return 1
    app.drop_connections()
    log.info("waiting for the snapshot to be restored")
    try:
        runtime.restore_next()
    except (LwaError, OSError) as exc:
        log.error("restore/next failed: %s", exc)
        return 1
    started = time.monotonic()
    if on_restore is not None:
        on_restore()
    app.drop_connections()
    message = _failed_hook(app, config, config.snapstart_after_restore_path, "after-restore")
    if message:
        runtime.post_restore_error("Runtime.AfterRestoreHookError", message)
        return 1
    ready, last = readiness.wait_ready(config, stop, config.readiness_timeout_s, started)
    if stop.is_set():
        return 0
    if not ready:
        message = readiness.not_ready_message(config, time.monotonic() - started, last)
        log.error("after restore: %s", message)
        runtime.post_restore_error("Runtime.AppNotReadyAfterRestore", message)
        return 1
    runtime.close()
    return None
