"""`python -m lwa invoke EVENT.json`: one event through `loop.handle`, the Lambda result on stdout.

A stand-in for the Runtime API takes the one outcome `loop.handle` posts and prints it."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, BinaryIO, Iterable, Mapping

from .. import loop
from ..runtime import error_body
from ..streaming import SEPARATOR
from . import session

if TYPE_CHECKING:
    import argparse


class PrintOutcome:
    """Stands in for the Runtime API: prints what `loop.handle` posts for the one invocation."""

    def __init__(self, out: BinaryIO, pretty: bool) -> None:
        self.out = out
        self.pretty = pretty
        self.posted = False
        self.failed = False

    def _emit(self, data: bytes) -> None:
        if self.pretty:
            try:
                data = json.dumps(json.loads(data), indent=2, ensure_ascii=False).encode("utf-8", "surrogatepass")
            except ValueError:
                pass
        self.out.write(data)
        if self.pretty or self.out.isatty():
            self.out.write(b"\n")
        self.out.flush()

    def post_response(self, request_id: str, payload: bytes) -> None:
        self.posted = True
        self._emit(payload)

    def post_error(self, request_id: str, error_type: str, message: str) -> None:
        self.posted = self.failed = True
        self._emit(error_body(error_type, message))

    def open_stream(self, request_id: str) -> PrintStream:
        self.posted = True
        return PrintStream(self)

    def close(self) -> None:
        """The stream broke on our side (stdout closed): nothing left to report to."""


class PrintStream(session.StreamReplay):
    """Raw: the exact streamed bytes (prelude, 8 NULs, body); pretty: the prelude indented, then the body."""

    def __init__(self, outcome: PrintOutcome) -> None:
        self.outcome = outcome
        self.pretty = outcome.pretty

    def on_prelude(self, head: bytes) -> None:
        if self.pretty:
            self.outcome.out.write(json.dumps(json.loads(head), indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
        else:
            self.outcome.out.write(head + SEPARATOR)
        self.outcome.out.flush()

    def on_body(self, data: bytes) -> None:
        self.outcome.out.write(data)
        self.outcome.out.flush()

    def finish(self, trailers: Iterable[tuple[str, str]] = ()) -> None:
        if trailers:
            self.outcome.failed = True
            sys.stderr.write(f"lwa invoke: the stream failed after it started: {session.stream_error(trailers)}\n")


def run(opts: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Exit code: 0 answered, 1 the invocation failed, 2 unusable configuration or event file."""
    config = session.load(environ, opts.stream)
    if config is None:
        return 2
    try:
        if opts.event == "-":
            body = sys.stdin.buffer.read()
        else:
            with open(opts.event, "rb") as f:
                body = f.read()
    except OSError as exc:
        sys.stderr.write(f"lwa invoke: cannot read {opts.event}: {exc.strerror or exc}\n")
        return 2
    local = session.Session(config)
    outcome = PrintOutcome(sys.stdout.buffer, opts.pretty)
    inv = session.invocation(body, opts.request_id or session.new_id(), opts.timeout, config, opts.tenant_id)
    try:
        loop.handle(inv, local.slots, outcome)
    except KeyboardInterrupt:
        return 130
    finally:
        local.close()
    return 1 if outcome.failed or not outcome.posted else 0
