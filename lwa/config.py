"""Configuration: every variable lwa reads, parsed once into one frozen `Config`
(docs/behaviour.md §1 and its decisions).

Nothing here reads `os.environ`: `load_config` takes the mapping it is given, so tests and the
local debugging modes build configurations without touching the process environment.
"""

from __future__ import annotations

from .errors import ConfigError
from .record import NamedTuple
from .variables import Reader, is_u16

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

DEFAULT_HEALTHY = ((100, 499),)
DEFAULT_RUNTIME_API = "127.0.0.1:9001"
ASYNC_INIT_BUDGET_S = 9.8
ASYNC_INIT_IGNORED_TYPES = ("snap-start", "provisioned-concurrency")

# Every variable lwa reads for its own behaviour, in the order README's table and `--help` list
# them (tests/unit/test_config.py keeps the three in step). Lambda's own identity variables
# (function name, memory, log group, ...) are read too but configure nothing.
VARIABLES = (
    "AWS_LWA_PORT", "AWS_LWA_HOST", "AWS_LWA_READINESS_CHECK_PORT", "AWS_LWA_READINESS_CHECK_PATH",
    "AWS_LWA_READINESS_CHECK_PROTOCOL", "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS",
    "AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS", "AWS_LWA_ASYNC_INIT", "AWS_LWA_REMOVE_BASE_PATH",
    "AWS_LWA_PASS_THROUGH_PATH", "AWS_LWA_AUTHORIZATION_SOURCE", "AWS_LWA_ERROR_STATUS_CODES",
    "AWS_LWA_INVOKE_MODE", "AWS_LWA_ENABLE_COMPRESSION", "AWS_LWA_LAMBDA_RUNTIME_API_PROXY",
    "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH", "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH",
    "AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS", "AWS_LWA_DEADLINE_MARGIN_MS", "AWS_LAMBDA_MAX_CONCURRENCY",
    "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_FORMAT",
)


class Config(NamedTuple):
    """Everything lwa needs, resolved and immutable; `config._replace(...)` derives a variant.
    A NamedTuple (no dataclass: `dataclasses` imports `inspect`), built without `typing`."""

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
    warnings: tuple[str, ...] = ()  # logged once logging is up

    @property
    def app_netloc(self) -> str:
        """host:port the app listens on, bracketing IPv6 literals."""
        return _netloc(self.host, self.port)

    @property
    def readiness_netloc(self) -> str:
        return _netloc(self.host, self.readiness_port)

    @property
    def readiness_target(self) -> str:
        """What the readiness check asks, as logs show it: `http://host:port/path` or `tcp://host:port`."""
        if self.readiness_protocol == "tcp":
            return f"tcp://{self.readiness_netloc}"
        return f"http://{self.readiness_netloc}{self.readiness_path}"

    @property
    def streaming(self) -> bool:
        return self.invoke_mode == "response_stream"

    @property
    def snapstart(self) -> bool:
        return self.initialization_type == "snap-start"


