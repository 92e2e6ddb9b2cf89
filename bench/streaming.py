"""Response streaming benchmark: time to first body byte added by lwa, and throughput of a 100 MiB
streamed body through lwa against a direct read from the same app, in the same run.

    python bench/streaming.py [--mib 100] [--samples 50] [--repeat 3] [--json]

`run()` returns the figures as a dict (bench/run.py may import it). Self-contained: the app is this
file run as `--serve-app` in its own process, the Runtime API a lean in-process sink that counts
bytes and keeps timestamps only, and lwa a real `python -m lwa` in `response_stream` mode.

- TTFB via lwa: the Runtime API handing over the event → the first body byte after the 8-NUL
  separator arriving back at it. Direct: the same GET written to the app → its first body byte.
  The app writes its head and first event in one go (`/ttfb`), so the difference is lwa's.
- Throughput: the event handed over → the whole streamed body in, against a direct keep-alive
  read of the same body (http.client de-chunking, as lwa's own app side does).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EVENT_FILE = REPO.parent / "shared" / "events" / "function-url" / "rust-runtime__lambda_function_url_request.json"
MIB = 1 << 20
CHUNK = 65536
SEPARATOR = b"\x00" * 8
RUNTIME = "/2018-06-01/runtime/invocation/"
EXTENSION = "/2020-01-01/extension/"


# ---- the app (its own process) --------------------------------------------------------------------

_STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
_FULL_CHUNK = b"%x\r\n" % CHUNK + bytes(range(256)) * (CHUNK // 256) + b"\r\n"
_EVENT = b"data: 1\n\n"
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def _app_conn(sock: socket.socket) -> None:
    buf = b""
    with sock:
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")  # the benchmark only sends GETs
            target = head.split(b" ", 2)[1].decode()
            path, _, query = target.partition("?")
            if path == "/ttfb":
                sock.sendall(_STREAM_HEAD + b"%x\r\n%s\r\n" % (len(_EVENT), _EVENT))
                time.sleep(0.002)
                sock.sendall(b"0\r\n\r\n")
            elif path == "/stream":
                full, rest = divmod(int(query.partition("bytes=")[2]), CHUNK)
                sock.sendall(_STREAM_HEAD)
                for _ in range(full):
                    sock.sendall(_FULL_CHUNK)
                sock.sendall((b"%x\r\n%s\r\n" % (rest, b"x" * rest) if rest else b"") + b"0\r\n\r\n")
            else:
                sock.sendall(_OK)


def serve_app() -> int:
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"READY {listener.getsockname()[1]}", flush=True)
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_app_conn, args=(sock,), daemon=True).start()


# ---- the Runtime API (in this process) ------------------------------------------------------------

class _Reader:
    """Buffered socket reads with a read position, so big bodies are skipped, not copied around."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.at = 0.0  # monotonic time of the last recv

    def _fill(self) -> None:
        if self.pos > MIB:
            del self.buf[: self.pos]
            self.pos = 0
        data = self.sock.recv(MIB)
        if not data:
            raise ConnectionError("peer closed")
        self.at = time.monotonic()
        self.buf += data

    def until(self, marker: bytes) -> bytes:
        while (end := self.buf.find(marker, self.pos)) < 0:
            self._fill()
        out = bytes(self.buf[self.pos:end])
        self.pos = end + len(marker)
        return out

    def take(self, n: int, keep: int) -> bytes:
        """Skip n bytes, returning the first `keep` of them."""
        while len(self.buf) - self.pos < n:
            self._fill()
        out = bytes(self.buf[self.pos:self.pos + min(n, keep)])
        self.pos += n
        return out


