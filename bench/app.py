"""The benchmark's web app: a minimal raw-socket HTTP/1.1 keep-alive server, one thread per connection.

Kept as small as possible so the app's own cost stays out of lwa's figures. Routes (by path
prefix; the query is ignored unless named):

    /sleep              200 "ok" after 20 ms (the concurrency test)
    /bin                200, 1 MiB of binary (application/octet-stream)
    /ttfb               chunked: head + "data: 1\\n\\n" at once, the end 2 ms later
    /stream?bytes=N     chunked: N bytes in 64 KiB chunks, written as fast as the socket takes them
    anything else       200 "ok" (text/plain)

Run as a process: `python bench/app.py [--port 0]` prints `READY <port>` once listening. With
`--listen-after S` the port is bound at once (connects are refused) and `READY <port>` printed,
then after S seconds it listens and prints `LISTENING <time.monotonic()>` (the cold-start bench).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time

CHUNK = 65536
BIN = bytes(range(256)) * 4096  # 1 MiB, not valid UTF-8: goes back base64-encoded
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
BIN_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(BIN) + BIN
)
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
FULL_CHUNK = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
SLEEP_S = 0.020


def _serve(sock: socket.socket) -> None:
    buf = b""
    try:
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
                end = buf.find(b"\r\n\r\n")
            head, buf = buf[:end].decode("latin-1"), buf[end + 4:]
            lines = head.split("\r\n")
            target = lines[0].split(" ")[1]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and "close" in value.lower():
                    close = True
            while len(buf) < length:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[length:]
            _answer(sock, target, close)
            if close:
                return
    except OSError:
        return
    finally:
        sock.close()


def _answer(sock: socket.socket, target: str, close: bool) -> None:
    path, _, query = target.partition("?")
    if close:
        sock.sendall(OK_CLOSE)
    elif path.startswith("/sleep"):
        time.sleep(SLEEP_S)
        sock.sendall(OK)
    elif path.startswith("/bin"):
        sock.sendall(BIN_RESPONSE)
    elif path.startswith("/ttfb"):
        sock.sendall(CHUNKED_HEAD + b"9\r\ndata: 1\n\n\r\n")
        time.sleep(0.002)
        sock.sendall(b"0\r\n\r\n")
    elif path.startswith("/stream"):
        size = int(dict(p.partition("=")[::2] for p in query.split("&")).get("bytes", CHUNK))
        sock.sendall(CHUNKED_HEAD)
        full, rest = divmod(size, CHUNK)
        for _ in range(full):
            sock.sendall(FULL_CHUNK)
        tail = b"%x\r\n%s\r\n" % (rest, b"x" * rest) if rest else b""
        sock.sendall(tail + b"0\r\n\r\n")
    else:
        sock.sendall(OK)


def serve_forever(listener: socket.socket) -> None:
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve, args=(sock,), daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--listen-after", type=float, default=0.0, metavar="S")
    args = parser.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    if args.listen_after:
        sys.stdout.write(f"READY {listener.getsockname()[1]}\n")
        sys.stdout.flush()
        time.sleep(args.listen_after)
        listener.listen(256)
        sys.stdout.write(f"LISTENING {time.monotonic():.6f}\n")
        sys.stdout.flush()
    else:
        listener.listen(256)
        sys.stdout.write(f"READY {listener.getsockname()[1]}\n")
        sys.stdout.flush()
    serve_forever(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main())
