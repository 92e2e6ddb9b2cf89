"""Header rules every source shares: cleaning event headers, the injected context headers,
the authorization-source rename, and shaping the app's headers for Lambda. No I/O."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import InvalidEventError
from ..jsontext import compact
from ..logs import log
from .body import FORCE_TEXT

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Invocation


REQUEST_CONTEXT = "x-amzn-request-context"
LAMBDA_CONTEXT = "x-amzn-lambda-context"
TENANT_ID = "x-amz-tenant-id"
TRACE_ID = "x-amzn-trace-id"
INJECTED = frozenset((REQUEST_CONTEXT, LAMBDA_CONTEXT, TENANT_ID, TRACE_ID))
# Hop-by-hop and framing headers: never forwarded from an event, lwa frames the body itself (docs/behaviour.md §9.22).
REQUEST_DROP = frozenset(
    ("connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
     "proxy-connection", "expect")
)
RESPONSE_DROP = frozenset(("connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                           "proxy-connection"))
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # use fullmatch: `$` also matches before a final "\n"
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_NOT_FORWARDED = REQUEST_DROP | INJECTED


def _check_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidEventError(f"{where} must be a string, got {type(value).__name__}")
    return value


def _map(event: dict, key: str) -> dict | None:
    raw = event.get(key)
    if raw is not None and not isinstance(raw, dict):
        raise InvalidEventError(f"{key} must be an object or null")
    return raw


def single_map(event: dict, key: str) -> list[tuple[str, str]]:
    """`headers`-style map → pairs; null or missing is empty, wrong types fail the event."""
    raw = _map(event, key)
    if not raw:
        return []
    pairs = [(k, v) for k, v in raw.items() if v is not None]
    for k, v in pairs:  # the messages are built only on failure: this runs for every header
        if not (isinstance(k, str) and isinstance(v, str)):
            _check_str(k, key)
            _check_str(v, f"{key}.{k}")
    return pairs


def multi_map(event: dict, key: str) -> list[tuple[str, str]]:
    """`multiValueHeaders`-style map → pairs, every value in order."""
    raw = _map(event, key)
    if not raw:
        return []
    pairs = []
    for name, values in raw.items():
        if values is None:
            continue
        if not isinstance(values, list):
            raise InvalidEventError(f"{key}.{name} must be a list of strings")
        for v in values:
            if not isinstance(v, str):
                _check_str(v, f"{key}.{name}")
            pairs.append((name, v))
    return pairs


def merge_v1(event: dict) -> list[tuple[str, str]]:
    """v1/ALB: multiValueHeaders win with every value; `headers` only for names absent there
    (docs/behaviour.md, decision "request headers")."""
    multi = multi_map(event, "multiValueHeaders")
    seen = {name.lower() for name, _ in multi}
    return multi + [(n, v) for n, v in single_map(event, "headers") if n.lower() not in seen]


@lru_cache(maxsize=512)
def _wire_name(name: str) -> str | None:
    """The lowercase name if `name` is a legal header token, else None; cached, since the same
    few dozen names recur in every event."""
    return name.lower() if _TOKEN.fullmatch(name) else None


def clean(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Lowercase names; drop hop-by-hop, framing and injected names, unsafe names/values, extra
    Hosts; several Cookie headers (v1/ALB multiValueHeaders) become one."""
    out: list[tuple[str, str]] = []
    has_host = False
    cookie_at: int | None = None
    for name, value in pairs:
        lname = _wire_name(name)
        if lname in _NOT_FORWARDED:
            continue
        if lname is None or "\r" in value or "\n" in value or "\x00" in value:
            log.warning("dropping header %r from the event: invalid name or CR/LF/NUL in its value", name[:64])
            continue
        if lname == "host":
            if has_host:
                log.warning("dropping a repeated Host header from the event")
                continue
            has_host = True
        elif lname == "cookie":
            # One Cookie header, values joined with "; " (RFC 6265 §5.4): servers join repeated
            # lines with a comma, and then every cookie after the first is lost.
            if cookie_at is not None:
                joined, more = out[cookie_at][1].rstrip("; \t"), value.strip(" \t")
                out[cookie_at] = ("cookie", f"{joined}; {more}" if joined else more)
                continue
            cookie_at = len(out)
        out.append((lname, value.strip(" \t")))
    return out


def _compact(value: Any) -> str:
    # Compact, non-ASCII unescaped (upstream shape); DEL escaped so the value stays a legal header.
    return compact(value).replace("\x7f", "\\u007f")


