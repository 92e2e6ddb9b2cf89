"""Configuration: every variable lwa reads, parsed once into one frozen `Config` (SPEC §1, Part A).

Nothing here reads `os.environ`: `load_config` takes the mapping it is given, so tests and the
local debugging modes build configurations without touching the process environment.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from .errors import ConfigError

DEFAULT_HEALTHY = ((100, 499),)
DEFAULT_RUNTIME_API = "127.0.0.1:9001"
ASYNC_INIT_BUDGET_S = 9.8
ASYNC_INIT_IGNORED_TYPES = ("snap-start", "provisioned-concurrency")

# (new name, deprecated name or None) for every variable with an alias (SPEC §1.2).
_DEPRECATED = {
    "AWS_LWA_HOST": "HOST",
    "AWS_LWA_READINESS_CHECK_PORT": "READINESS_CHECK_PORT",
    "AWS_LWA_READINESS_CHECK_PATH": "READINESS_CHECK_PATH",
    "AWS_LWA_READINESS_CHECK_PROTOCOL": "READINESS_CHECK_PROTOCOL",
    "AWS_LWA_REMOVE_BASE_PATH": "REMOVE_BASE_PATH",
    "AWS_LWA_ASYNC_INIT": "ASYNC_INIT",
}
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class Config(NamedTuple):
    """Everything lwa needs, resolved; `warnings` are logged once logging is up.

    Immutable (a NamedTuple rather than a frozen dataclass: importing `dataclasses` pulls in
    `inspect`, a measurable part of start-up); `config._replace(...)` derives a variant."""

    host: str = "127.0.0.1"
    port: int = 8080
    readiness_port: int = 8080
    readiness_path: str = "/"
    readiness_protocol: str = "http"  # "http" | "tcp"
    healthy_status: tuple[tuple[int, int], ...] = DEFAULT_HEALTHY
    readiness_timeout_s: float | None = None
    async_init: bool = False
    remove_base_path: str = ""
    pass_through_path: str = "/events"
    enable_compression: bool = False
    invoke_mode: str = "buffered"  # "buffered" | "response_stream"
    authorization_source: str = ""
    error_status_codes: tuple[tuple[int, int], ...] = ()
    runtime_api: str = DEFAULT_RUNTIME_API  # where /runtime/* goes (the proxy when set)
    extension_api: str = DEFAULT_RUNTIME_API  # where /extension/* goes (never the proxy)
    runtime_api_set: bool = False
    concurrency: int = 1
    initialization_type: str = "on-demand"
    function_name: str = ""
    function_memory: int = 0
    function_version: str = ""
    log_group: str = ""
    log_stream: str = ""
    deadline_margin_ms: int = 100
    snapstart_before_checkpoint_path: str = ""
    snapstart_after_restore_path: str = ""
    snapstart_hook_timeout_s: float = 60.0
    warnings: tuple[str, ...] = ()

    @property
    def app_netloc(self) -> str:
        """host:port the app listens on, bracketing IPv6 literals."""
        return _netloc(self.host, self.port)

    @property
    def readiness_url(self) -> str:
        return f"http://{_netloc(self.host, self.readiness_port)}{self.readiness_path}"

    @property
    def streaming(self) -> bool:
        return self.invoke_mode == "response_stream"

    @property
    def snapstart(self) -> bool:
        return self.initialization_type == "snap-start"


def _netloc(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{shown}:{port}"


def parse_status_list(text: str) -> tuple[tuple[tuple[int, int], ...], list[str]]:
    """Parse `500,502-504` into inclusive ranges plus warnings for parts it skipped (SPEC §1.3)."""
    ranges: list[tuple[int, int]] = []
    bad: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            pieces = part.split("-")
            if len(pieces) == 2 and all(_is_u16(p) for p in pieces):
                ranges.append((int(pieces[0]), int(pieces[1])))
            else:
                bad.append(f"Failed to parse status code range: {part}")
        elif _is_u16(part):
            ranges.append((int(part), int(part)))
        else:
            bad.append(f"Failed to parse status code: {part}")
    return tuple(ranges), bad


def _is_u16(text: str) -> bool:
    digits = text[1:] if text.startswith("+") else text
    return digits.isascii() and digits.isdigit() and int(digits) <= 65535


def status_in(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= status <= hi for lo, hi in ranges)


def format_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


class _Reader:
    """Looks variables up with SPEC §1.1 semantics: set-but-empty counts as set."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.env = environ
        self.warnings: list[str] = []

    def get(self, name: str) -> str | None:
        if name in self.env:
            return self.env[name]
        old = _DEPRECATED.get(name)
        if old is not None and old in self.env:
            self.warnings.append(
                f"Environment variable '{old}' is deprecated and will be removed in version 2.0. "
                f"Please use '{name}' instead."
            )
            return self.env[old]
        return None

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.warnings.append(f"{name}={raw!r} is not a boolean (true/false); using {str(default).lower()}")
        return default

    def port(self, name: str, raw: str | None, default: int) -> int:
        if raw is None:
            return default
        if raw == "":
            # Upstream quirk Q-4: an empty port means the scheme default.
            self.warnings.append(f"{name} is empty; using port 80 as upstream does")
            return 80
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
            raise ConfigError(name, raw, "must be a port number from 1 to 65535")
        return int(text)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in choices:
            return value
        self.warnings.append(f"{name}={raw!r} is not one of {', '.join(choices)}; using {default}")
        return default

    def status_list(self, name: str, raw: str, default: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        ranges, bad = parse_status_list(raw)
        self.warnings.extend(f"{name}: {b}" for b in bad)
        return ranges if ranges or not default else default


def _path_var(name: str, raw: str, *, allow_empty: bool = False) -> str:
    if raw == "" and allow_empty:
        return raw
    if not raw.startswith("/") or any(c in raw for c in " \r\n\t\0#"):
        raise ConfigError(name, raw, "must be a path starting with '/' without spaces or control characters")
    return raw


def _base_path(raw: str) -> str:
    """Normalise AWS_LWA_REMOVE_BASE_PATH: leading slash added, trailing slash dropped (Part A)."""
    value = raw.strip()
    if not value or value == "/":
        return ""
    if not value.startswith("/"):
        value = "/" + value
    return value.rstrip("/")


def _host(raw: str) -> str:
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() or c in "/?#@" for c in host):
        raise ConfigError("AWS_LWA_HOST", raw, "must be a host name or IP address")
    return host


