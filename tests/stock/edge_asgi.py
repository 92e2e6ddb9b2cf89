"""A plain ASGI app for uvicorn: a pass-through answer saved with a UTF-8 BOM, the context header
echoed, and an error page carrying personal data."""

import json

BOM = b"\xef\xbb\xbf"


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode("latin-1"): v.decode("utf-8") for k, v in scope["headers"]}
    path = scope["path"]
    if path == "/events":
        event = json.loads(body)
        failures = [{"itemIdentifier": r["messageId"]} for r in event.get("Records", [])[:1]]
        status, ctype, out = 200, "application/json", BOM + json.dumps({"batchItemFailures": failures}).encode()
    elif path == "/context":
        status, ctype, out = 200, "application/json", headers.get("x-amzn-lambda-context", "").encode()
    elif path == "/private":
        status, ctype, out = 500, "text/plain", b"account of jane.doe@example.com: SECRET-BODY-7731"
    else:
        status, ctype, out = 200, "text/plain", b"ok"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})
