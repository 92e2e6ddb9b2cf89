"""The Runtime API round trip without lwa: the least a runtime can do per invocation.

    python bench/rt_client.py ADDRESS buffered N [BYTES]   N x (GET /next, POST a fixed response, padded to BYTES)
    python bench/rt_client.py ADDRESS stream N BYTES       N x (GET /next, stream BYTES in 64 KiB chunks)
    python bench/rt_client.py ADDRESS adapter-raw N BYTES APP_PORT REQUEST_JSON
    python bench/rt_client.py ADDRESS adapter-urllib3 N BYTES APP_PORT REQUEST_JSON
        N x (GET /next, the request in REQUEST_JSON sent to the app and its whole answer read,
        POST a fixed response): a null adapter, the same hops as lwa in the same order with
        nothing in between. `raw` writes the request bytes lwa writes and reads the answer on a
        raw socket; `urllib3` calls the app as `run.py`'s direct baseline does (keep-alive pool).

Raw sockets, pre-built requests, no parsing beyond what framing needs: what this costs per
invocation is the fake Runtime API's share (plus the kernel's), which `run.py` subtracts to
isolate lwa's own share.
"""

from __future__ import annotations

import json
import socket
import sys

PAYLOAD = (
    b'{"statusCode":200,"headers":{"content-type":"text/plain"},"multiValueHeaders":{},"body":"ok",'
    b'"isBase64Encoded":false,"cookies":[]}'
)
CHUNK = 65536


class _Conn:
    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def read_response(self) -> tuple[bytes, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise ValueError("rt_client reads Content-Length bodies only")
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return head, body

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data


def _request_id(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line[:30].lower() == b"lambda-runtime-aws-request-id:":
            return line[30:].strip()
    raise ValueError("no request id")


def _app_caller(mode: str, port: int, spec_file: str):
    """A function that makes the app call of one invocation, or None for the Runtime API alone."""
    if not mode.startswith("adapter-"):
        return None
    with open(spec_file) as f:
        spec = json.load(f)
    if mode == "adapter-raw":
        app = _Conn(f"127.0.0.1:{port}")
        raw = spec["raw"].encode("latin-1")

        def call_raw() -> None:
            app.sock.sendall(raw)
            app.read_response()

        return call_raw
    import urllib3  # noqa: PLC0415 - only this mode

    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False)
    headers = urllib3.HTTPHeaderDict()
    for name, value in spec["headers"]:
        headers.add(name, value)
    body = spec["body"].encode("latin-1") or None
    method, target = spec["method"], spec["target"]

    def call_urllib3() -> None:
        resp = pool.urlopen(method, target, body=body, headers=headers, decode_content=False)
        if resp.status != 200 or not resp.data:
            raise RuntimeError(f"the app answered {resp.status}")

    return call_urllib3


def main(argv: list[str]) -> int:
    address, mode, count = argv[0], argv[1], int(argv[2])
    conn = _Conn(address)
    call_app = _app_caller(mode, int(argv[4]), argv[5]) if len(argv) > 5 else None
    host = address.encode()
    next_request = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n" % host
    size = int(argv[3]) if len(argv) > 3 else 0
    payload = PAYLOAD
    if mode != "stream" and size > len(PAYLOAD) + 10:  # as big as lwa's envelope for the same event
        payload = PAYLOAD[:-1] + b',"pad":"' + b"x" * (size - len(PAYLOAD) - 9) + b'"}'
    chunk = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    for _ in range(count):
        conn.sock.sendall(next_request)
        head, _ = conn.read_response()
        path = b"/2018-06-01/runtime/invocation/%s/response" % _request_id(head)
        if call_app is not None:
            call_app()
        if mode != "stream":
            conn.sock.sendall(
                b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s" % (path, host, len(payload), payload)
            )
        else:
            prelude = b'{"statusCode":200,"headers":{"content-type":"text/event-stream"},"cookies":[]}' + b"\0" * 8
            conn.sock.sendall(
                b"POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n"
                b"Lambda-Runtime-Function-Response-Mode: streaming\r\n\r\n%x\r\n%s\r\n"
                % (path, host, len(prelude), prelude)
            )
            for _ in range(size // CHUNK):
                conn.sock.sendall(chunk)
            rest = size % CHUNK
            conn.sock.sendall((b"%x\r\n%s\r\n" % (rest, b"x" * rest) if rest else b"") + b"0\r\n\r\n")
        conn.read_response()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
