"""Any other event (SQS, SNS, S3, WebSocket, ...): raw bytes POSTed to the pass-through path,
the app's body back as the Lambda result (docs/behaviour.md, decision "pass-through"). No I/O."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from ..logs import log
from ..model import AppRequest
from . import body, headers

if TYPE_CHECKING:
    from ..config import Config
    from ..model import AppResponse, Invocation

_BOM = b"\xef\xbb\xbf"


def to_request(event: Any, inv: Invocation, config: Config) -> AppRequest:
    pairs = [("content-type", "application/json")]
    return AppRequest(
        method="POST",
        target=config.pass_through_path,
        headers=headers.inject(pairs, inv, config, http=False),
        body=inv.body,
    )


def to_response(resp: AppResponse, event: Any, config: Config) -> bytes:
    """Valid JSON as-is (no re-serialisation), empty → null, other text or binary → a JSON string."""
    if not 200 <= resp.status < 300 and not config.error_status_codes:
        log.warning(
            "pass-through event answered %d but AWS_LWA_ERROR_STATUS_CODES is unset: Lambda counts it a success",
            resp.status,
        )
    data = resp.body
    if data.startswith(_BOM):
        # A UTF-8 byte order mark (PHP files saved with one print it first) is not JSON, but what
        # follows is the app's answer: an SQS batchItemFailures object must stay an object.
        data = data[len(_BOM):]
    if not data.strip():
        return b"null"
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        try:
            json.loads(text)
            return data
        except ValueError:
            pass
        if body.textual(list(resp.headers)):
            log.warning("pass-through answer is not JSON; returning it as a JSON string")
            return json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")
    log.warning("pass-through answer is binary; returning it base64-encoded as a JSON string")
    return json.dumps(base64.b64encode(data).decode("ascii")).encode()
