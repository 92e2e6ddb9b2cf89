"""Log output per Lambda's advanced logging controls: level and TEXT/JSON from AWS_LAMBDA_LOG_*.

The request id of the invocation a thread is serving lives in a `threading.local` set by the
loop, so concurrent slots never see each other's ids.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Mapping

current = threading.local()  # .request_id while a thread serves an invocation

_LEVELS = {
    "trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
    "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL, "off": logging.CRITICAL + 10,
}
_NAMES = {5: "TRACE", logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN",
          logging.ERROR: "ERROR", logging.CRITICAL: "FATAL"}


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
    return logging.INFO


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(current, "request_id", None)
        text = f"{_NAMES.get(record.levelno, record.levelname)} {record.getMessage()}"
        if rid:
            text += f" requestId={rid}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": _NAMES.get(record.levelno, record.levelname),
            "message": record.getMessage(),
            "logger": "lwa",
        }
        rid = getattr(current, "request_id", None)
        if rid:
            entry["requestId"] = rid
        if record.exc_info:
            entry["stackTrace"] = self.formatException(record.exc_info).splitlines()
        return json.dumps(entry, ensure_ascii=False)


def setup(environ: Mapping[str, str]) -> logging.Logger:
    """Configure the `lwa` logger once: stdout, one line (or one JSON object) per record."""
    logging.addLevelName(5, "TRACE")
    log = logging.getLogger("lwa")
    handler = logging.StreamHandler(sys.stdout)
    json_format = (environ.get("AWS_LAMBDA_LOG_FORMAT") or "").strip().lower() == "json"
    handler.setFormatter(_JsonFormatter() if json_format else _TextFormatter())
    log.handlers[:] = [handler]
    log.setLevel(level_from(environ))
    log.propagate = False
    return log