def _runtime_api(value: str) -> str:
    """Accept `host:port` or `http://host:port[/base]` (SPEC §1.5); return `host:port[/base]`."""
    value = value.strip()
    if value.startswith("http://"):
        value = value[len("http://"):]
    return value.rstrip("/")


def load_config(environ: Mapping[str, str]) -> Config:
    """Build the one Config from an environment mapping; raise ConfigError for unusable values."""
    r = _Reader(environ)
    port_name = "AWS_LWA_PORT" if "AWS_LWA_PORT" in environ else "PORT"
    port = r.port(port_name, environ.get(port_name), 8080)
    host = _host(r.get("AWS_LWA_HOST") or "127.0.0.1")
    readiness_port = r.port("AWS_LWA_READINESS_CHECK_PORT", r.get("AWS_LWA_READINESS_CHECK_PORT"), port)
    readiness_path = _path_var("AWS_LWA_READINESS_CHECK_PATH", r.get("AWS_LWA_READINESS_CHECK_PATH") or "/")
    protocol = r.choice("AWS_LWA_READINESS_CHECK_PROTOCOL", ("http", "tcp"), "http")

    healthy_raw = environ.get("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS")
    min_unhealthy = environ.get("AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS")
    if healthy_raw is not None:
        healthy = r.status_list("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS", healthy_raw, ())
        if not healthy:
            r.warnings.append(
                f"AWS_LWA_READINESS_CHECK_HEALTHY_STATUS={healthy_raw!r} holds no status code; using 100-499"
            )
            healthy = DEFAULT_HEALTHY
    elif min_unhealthy is not None:
        r.warnings.append(
            "Environment variable 'AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS' is deprecated and will be "
            "removed in version 2.0. Please use 'AWS_LWA_READINESS_CHECK_HEALTHY_STATUS' instead."
        )
        limit = min_unhealthy.strip()
        if _is_u16(limit) and int(limit) > 100:
            healthy = ((100, int(limit) - 1),)
        else:
            r.warnings.append(f"AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS={min_unhealthy!r} ignored")
            healthy = DEFAULT_HEALTHY
    else:
        healthy = DEFAULT_HEALTHY

    timeout_raw = environ.get("AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS")
    readiness_timeout = None
    if timeout_raw not in (None, ""):
        try:
            readiness_timeout = float(timeout_raw)
        except ValueError:
            readiness_timeout = -1.0
        if not readiness_timeout > 0 or readiness_timeout != readiness_timeout:
            raise ConfigError("AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS", timeout_raw, "must be a number of seconds > 0")

    init_type = environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand") or "on-demand"
    async_init = r.boolean("AWS_LWA_ASYNC_INIT")
    if async_init and init_type in ASYNC_INIT_IGNORED_TYPES:
        r.warnings.append(f"AWS_LWA_ASYNC_INIT ignored under AWS_LAMBDA_INITIALIZATION_TYPE={init_type}")
        async_init = False

    invoke_mode = r.choice("AWS_LWA_INVOKE_MODE", ("buffered", "response_stream"), "buffered")
    compression = r.boolean("AWS_LWA_ENABLE_COMPRESSION")
    if compression and invoke_mode == "response_stream":
        r.warnings.append("Compression is not supported with response streaming. Disabling compression.")
        compression = False

    errors_raw = environ.get("AWS_LWA_ERROR_STATUS_CODES")
    error_codes = r.status_list("AWS_LWA_ERROR_STATUS_CODES", errors_raw, ()) if errors_raw else ()

    pass_through = _path_var("AWS_LWA_PASS_THROUGH_PATH", environ.get("AWS_LWA_PASS_THROUGH_PATH") or "/events")

    real_api = environ.get("AWS_LAMBDA_RUNTIME_API")
    proxy = environ.get("AWS_LWA_LAMBDA_RUNTIME_API_PROXY")
    extension_api = _runtime_api(real_api) if real_api else DEFAULT_RUNTIME_API
    runtime_api = _runtime_api(proxy) if proxy else extension_api
    if proxy is not None and not _runtime_api(proxy):
        raise ConfigError("AWS_LWA_LAMBDA_RUNTIME_API_PROXY", proxy, "must be host:port or http://host:port")

    concurrency_raw = (environ.get("AWS_LAMBDA_MAX_CONCURRENCY") or "").strip()
    concurrency = int(concurrency_raw) if concurrency_raw.isascii() and concurrency_raw.isdigit() else 0
    if concurrency_raw and concurrency < 1:
        r.warnings.append(f"AWS_LAMBDA_MAX_CONCURRENCY={concurrency_raw!r} is not a positive integer; using 1")
    memory_raw = (environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "0").strip()

    margin_raw = environ.get("AWS_LWA_DEADLINE_MARGIN_MS")
    margin = 100
    if margin_raw not in (None, ""):
        if not (margin_raw.strip().isascii() and margin_raw.strip().isdigit()):
            raise ConfigError("AWS_LWA_DEADLINE_MARGIN_MS", margin_raw, "must be a whole number of milliseconds")
        margin = int(margin_raw)

    hook_raw = environ.get("AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS")
    hook_timeout = 60.0
    if hook_raw not in (None, ""):
        try:
            hook_timeout = float(hook_raw)
        except ValueError:
            hook_timeout = -1.0
        if not 0 < hook_timeout <= 600:
            raise ConfigError("AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS", hook_raw, "must be seconds in (0, 600]")

    snap_before = environ.get("AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH") or ""
    snap_after = environ.get("AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH") or ""

    return Config(
        host=host,
        port=port,
        readiness_port=readiness_port,
        readiness_path=readiness_path,
        readiness_protocol=protocol,
        healthy_status=healthy,
        readiness_timeout_s=readiness_timeout,
        async_init=async_init,
        remove_base_path=_base_path(r.get("AWS_LWA_REMOVE_BASE_PATH") or ""),
        pass_through_path=pass_through,
        enable_compression=compression,
        invoke_mode=invoke_mode,
        authorization_source=(environ.get("AWS_LWA_AUTHORIZATION_SOURCE") or "").strip().lower(),
        error_status_codes=error_codes,
        runtime_api=runtime_api,
        extension_api=extension_api,
        runtime_api_set=bool(real_api or proxy),
        concurrency=max(concurrency, 1),
        initialization_type=init_type,
        function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        function_memory=int(memory_raw) if memory_raw.isascii() and memory_raw.isdigit() else 0,
        function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
        log_group=environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
        log_stream=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        deadline_margin_ms=margin,
        snapstart_before_checkpoint_path=_path_var(
            "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH", snap_before, allow_empty=True
        ),
        snapstart_after_restore_path=_path_var("AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH", snap_after, allow_empty=True),
        snapstart_hook_timeout_s=hook_timeout,
        warnings=tuple(r.warnings),
    )