def _json_object(raw: str | None, header: str) -> dict | None:
    """A context header's JSON object; anything else is ignored with a warning (docs/behaviour.md,
    decision "Runtime API"): the request is still served."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except RecursionError:
        log.warning("ignoring %s: nested too deeply", header)
        return None
    except ValueError as exc:
        log.warning("ignoring invalid %s (%s)", header, exc)
        return None
    if not isinstance(value, dict):
        log.warning("ignoring invalid %s (not an object)", header)
        return None
    return value


def _client_context(raw: str | None) -> Any:
    value = _json_object(raw, "Lambda-Runtime-Client-Context")
    if value is None:
        return None
    client = value.get("client") or {}
    custom = value.get("custom") or {}
    env = value.get("environment") or value.get("env") or {}
    if not all(isinstance(x, dict) for x in (client, custom, env)):
        log.warning("ignoring invalid Lambda-Runtime-Client-Context (client, custom and environment must be objects)")
        return None
    return {
        "client": {
            "installationId": client.get("installationId", client.get("installation_id", "")),
            "appTitle": client.get("appTitle", client.get("app_title", "")),
            "appVersionName": client.get("appVersionName", client.get("app_version_name", "")),
            "appVersionCode": client.get("appVersionCode", client.get("app_version_code", "")),
            "appPackageName": client.get("appPackageName", client.get("app_package_name", "")),
        },
        "custom": custom,
        "environment": env,
    }


def _identity(raw: str | None) -> Any:
    value = _json_object(raw, "Lambda-Runtime-Cognito-Identity")
    if value is None:
        return None
    ident = value.get("cognitoIdentityId", value.get("identityId", value.get("identity_id")))
    pool = value.get("cognitoIdentityPoolId", value.get("identityPoolId", value.get("identity_pool_id")))
    return {"identityId": ident, "identityPoolId": pool}


def lambda_context(inv: Invocation, config: Config) -> str:
    """The `x-amzn-lambda-context` JSON, keys in upstream's order (docs/behaviour.md §3.3)."""
    context = {
        "request_id": inv.request_id,
        "deadline": inv.deadline_ms,
        "invoked_function_arn": inv.function_arn or "No header lambda-runtime-invoked-function-arn found.",
        "xray_trace_id": inv.trace_id,
        "client_context": _client_context(inv.client_context),
        "identity": _identity(inv.cognito_identity),
        "tenant_id": inv.tenant_id,
        "env_config": {
            "function_name": config.function_name,
            "memory": config.function_memory,
            "version": config.function_version,
            "log_stream": config.log_stream,
            "log_group": config.log_group,
        },
    }
    try:
        return _compact(context)
    except RecursionError:  # parsed, but too deep to write back: the request is still served
        log.warning("Client-Context or Cognito identity nested too deeply; sending null for it")
        context["client_context"] = context["identity"] = None
        return _compact(context)


def inject(
    headers: list[tuple[str, str]], inv: Invocation, config: Config, request_context: Any = None, *, http: bool = True
) -> tuple[tuple[str, str], ...]:
    """Add the context headers from the invocation only, then rename the authorization source.

    `headers` must come from `clean`, which already removed every client-sent copy
    (docs/behaviour.md, decision "injected headers")."""
    if http:
        headers.append((REQUEST_CONTEXT, _compact(request_context)))
    headers.append((LAMBDA_CONTEXT, lambda_context(inv, config)))
    if inv.tenant_id:
        if _BAD_VALUE.search(inv.tenant_id):
            log.warning("tenant_id contains invalid header characters, skipping")
        else:
            headers.append((TENANT_ID, inv.tenant_id))
    if inv.trace_id and not _BAD_VALUE.search(inv.trace_id):
        headers.append((TRACE_ID, inv.trace_id))
    source = config.authorization_source
    if source:
        values = [v for n, v in headers if n == source]
        if values:
            headers = [(n, v) for n, v in headers if n not in (source, "authorization")]
            headers.append(("authorization", values[0]))
        else:
            log.warning('"%s" header not found in request headers', source)
    return tuple(headers)


def response_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The app's headers as Lambda gets them: lowercase, hop-by-hop and lwa's own
    `x-lambda-http-content-encoding` removed."""
    return [(n, v) for n, v in pairs if n not in RESPONSE_DROP and n != FORCE_TEXT]


def grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out
