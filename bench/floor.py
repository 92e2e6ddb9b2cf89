"""The floor programs cold-start figures are held against: the least a Python adapter must do.

    python -E -S -B bench/floor.py plain|urllib3     (AWS_LAMBDA_RUNTIME_API, AWS_LWA_PORT set)

`plain`: raw-socket registration, one readiness GET, one poll, the event's request to the app and
the answer posted, all on raw sockets, one thread, nothing imported but `socket`.
`urllib3`: the same, plus `import urllib3` (TLS and brotli hidden, as lwa hides them) before the
poll, the app called through a urllib3 pool, and the event and answer (de)serialised with json
(which urllib3 loads anyway). No translation, no threads, no error handling: a floor, not an
adapter. Exits right after posting the one answer.
"""

import os
import socket
import sys

MODE = sys.argv[1]
HOST, _sep, RT_PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
APP_PORT = int(os.environ["AWS_LWA_PORT"])


def exchange(sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
    """Send one request, read one Content-Length-framed answer: (head, body)."""
    sock.sendall(data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def header(head: bytes, name: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return ""


# Hosts as bytes: a str host makes getaddrinfo load the idna codec, which lwa avoids too.
rt = socket.create_connection((HOST.encode("ascii"), int(RT_PORT)))  # type: ignore[arg-type]
register: bytes = b'{"events":["SHUTDOWN"]}'
head, _ = exchange(rt, b"POST /2020-01-01/extension/register HTTP/1.1\r\nHost: x\r\nLambda-Extension-Name: "
                   b"lambda-adapter\r\nContent-Length: %d\r\n\r\n%s" % (len(register), register))
assert header(head, b"lambda-extension-identifier")

probe = socket.create_connection((b"127.0.0.1", APP_PORT))  # type: ignore[arg-type]
probe.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
assert probe.recv(4096).startswith(b"HTTP/1.1 200")
probe.close()

if MODE == "urllib3":
    hidden = ("ssl", "_hashlib", "brotli", "brotlicffi")
    sys.modules.update(dict.fromkeys(hidden))
    import json

    import urllib3

    for name in hidden:
        del sys.modules[name]
    pool = urllib3.HTTPConnectionPool("127.0.0.1", APP_PORT, maxsize=1, retries=False)

head, event = exchange(rt, b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
rid = header(head, b"lambda-runtime-aws-request-id").encode("ascii")
if MODE == "urllib3":
    path = json.loads(event).get("rawPath", "/")
    resp = pool.urlopen("GET", path, headers={"host": "127.0.0.1"}, decode_content=False)
    answer: bytes = json.dumps({"statusCode": resp.status, "body": resp.data.decode("utf-8")}).encode()
else:
    app = socket.create_connection((b"127.0.0.1", APP_PORT))  # type: ignore[arg-type]
    _, data = exchange(app, b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b'{"statusCode":200,"body":"%s"}' % data
exchange(rt, b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
         % (rid, len(answer), answer))
os._exit(0)
