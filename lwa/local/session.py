"""What `invoke` and `serve` share: the one Config of a local run, the App behind it, the
invocations they hand to `loop.handle`, and a response stream taken apart again."""

from __future__ import annotations

import base64
import os
import sys
import time
from typing import TYPE_CHECKING, Iterable, Mapping

from .. import logs, loop
from ..config import load_config
from ..errors import ConfigError
from ..logs import log
from ..model import Invocation
from ..preload import AppHolder
from ..runtime import ERROR_BODY_TRAILER
from ..streaming import SEPARATOR
from .frontdoor import ACCOUNT_ID

if TYPE_CHECKING:
    from ..config import Config


def load(environ: Mapping[str, str], stream: bool) -> Config | None:
    """Logging to stderr (stdout carries the result), then the one Config; None when unusable."""
    env = dict(environ)
    if stream:
        env["AWS_LWA_INVOKE_MODE"] = "response_stream"
    # What the Runtime Interface Emulator reports, so the app's x-amzn-lambda-context looks real.
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "lwa-local")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    logs.setup(env, stream=sys.stderr)
    try:
        config = load_config(env)
    except ConfigError as exc:
        log.error("invalid configuration: %s", exc)
        return None
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


class Session:
    """The daemon's own App holder (urllib3 imported on a background thread) and the `Slots`
    that `loop.handle` takes; `close()` closes the App's pool if it was ever built."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.holder = AppHolder(config)
        self.slots = loop.Slots(config, self.holder.get, None)

    def close(self) -> None:
        if self.holder.app is not None:
            self.holder.app.close()


def invocation(body: bytes, request_id: str, timeout_s: float, config: Config, tenant_id: str | None = None
               ) -> Invocation:
    """An invocation as the Runtime Interface Emulator would hand it over, due in `timeout_s`."""
    now = time.time()
    return Invocation(
        request_id=request_id,
        deadline_ms=int((now + timeout_s) * 1000),
        body=body,
        function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{config.function_name}",
        trace_id=f"Root=1-{int(now):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0",
        tenant_id=tenant_id or None,
    )


def new_id() -> str:
    import uuid  # noqa: PLC0415 - local modes only

    return str(uuid.uuid4())


def stream_error(trailers: Iterable[tuple[str, str]]) -> str:
    """The error JSON carried, base64, in the Lambda-Runtime-Function-Error-Body trailer."""
    for name, value in trailers:
        if name == ERROR_BODY_TRAILER:
            return base64.b64decode(value).decode("utf-8", "replace")
    return "{}"


class StreamReplay:
    """A Lambda response stream taken apart again: `on_prelude(bytes)` once the 8-NUL separator
    has arrived (docs/behaviour.md §7.1), then `on_body(bytes)` for each piece as it comes."""

    pending: bytes | None = b""  # prelude bytes until the separator; None once handed on

    def write(self, data: bytes) -> None:
        if self.pending is not None:
            self.pending += data
            head, sep, data = self.pending.partition(SEPARATOR)
            if not sep:
                return
            self.pending = None
            self.on_prelude(head)
        if data:
            self.on_body(data)

    def on_prelude(self, head: bytes) -> None:
        raise NotImplementedError

    def on_body(self, data: bytes) -> None:
        raise NotImplementedError
