"""API Gateway REST API (payload 1.0) ⇄ HTTP. No I/O: event in, request out; response in, bytes out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidEventError
from ..model import AppRequest
from . import body, headers, target

if TYPE_CHECKING:
    from ..config import Config
    from ..model import AppResponse, Invocation


def matches(event: dict[str, Any]) -> bool:
    """`httpMethod` plus a `requestContext` that is neither ALB nor WebSocket
    (docs/behaviour.md, decision "classification").

    A non-object `requestContext` still makes it v1, so `to_request` fails it with InvalidEvent
    rather than letting it slip to the pass-through path (docs/behaviour.md §9.14)."""
    rc = event.get("requestContext")
    return "httpMethod" in event and rc is not None and not (isinstance(rc, dict) and "elb" in rc)


def to_request(event: dict[str, Any], inv: Invocation, config: Config) -> AppRequest:
    method = target.request_method(event.get("httpMethod"), "httpMethod")
    path = target.strip_base_path(target.string_field(event, "path"), config.remove_base_path)
    query = target.form_encode(target.query_pairs(event, "multiValueQueryStringParameters", "queryStringParameters"))
    rc = event.get("requestContext")
    if not isinstance(rc, dict):
        raise InvalidEventError("requestContext must be an object")
    pairs = headers.clean(headers.merge_v1(event))
    return AppRequest(
        method=method,
        target=target.join_target(target.encode_path(path), query),
        headers=headers.inject(pairs, inv, config, rc),
        body=body.request_body(event),
    )


def to_response(resp: AppResponse, event: dict[str, Any], config: Config) -> bytes:
    """`multiValueHeaders` with every value, `headers` with the last one of each (docs/behaviour.md,
    decision "response envelopes")."""
    text, is_b64 = body.response_field(resp.body, list(resp.headers))
    multi = headers.grouped(headers.response_headers(resp.headers))
    envelope = {
        "statusCode": resp.status,
        "headers": {name: values[-1] for name, values in multi.items()},
        "multiValueHeaders": multi,
        "body": text,
        "isBase64Encoded": is_b64,
    }
    return body.dump(envelope)
