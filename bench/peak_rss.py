"""Peak RSS of lwa while the app answers 200 MB, in every mode (target: under 64 MB each).

    python3 bench/peak_rss.py [--size-mb 200] [--runs 3]

For each mode a fresh lwa (`python -m lwa`, as the daemon runs) serves one invocation against
bench/fake_runtime.py, and an app on loopback that answers `size` bytes: random bytes from a
16 MiB pool (incompressible: the pool is longer than any compression window) or repeated text
(compressible). The figure is lwa's VmHWM from /proc after the invocation; the baseline is the
same lwa's VmHWM after a 1 KiB answer in the same run. Medians over --runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from fake_runtime import FakeRuntime  # noqa: E402

MB = 1024 * 1024
LIMIT_MB = 64.0
RANDOM_POOL = os.urandom(16 * MB)
TEXT_POOL = (b"lwa keeps memory bounded whatever the app sends. " * 21000)[:MB]

V2 = {"version": "2.0", "rawPath": "/big", "rawQueryString": "", "headers": {"accept-encoding": "br, gzip"},
      "requestContext": {"http": {"method": "GET", "path": "/big"}}, "isBase64Encoded": False}
SQS = {"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "hi"}]}

MODES: dict[str, tuple[dict, dict, bytes, bytes]] = {  # name: (lwa environment, event, content type, pool)
    "buffered": ({}, V2, b"video/mp4", RANDOM_POOL),
    "compression, incompressible": ({"AWS_LWA_ENABLE_COMPRESSION": "true"}, V2, b"video/mp4", RANDOM_POOL),
    "compression, compressible": ({"AWS_LWA_ENABLE_COMPRESSION": "true"}, V2, b"text/plain", TEXT_POOL),
    "streaming": ({"AWS_LWA_INVOKE_MODE": "response_stream"}, V2, b"video/mp4", RANDOM_POOL),
    "pass-through": ({}, SQS, b"application/json", RANDOM_POOL),
}


class BigApp(socketserver.ThreadingTCPServer):
    """Answers every request with `size` bytes of `pool` (and /healthz with ok)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BigAnswer)
        self.size, self.ctype, self.pool = 1024, b"text/plain", TEXT_POOL
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _BigAnswer(socketserver.BaseRequestHandler):
    server: BigApp

    def handle(self) -> None:
        sock, app = self.request, self.server
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return
            head += data
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        got = len(head.split(b"\r\n\r\n", 1)[1])
        while got < length:
            got += len(sock.recv(65536))
        if head.startswith(b"GET /healthz"):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            return
        size, view = app.size, memoryview(app.pool)
        try:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % (app.ctype, size))
            sent = 0
            while sent < size:
                start = sent % len(app.pool)
                piece = view[start : start + min(MB, size - sent, len(app.pool) - start)]
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # lwa stopped reading: the answer could never fit


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def one_run(app: BigApp, env_extra: dict, event: dict, ctype: bytes, pool: bytes, size: int) -> tuple[float, str]:
    """Peak RSS (MB) of one lwa after one invocation, and what the invocation ended in."""
    app.size, app.ctype, app.pool = size, ctype, pool
    with FakeRuntime() as runtime:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LWA_", "AWS_LAMBDA_"))}
        env.update(AWS_LAMBDA_RUNTIME_API=runtime.address, AWS_LWA_PORT=str(app.port),
                   AWS_LWA_READINESS_CHECK_PATH="/healthz", PYTHONPATH=str(REPO), **env_extra)
        proc = subprocess.Popen([sys.executable, "-m", "lwa"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            rid = str(uuid.uuid4())
            runtime.push_many([(rid, json.dumps(event).encode())])
            runtime.wait_done([rid], timeout=120)
            time.sleep(0.05)
            peak = _vm_hwm_mb(proc.pid)
            done = runtime.done[rid]
        finally:
            proc.terminate()
            proc.wait(10)
    return peak, done.kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = BigApp()
    print(f"lwa peak RSS (VmHWM) with a {args.size_mb} MB answer; medians of {args.runs} runs; "
          f"target < {LIMIT_MB:.0f} MB")
    print(f"{'mode':30} {'1 KiB answer':>13} {f'{args.size_mb} MB answer':>13}  outcome   result")
    failed = False
    for name, (env, event, ctype, pool) in MODES.items():
        small, big, kinds = [], [], set()
        for _ in range(args.runs):  # interleaved: baseline and big answer in the same run
            small.append(one_run(app, env, event, ctype, pool, 1024)[0])
            peak, kind = one_run(app, env, event, ctype, pool, args.size_mb * MB)
            big.append(peak)
            kinds.add(kind)
        ok = statistics.median(big) < LIMIT_MB
        failed |= not ok
        print(f"{name:30} {statistics.median(small):10.1f} MB {statistics.median(big):10.1f} MB  "
              f"{'/'.join(sorted(kinds)):9} {'PASS' if ok else 'MISS'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
