"""The front doors of `python -m lwa serve`, as pure functions: a plain HTTP request → the event
API Gateway (REST v1, HTTP API v2) or an ALB would send, a buffered Lambda result → the HTTP
answer the front door gives its client, and which Host names serve answers at all. No I/O."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import unquote

from ..sources.body import is_text_type

ACCOUNT_ID = "123456789012"
ALB_TARGET_GROUP = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT_ID}:targetgroup/lwa-local/0123456789abcdef"
# Hop-by-hop headers a front door consumes; they never reach the event.
_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                  "expect"))


def _query_items(query: str, decode: bool) -> list[tuple[str, str]]:
    items = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            items.append((unquote(key), unquote(value)) if decode else (key, value))
    return items


def _grouped(items: list[tuple[str, str]], lower: bool = False) -> dict[str, list[str]]:
    """Values per name in arrival order; names grouped case-insensitively (first spelling kept)."""
    spelling: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for name, value in items:
        key = spelling.setdefault(name.lower(), name.lower() if lower else name)
        out.setdefault(key, []).append(value)
    return out


def _event_body(data: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """Text when textual by type and strict UTF-8 (docs/behaviour.md §6.3, as the front doors do), else base64."""
    if not data:
        return None, False
    if is_text_type(content_type):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), True


def build_event(source: str, method: str, target: str, header_pairs: list[tuple[str, str]], body: bytes,
                client_ip: str, server_port: int, request_id: str, *, alb_multi_value: bool = False,
                now: float | None = None) -> dict[str, Any]:
    """The event `source` ("v2", "v1", "alb") would send for this request, shaped like the real
    payloads those front doors send: v2 query values decoded and comma-joined with `cookies[]` split
    from Cookie; v1 both header and query maps, decoded; ALB query kept encoded, one header mode."""
    now = time.time() if now is None else now
    if target.startswith(("http://", "https://")):  # absolute-form (a proxy-style client)
        target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
    path, _, query = target.partition("?")
    path = path or "/"
    pairs = [(n, v) for n, v in header_pairs if n.lower() not in _HOP]
    present = {n.lower() for n, _ in pairs}
    for name, value in (("x-forwarded-for", client_ip), ("x-forwarded-port", str(server_port)),
                        ("x-forwarded-proto", "http")):
        if name not in present:
            pairs.append((name, value))
    lower = {n.lower(): v for n, v in pairs}
    text, is_b64 = _event_body(body, lower.get("content-type"))
    host = lower.get("host", "localhost")
    host = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.split(":")[0]
    epoch_ms = int(now * 1000)
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
    user_agent = lower.get("user-agent", "")

    if source == "v2":
        cookies = [c.strip() for n, v in pairs if n.lower() == "cookie" for c in v.split(";") if c.strip()]
        headers = {n: ",".join(vs) for n, vs in _grouped([p for p in pairs if p[0].lower() != "cookie"], True).items()}
        query_map = {k: ",".join(vs) for k, vs in _grouped(_query_items(query, True)).items()}
        event: dict[str, Any] = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query}
        if cookies:
            event["cookies"] = cookies
        event["headers"] = headers
        if query_map:
            event["queryStringParameters"] = query_map
        event["requestContext"] = {
            "accountId": ACCOUNT_ID, "apiId": "lwa-local", "domainName": host, "domainPrefix": host.split(".")[0],
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": client_ip,
                     "userAgent": user_agent},
            "requestId": request_id, "routeKey": "$default", "stage": "$default", "time": stamp,
            "timeEpoch": epoch_ms,
        }
        if text is not None:
            event["body"] = text
        event["isBase64Encoded"] = is_b64
        return event

    if source == "v1":
        multi_headers = _grouped(pairs)
        multi_query = _grouped(_query_items(query, True))
        return {
            "resource": "/{proxy+}", "path": path, "httpMethod": method,
            "headers": {n: vs[-1] for n, vs in multi_headers.items()}, "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: vs[-1] for k, vs in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": {"proxy": path[1:]} if path != "/" else None, "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID, "apiId": "lwa-local", "domainName": host,
                "domainPrefix": host.split(".")[0], "extendedRequestId": request_id, "httpMethod": method,
                "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoIdentityId": None,
                             "cognitoIdentityPoolId": None, "sourceIp": client_ip, "user": None,
                             "userAgent": user_agent, "userArn": None},
                "path": path, "protocol": "HTTP/1.1", "requestId": request_id, "requestTime": stamp,
                "requestTimeEpoch": epoch_ms, "resourceId": "lwa-local", "resourcePath": "/{proxy+}",
                "stage": "local",
            },
            "body": text, "isBase64Encoded": is_b64,
        }

    # ALB: lowercase header names; query keys and values as the client sent them; in single-value
    # mode the last of repeated headers and parameters wins (ALB documents both).
    event = {"requestContext": {"elb": {"targetGroupArn": ALB_TARGET_GROUP}}, "httpMethod": method, "path": path}
    multi_headers = _grouped(pairs, True)
    multi_query = _grouped(_query_items(query, False))
    if alb_multi_value:
        event["multiValueQueryStringParameters"] = multi_query
        event["multiValueHeaders"] = multi_headers
    else:
        event["queryStringParameters"] = {k: vs[-1] for k, vs in multi_query.items()}
        event["headers"] = {n: vs[-1] for n, vs in multi_headers.items()}
    event["body"] = text or ""
    event["isBase64Encoded"] = is_b64
    return event


def http_answer(payload: bytes) -> tuple[int, str | None, list[tuple[str, str]], bytes]:
    """A buffered Lambda result as the front door answers it: (status, reason, headers, body).

    `multiValueHeaders` win over `headers` per name, `cookies` become Set-Cookie, base64 bodies
    are decoded; a result without `statusCode` is itself the JSON body of a 200 (Function URL rule)."""
    try:
        env = json.loads(payload)
    except ValueError:
        env = None
    if not isinstance(env, dict) or "statusCode" not in env:
        return 200, None, [("content-type", "application/json")], payload
    status = int(env["statusCode"])
    reason = str(env.get("statusDescription") or "").partition(" ")[2] or None
    pairs: list[tuple[str, str]] = []
    multi = env.get("multiValueHeaders") or {}
    for name, values in multi.items():
        pairs.extend((name, str(v)) for v in values or ())
    taken = {n.lower() for n, vs in multi.items() if vs}
    pairs.extend((n, str(v)) for n, v in (env.get("headers") or {}).items() if n.lower() not in taken)
    pairs.extend(("set-cookie", str(c)) for c in env.get("cookies") or ())
    body = env.get("body") or ""
    data = base64.b64decode(body) if env.get("isBase64Encoded") else body.encode("utf-8", "surrogatepass")
    return status, reason, pairs, data


def escape(text: str) -> str:
    """`text` safe to quote in a log line: C0 and C1 control characters as `\\xNN`, and a backslash
    doubled so an escape can be told from one the client typed (the rule CPython's http.server
    applies), so a request line cannot move the cursor, recolour the terminal or forge a line."""
    return "".join(_ESCAPES.get(c, c) for c in text) if _NEEDS_ESCAPE.search(text) else text


_ESCAPES = {chr(c): f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES["\\"] = "\\\\"
_NEEDS_ESCAPE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def host_name(host: str) -> str:
    """The name in a Host value, lowercase, without the port or a final dot; IPv6 keeps its brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        host = name
    return host.removesuffix(".")


def host_allowed(host: str | None, bound: str, allowed: frozenset[str]) -> bool:
    """Whether `serve` answers a request for `host` (the Host header, port optional): a loopback
    name (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`), the address it listens on, or one
    of `allowed` (lowercase names). Anything else may be a DNS-rebinding page in a browser
    reaching the app through this port. HTTP/1.0 requests may carry no Host: they are local."""
    if host is None:
        return True
    name = host_name(host)
    if name in allowed or name == "localhost" or name.endswith(".localhost"):
        return True
    bound = bound.lower().strip("[]")
    if name == (f"[{bound}]" if ":" in bound else bound):
        return True
    bracketed = name.startswith("[") and name.endswith("]")
    literal = name[1:-1] if bracketed else name
    import ipaddress  # noqa: PLC0415 - serve only, and only for names not matched above

    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        return False
    return address.is_loopback and bracketed == (address.version == 6)