def _netloc(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{shown}:{port}"


def _base_path(raw: str) -> str:
    """Normalise AWS_LWA_REMOVE_BASE_PATH: leading slash added, trailing slash dropped (docs/behaviour.md,
    decision "base path")."""
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


def _runtime_api(name: str, value: str | None) -> str | None:
    """Accept `host:port` or `http://host:port[/base]` (docs/behaviour.md §1.5); return
    `host:port[/base]`, or None when unset."""
    if value is None:
        return None
    address = value.strip().removeprefix("http://").rstrip("/")
    if not address:
        raise ConfigError(name, value, "must be host:port or http://host:port")
    return address


def _healthy_status(r: Reader) -> tuple[tuple[int, int], ...]:
    """AWS_LWA_READINESS_CHECK_HEALTHY_STATUS, else the deprecated minimum-unhealthy form."""
    old = "AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS"
    if "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS" in r.env or old not in r.env:
        return r.status_list("AWS_LWA_READINESS_CHECK_HEALTHY_STATUS", DEFAULT_HEALTHY)
    r.warnings.append(
        f"Environment variable '{old}' is deprecated and will be removed in version 2.0. "
        "Please use 'AWS_LWA_READINESS_CHECK_HEALTHY_STATUS' instead."
    )
    limit = r.env[old].strip()
    if is_u16(limit) and int(limit) > 100:
        return ((100, int(limit) - 1),)
    r.warnings.append(f"{old}={r.env[old]!r} ignored")
    return DEFAULT_HEALTHY


def _async_init(r: Reader, init_type: str) -> bool:
    wanted = r.boolean("AWS_LWA_ASYNC_INIT")
    if wanted and init_type in ASYNC_INIT_IGNORED_TYPES:
        r.warnings.append(f"AWS_LWA_ASYNC_INIT ignored under AWS_LAMBDA_INITIALIZATION_TYPE={init_type}")
        return False
    return wanted


def _compression(r: Reader, invoke_mode: str) -> bool:
    wanted = r.boolean("AWS_LWA_ENABLE_COMPRESSION")
    if wanted and invoke_mode == "response_stream":
        r.warnings.append("Compression is not supported with response streaming. Disabling compression.")
        return False
    return wanted


def load_config(environ: Mapping[str, str]) -> Config:
    """Build the one Config from an environment mapping; raise ConfigError for unusable values."""
    r = Reader(environ)
    port = r.port("AWS_LWA_PORT", 8080, fallback="PORT")
    init_type = r.text("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    invoke_mode = r.choice("AWS_LWA_INVOKE_MODE", ("buffered", "response_stream"), "buffered")
    real_api = _runtime_api("AWS_LAMBDA_RUNTIME_API", environ.get("AWS_LAMBDA_RUNTIME_API") or None)
    proxy = _runtime_api("AWS_LWA_LAMBDA_RUNTIME_API_PROXY", environ.get("AWS_LWA_LAMBDA_RUNTIME_API_PROXY"))
    config = Config(
        host=_host(r.text("AWS_LWA_HOST", "127.0.0.1")),
        port=port,
        readiness_port=r.port("AWS_LWA_READINESS_CHECK_PORT", port),
        readiness_path=r.path("AWS_LWA_READINESS_CHECK_PATH", "/"),
        readiness_protocol=r.choice("AWS_LWA_READINESS_CHECK_PROTOCOL", ("http", "tcp"), "http"),
        healthy_status=_healthy_status(r),
        readiness_timeout_s=r.seconds("AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS", 0.0) or None,  # unset: unbounded
        async_init=_async_init(r, init_type),
        remove_base_path=_base_path(r.text("AWS_LWA_REMOVE_BASE_PATH")),
        pass_through_path=r.path("AWS_LWA_PASS_THROUGH_PATH", "/events"),
        enable_compression=_compression(r, invoke_mode),
        invoke_mode=invoke_mode,
        authorization_source=r.text("AWS_LWA_AUTHORIZATION_SOURCE").strip().lower(),
        error_status_codes=r.status_list("AWS_LWA_ERROR_STATUS_CODES"),
        runtime_api=proxy or real_api or DEFAULT_RUNTIME_API,
        extension_api=real_api or DEFAULT_RUNTIME_API,
        runtime_api_set=bool(real_api or proxy),
        concurrency=r.count("AWS_LAMBDA_MAX_CONCURRENCY", 1, least=1),
        initialization_type=init_type,
        function_name=r.text("AWS_LAMBDA_FUNCTION_NAME"),
        function_memory=r.count("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0),
        function_version=r.text("AWS_LAMBDA_FUNCTION_VERSION"),
        log_group=r.text("AWS_LAMBDA_LOG_GROUP_NAME"),
        log_stream=r.text("AWS_LAMBDA_LOG_STREAM_NAME"),
        deadline_margin_ms=r.count("AWS_LWA_DEADLINE_MARGIN_MS", 100, strict=True),
        snapstart_before_checkpoint_path=r.path("AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH", ""),
        snapstart_after_restore_path=r.path("AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH", ""),
        snapstart_hook_timeout_s=r.seconds("AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS", 60.0, maximum=600.0),
    )
    return config._replace(warnings=tuple(r.warnings))
