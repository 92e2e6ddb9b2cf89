"""Application Load Balancer target events ⇄ HTTP, in both header modes. No I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidEventError
from ..model import AppRequest
from . import body, headers, target

if TYPE_CHECKING:
    from ..config import Config
    from ..model import AppResponse, Invocation


def matches(event: dict[str, Any]) -> bool:
    rc = event.get("requestContext")
    return isinstance(rc, dict) and "elb" in rc


def _multi_value(event: dict[str, Any]) -> bool:
    """The target group's mode shows in the event: multiValueHeaders present means multi-value on."""
    return isinstance(event.get("multiValueHeaders"), dict)


def to_request(event: dict[str, Any], inv: Invocation, config: Config) -> AppRequest:
    method = target.request_method(event.get("httpMethod"), "httpMethod")
    path = target.strip_base_path(target.string_field(event, "path"), config.remove_base_path)
    # ALB hands query keys and values over as the client sent them: forward them verbatim
    # (docs/behaviour.md, decision "query").
    pairs = target.query_pairs(event, "multiValueQueryStringParameters", "queryStringParameters")
    query = "&".join(f"{target.encode_query(k)}={target.encode_query(v)}" for k, v in pairs)
    rc = event.get("requestContext")
    if not isinstance(rc, dict):
        raise InvalidEventError("requestContext must be an object")
    raw_headers = headers.merge_v1(event)
    return AppRequest(
        method=method,
        target=target.join_target(target.encode_path(path), query),
        headers=headers.inject(headers.clean(raw_headers), inv, config, rc),
        body=body.request_body(event),
    )


def status_description(status: int) -> str:
    from http import HTTPStatus  # noqa: PLC0415 - its enum costs start-up time; ALB answers only

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _case_variants(name: str, count: int) -> list[str]:
    """`count` spellings of `name` differing only in letter case, so ALB keeps every Set-Cookie."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    out = []
    for n in range(min(count, 2 ** len(letters))):
        chars = list(name.lower())
        for bit, pos in enumerate(letters):
            if n >> bit & 1:
                chars[pos] = chars[pos].upper()
        out.append("".join(chars))
    return out


def to_response(resp: AppResponse, event: dict[str, Any], config: Config) -> bytes:
    """The shape of the request: `multiValueHeaders` only in multi-value mode, else `headers` (docs/behaviour.md,
    decision "response envelopes")."""
    text, is_b64 = body.response_field(resp.body, list(resp.headers))
    grouped = headers.grouped(headers.response_headers(resp.headers))
    envelope: dict[str, Any] = {"statusCode": resp.status, "statusDescription": status_description(resp.status)}
    if _multi_value(event):
        envelope["multiValueHeaders"] = grouped
    else:
        single: dict[str, str] = {}
        for name, values in grouped.items():
            if name == "set-cookie" and len(values) > 1:
                single.update(zip(_case_variants(name, len(values)), values))
            else:
                single[name] = ", ".join(values)
        envelope["headers"] = single
    envelope["body"] = text
    envelope["isBase64Encoded"] = is_b64
    return body.dump(envelope)
