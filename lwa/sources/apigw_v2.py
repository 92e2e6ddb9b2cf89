"""API Gateway HTTP API (payload 2.0) and Lambda Function URLs ⇄ HTTP. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidEventError
from ..model import AppRequest
from . import body, headers, target

if TYPE_CHECKING:
    from ..config import Config
    from ..model import AppResponse, Invocation


def matches(event: dict[str, Any]) -> bool:
    """`version` "2.0" (or absent) with a `requestContext.http` (docs/behaviour.md, decision
    "classification"); `to_request` fails a non-object `http` with InvalidEvent rather than letting
    it slip to pass-through (docs/behaviour.md §9.14)."""
    rc = event.get("requestContext")
    return isinstance(rc, dict) and rc.get("http") is not None and event.get("version", "2.0") == "2.0"


def to_request(event: dict[str, Any], inv: Invocation, config: Config) -> AppRequest:
    rc = event["requestContext"]
    if not isinstance(rc["http"], dict):
        raise InvalidEventError("requestContext.http must be an object")
    method = target.request_method(rc["http"].get("method"), "requestContext.http.method")
    raw_path = target.string_field(event, "rawPath") or target.string_field(event, "path")
    path = target.strip_base_path(raw_path, config.remove_base_path)
    if "rawQueryString" in event:
        query = target.encode_query(target.string_field(event, "rawQueryString"))
    else:
        query = target.form_encode(target.query_pairs(event, "", "queryStringParameters"))
    pairs = headers.single_map(event, "headers")
    cookies = event.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
            raise InvalidEventError("cookies must be a list of strings")
    if cookies:
        # Exactly one Cookie header from cookies[], joined RFC 6265 style (docs/behaviour.md §9.19).
        pairs = [(n, v) for n, v in pairs if n.lower() != "cookie"] + [("cookie", "; ".join(cookies))]
    return AppRequest(
        method=method,
        target=target.join_target(target.encode_path(path), query),
        headers=headers.inject(headers.clean(pairs), inv, config, rc),
        body=body.request_body(event),
    )


def to_response(resp: AppResponse, event: dict[str, Any], config: Config) -> bytes:
    """Repeated headers comma-joined; every Set-Cookie moves to `cookies` (docs/behaviour.md, decision
    "response envelopes")."""
    text, is_b64 = body.response_field(resp.body, list(resp.headers))
    grouped = headers.grouped(headers.response_headers(resp.headers))
    cookies = grouped.pop("set-cookie", [])
    envelope = {
        "statusCode": resp.status,
        "headers": {name: ", ".join(values) for name, values in grouped.items()},
        "multiValueHeaders": {},
        "body": text,
        "isBase64Encoded": is_b64,
        "cookies": cookies,
    }
    return body.dump(envelope)
