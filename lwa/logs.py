"""Log output per Lambda's advanced logging controls: level and TEXT/JSON from AWS_LAMBDA_LOG_*.

A small logger of our own rather than the `logging` package: importing `logging` costs more than
the rest of lwa's start-up path together (bench/run.py), and lwa needs one logger, one stream
and two formats. The request id of the invocation a thread serves lives in a `threading.local`
set by the loop, so concurrent slots never see each other's ids.
"""

from __future__ import annotations

import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Callable, Mapping

current = threading.local()  # .request_id while a thread serves an invocation

TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL = 5, 10, 20, 30, 40, 50
_OFF = 60
_LEVELS = {
    "trace": TRACE, "debug": DEBUG, "info": INFO, "warn": WARNING, "warning": WARNING,
    "error": ERROR, "fatal": CRITICAL, "critical": CRITICAL, "off": _OFF,
}
_NAMES = {TRACE: "TRACE", DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARN", ERROR: "ERROR", CRITICAL: "FATAL"}


def level_from(environ: Mapping[str, str]) -> int:
    """AWS_LAMBDA_LOG_LEVEL, else the bare level in RUST_LOG (`info,hyper=debug` → info), else INFO."""
    for raw in (environ.get("AWS_LAMBDA_LOG_LEVEL"), environ.get("RUST_LOG")):
        if not raw:
            continue
        for directive in raw.split(","):
            directive = directive.strip().lower()
            if directive in _LEVELS:
                return _LEVELS[directive]
            if "=" in directive and directive.split("=", 1)[0] in ("lwa", "lambda_web_adapter"):
                level = directive.split("=", 1)[1]
                if level in _LEVELS:
                    return _LEVELS[level]
    return INFO


class Logger:
    """One line (or one JSON object) per record on one stream; `%`-style arguments as `logging`."""

    def __init__(self) -> None:
        # Until `setup`: warnings and worse to stderr, as `logging` does for an unconfigured logger.
        self.level = WARNING
        self.json: Callable[..., str] | None = None  # json.dumps in JSON format: `json` stays off TEXT's path
        self.stream: IO[str] = sys.stderr
        self._lock = threading.Lock()

    def configure(self, level: int, json_format: bool, stream: IO[str]) -> None:
        if json_format:
            import json  # noqa: PLC0415 - JSON log format only

            self.json = json.dumps
        else:
            self.json = None
        self.level, self.stream = level, stream

    def log(self, level: int, message: str, *args: object, exc_text: str | None = None) -> None:
        if level < self.level:
            return
        text = message % args if args else message
        rid = getattr(current, "request_id", None)
        name = _NAMES.get(level, str(level))
        if self.json:
            entry: dict[str, object] = {"timestamp": _timestamp(), "level": name, "message": text, "logger": "lwa"}
            if rid:
                entry["requestId"] = rid
            if exc_text:
                entry["stackTrace"] = exc_text.splitlines()
            line = self.json(entry, ensure_ascii=False)
        else:
            line = f"{name} {text}"
            if rid:
                line += f" requestId={rid}"
            if exc_text:
                line += "\n" + exc_text.rstrip("\n")
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must never fail an invocation

    def debug(self, message: str, *args: object) -> None:
        self.log(DEBUG, message, *args)

    def info(self, message: str, *args: object) -> None:
        self.log(INFO, message, *args)

    def warning(self, message: str, *args: object) -> None:
        self.log(WARNING, message, *args)

    def error(self, message: str, *args: object) -> None:
        self.log(ERROR, message, *args)

    def exception(self, message: str, *args: object) -> None:
        """ERROR with the current exception's traceback (only inside an `except` block)."""
        import traceback  # noqa: PLC0415 - only when something went wrong

        self.log(ERROR, message, *args, exc_text=traceback.format_exc())


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


log = Logger()


def setup(environ: Mapping[str, str], stream: IO[str] | None = None) -> Logger:
    """Configure the one lwa logger: stdout unless told otherwise, level and format from env."""
    json_format = (environ.get("AWS_LAMBDA_LOG_FORMAT") or "").strip().lower() == "json"
    log.configure(level_from(environ), json_format, stream or sys.stdout)
    return log