class Sink:
    """Just enough Runtime + Extensions API for lwa; records (first body byte, end, size) per stream."""

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.events: deque[tuple[str, bytes]] = deque()
        self.served: dict[str, float] = {}
        self.done: dict[str, tuple[str, float | None, float, int]] = {}  # kind, first body byte, end, size
        self.polling = False
        self.stopped = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.cv.notify_all()
        for sock in [self.listener, *self.conns]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def push(self, items: list[tuple[str, bytes]]) -> None:
        with self.cv:
            self.events.extend(items)
            self.cv.notify_all()

    def wait(self, predicate, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        with self.cv:
            while not predicate():
                if time.monotonic() > end:
                    raise TimeoutError(f"no {what} within {timeout}s")
                self.cv.wait(0.2)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        reader = _Reader(sock)
        try:
            while True:
                lines = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                if path.startswith(RUNTIME) and path.endswith("/next"):
                    if not self._next(sock):
                        return
                elif path.startswith(RUNTIME):
                    self._result(sock, reader, headers, path[len(RUNTIME):].split("/")[0], path.rsplit("/", 1)[1])
                elif path == EXTENSION + "register":
                    reader.take(int(headers.get("content-length", 0)), 0)
                    sock.sendall(b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: bench\r\n"
                                 b"Content-Length: 2\r\n\r\n{}")
                elif path == EXTENSION + "event/next":
                    with self.cv:
                        while not self.stopped:
                            self.cv.wait()
                    return
                else:
                    reader.take(int(headers.get("content-length", 0)), 0)
                    sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except (OSError, ValueError):
            return

    def _next(self, sock: socket.socket) -> bool:
        with self.cv:
            self.polling = True
            self.cv.notify_all()
            while not self.events and not self.stopped:
                self.cv.wait()
            if self.stopped:
                return False
            rid, body = self.events.popleft()
        deadline_ms = int((time.time() + 300) * 1000)
        sock.sendall(b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: %d\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (rid.encode(), deadline_ms, len(body), body))
        with self.cv:
            self.served[rid] = time.monotonic()
        return True

    def _result(self, sock: socket.socket, reader: _Reader, headers: dict, rid: str, kind: str) -> None:
        first_body_at, size, head = None, 0, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            kind = "stream" if kind == "response" else kind
            while n := int(reader.until(b"\r\n").split(b";", 1)[0], 16):
                data = reader.take(n, 4096)
                if first_body_at is None:
                    if SEPARATOR in head + data and not (head + data).endswith(SEPARATOR):
                        first_body_at = reader.at
                    head = (head + data)[:4096]
                size += n
                reader.take(2, 0)
            while reader.until(b"\r\n"):  # trailers, up to the empty line
                pass
        else:
            size = int(headers.get("content-length", 0))
            head = reader.take(size, 4096)
        end = reader.at
        sock.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        with self.cv:
            self.done[rid] = (kind, first_body_at, end, size - (head.find(SEPARATOR) + len(SEPARATOR)))
            self.cv.notify_all()


# ---- the measurement ----------------------------------------------------------------------------

def _event(path: str, query: str = "") -> bytes:
    event = json.loads(EVENT_FILE.read_text())
    event.update(rawPath=path, rawQueryString=query)
    event["requestContext"]["http"].update(method="GET", path=path)
    return json.dumps(event).encode()


def _start_app() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve-app"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"bench app did not start: {line!r}")
    return proc, int(line.split()[1])


def _start_lwa(sink: Sink, app_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LWA_", "AWS_LAMBDA_"))}
    env.update(
        AWS_LAMBDA_RUNTIME_API=sink.address, AWS_LWA_PORT=str(app_port), AWS_LWA_INVOKE_MODE="response_stream",
        AWS_LAMBDA_FUNCTION_NAME="fn", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        PYTHONPATH=str(REPO),
    )
    return subprocess.Popen([sys.executable, "-m", "lwa"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _vm_hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Direct:
    """The app read directly over one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port)

    def get(self, target: str) -> tuple[float, float, int]:
        """(seconds to the first body byte, seconds to the end, body bytes) for one GET."""
        started = time.monotonic()
        self.conn.request("GET", target)
        resp = self.conn.getresponse()
        first = resp.read1(CHUNK)
        ttfb = time.monotonic() - started
        size = len(first)
        while data := resp.read1(CHUNK):
            size += len(data)
        return ttfb, time.monotonic() - started, size

    def close(self) -> None:
        self.conn.close()


def run(mib: int = 100, samples: int = 50, repeat: int = 3) -> dict:
    """Medians over `repeat` rounds; each round takes `samples` TTFB pairs and one stream pair."""
    total = mib * MIB
    ttfb_event, big_event = _event("/ttfb"), _event("/stream", f"bytes={total}")
    app, port = _start_app()
    sink = Sink()
    lwa = _start_lwa(sink, port)
    direct = _Direct(port)
    rounds: dict[str, list[float]] = {k: [] for k in ("ttfb_lwa", "ttfb_direct", "mibs_lwa", "mibs_direct", "lwa_cpu_s")}
    seq = 0

    def through_lwa(event: bytes, n: int) -> list[tuple[float, tuple]]:
        nonlocal seq
        ids = [f"s{seq}-{i}" for i in range(n)]
        seq += 1
        sink.push([(i, event) for i in ids])
        sink.wait(lambda: all(i in sink.done for i in ids), 300, f"answer to {n} invocations")
        if any(sink.done[i][0] != "stream" for i in ids):
            raise RuntimeError(f"lwa did not stream: {sink.done[ids[0]]}")
        return [(sink.served[i], sink.done[i]) for i in ids]

    try:
        sink.wait(lambda: sink.polling, 30, "GET /invocation/next from lwa")
        through_lwa(ttfb_event, 10)  # warm-up: pooled connection, first-use imports
        for _ in range(10):
            direct.get("/ttfb")
        for _ in range(repeat):
            lwa_ttfb = [first - served for served, (_, first, _, _) in through_lwa(ttfb_event, samples)]
            direct_ttfb = [direct.get("/ttfb")[0] for _ in range(samples)]
            cpu_before = _cpu_s(lwa.pid)
            ((served, (_, _, end, size)),) = through_lwa(big_event, 1)
            rounds["lwa_cpu_s"].append(_cpu_s(lwa.pid) - cpu_before)
            if size != total:
                raise RuntimeError(f"the stream through lwa carried {size} of {total} bytes")
            _, direct_s, direct_size = direct.get(f"/stream?bytes={total}")
            if direct_size != total:
                raise RuntimeError(f"the direct read got {direct_size} of {total} bytes")
            rounds["ttfb_lwa"].append(statistics.median(lwa_ttfb))
            rounds["ttfb_direct"].append(statistics.median(direct_ttfb))
            rounds["mibs_lwa"].append(mib / (end - served))
            rounds["mibs_direct"].append(mib / direct_s)
        hwm = _vm_hwm_mib(lwa.pid)
    finally:
        direct.close()
        lwa.send_signal(signal.SIGTERM)
        try:
            lwa.wait(10)
        except subprocess.TimeoutExpired:
            lwa.kill()
            lwa.wait(5)
        sink.stop()
        app.kill()
        app.wait(5)
    med = {k: statistics.median(v) for k, v in rounds.items()}
    return {
        "stream_mib": mib,
        "ttfb_samples": samples,
        "repeat": repeat,
        "ttfb_lwa_ms": med["ttfb_lwa"] * 1000,
        "ttfb_direct_ms": med["ttfb_direct"] * 1000,
        "ttfb_added_ms": (med["ttfb_lwa"] - med["ttfb_direct"]) * 1000,
        "lwa_mib_s": med["mibs_lwa"],
        "direct_mib_s": med["mibs_direct"],
        "throughput_ratio": med["mibs_lwa"] / med["mibs_direct"],
        "lwa_cpu_s_per_stream": med["lwa_cpu_s"],
        "lwa_vm_hwm_mib": hwm,
        "rounds": rounds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100, help="size of the streamed body (default 100)")
    parser.add_argument("--samples", type=int, default=50, help="TTFB samples per round (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--json", action="store_true", help="print the raw dict as JSON")
    parser.add_argument("--serve-app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_app:
        return serve_app()
    res = run(args.mib, args.samples, args.repeat)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"time to first body byte: lwa {res['ttfb_lwa_ms']:.3f} ms, direct {res['ttfb_direct_ms']:.3f} ms "
          f"-> added by lwa {res['ttfb_added_ms']:.3f} ms (median of {args.repeat} x {args.samples})")
    print(f"{args.mib} MiB stream: lwa {res['lwa_mib_s']:.0f} MiB/s, direct {res['direct_mib_s']:.0f} MiB/s "
          f"({res['throughput_ratio']:.0%} of direct); lwa CPU {res['lwa_cpu_s_per_stream']:.2f} s per stream, "
          f"VmHWM {res['lwa_vm_hwm_mib']:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
