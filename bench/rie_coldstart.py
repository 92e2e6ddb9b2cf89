"""What users see: sandbox start → first response under AWS's Runtime Interface Emulator (RIE),
for the real examples behind lwa, the app alone, and the in-process Python alternatives.

    python bench/rie_coldstart.py [--rounds N] [--only NAME,...]

Each variant is one cold start: RIE is started, one HTTP API (v2) `GET /` event is invoked, and
the time from the invoke to its answer is recorded (RIE starts the extensions and the runtime at
the first invoke, so this is Init plus the first invocation, as a cold request sees it), beside
RIE's own `INIT REPORT` duration. Variants, interleaved round by round:

  lwa + Flask (gunicorn)       the layer tree (layer-build.sh --dir) on /opt, examples/flask/run.sh
  lwa + FastAPI (uvicorn)      the same with examples/fastapi/run.sh
  lwa + Express                the self-contained tree (layer-build.sh --self-contained --dir) on
                               /opt, examples/express/run.sh: how the Express example deploys
  lwa + Express (plain layer)  the plain layer tree instead (an image that has python3)
  ... and server-flag variants of the Python examples (workers, preload, uvicorn's pure-Python stack)
  Flask/FastAPI/Express alone  the app's own boot: process start until a direct `GET /` answers
  awslambdaric + apig-wsgi + Flask,  awslambdaric + Mangum + FastAPI:  the in-process alternatives
  awslambdaric + no-op handler  the least an awslambdaric function costs under RIE
  RIE floor                    a raw-socket runtime that answers at once (`python -E -S`): RIE's
                               own cost plus an interpreter start

lwa's share = (lwa + app) − (the app alone), the median of their differences round by round,
− (RIE's own cost: the RIE floor − a bare `python -E -S -c pass`, measured in the same rounds).
Needs root and unshare (RIE with /opt), the examples' dependencies (examples/install-deps.sh),
and, for the in-process variants, awslambdaric, mangum and apig-wsgi: installed with pip into
~/.cache/lwa-bench/inprocess on first use (bench-only; never a dependency of lwa).
The RIE helper is the test suite's (tests/support/rie.py): one place knows how to run RIE.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(REPO))

from tests.support import rie as R  # noqa: E402
from tests.support.loopback import free_port  # noqa: E402

INPROCESS = Path.home() / ".cache" / "lwa-bench" / "inprocess"
INPROCESS_PINS = ("awslambdaric==4.2.2", "mangum==0.22.0", "apig-wsgi==2.20.0")
EVENT = {
    "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "", "headers": {"host": "x"},
    "requestContext": {"http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4",
                                "userAgent": "bench"}, "requestId": "r", "stage": "$default"},
    "isBase64Encoded": False,
}
TARGET_SHARE_MS = 10.0

PY_APP_ENV = 'cd {dir} && export PYTHONPATH="{dir}${{PYTHONPATH:+:$PYTHONPATH}}" && exec '
# name → (example, shell command run from the example's directory or None: its run.sh, build on /opt)
LWA_VARIANTS = {
    "lwa + Flask (gunicorn, 1 sync worker: the example)": ("flask", None, "layer"),
    "lwa + Flask (gunicorn, 1 worker, --preload)": (
        "flask", "python3 -m gunicorn --bind 127.0.0.1:$PORT --workers 1 --timeout 0 --no-control-socket "
                 "--preload app:app", "layer"),
    "lwa + Flask (gunicorn, 2 gthread workers)": (
        "flask", "python3 -m gunicorn --bind 127.0.0.1:$PORT --workers 2 -k gthread --timeout 0 "
                 "--no-control-socket app:app", "layer"),
    "lwa + FastAPI (uvicorn: the example)": ("fastapi", None, "layer"),
    "lwa + FastAPI (uvicorn --http h11 --loop asyncio --no-access-log)": (
        "fastapi", "python3 -m uvicorn --host 127.0.0.1 --port $PORT --http h11 --loop asyncio --no-access-log "
                   "app:app", "layer"),
    "lwa + Express": ("express", None, "self-contained"),
    "lwa + Express (plain layer)": ("express", None, "layer"),
}
ALONE = {"Flask alone (gunicorn)": "flask", "FastAPI alone (uvicorn)": "fastapi", "Express alone": "express"}
HANDLERS = {
    "awslambdaric + apig-wsgi + Flask": ("flask", "from apig_wsgi import make_lambda_handler\n"
                                                  "from app import app\nhandler = make_lambda_handler(app)\n"),
    "awslambdaric + Mangum + FastAPI": ("fastapi", "from mangum import Mangum\nfrom app import app\n"
                                                   "handler = Mangum(app, lifespan='off')\n"),
    "awslambdaric + no-op handler": (None, "def handler(event, context):\n"
                                                       "    return {'statusCode': 200, 'body': 'ok'}\n"),
}


MINIMAL_RUNTIME = r"""
import os, socket
host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
s = socket.create_connection((host, int(port)))
s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
rid = [line.split(b":", 1)[1].strip() for line in buf.split(b"\r\n")
       if line.lower().startswith(b"lambda-runtime-aws-request-id")][0]
body = b'{"statusCode":200,"body":"ok"}'
s.sendall(b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
          % (rid, len(body), body))
s.recv(4096)
s.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
"""
FLOOR = "RIE floor (raw-socket runtime)"
BARE = "bare `python -E -S -c pass` (no RIE)"


def inprocess_deps() -> Path:
    if not (INPROCESS / "awslambdaric").is_dir():
        INPROCESS.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(INPROCESS), *INPROCESS_PINS],
                       check=True)
    return INPROCESS


def layer_trees(work: Path) -> dict[str, Path]:
    """The plain layer (for this Python only) and the self-contained build, as unpacked trees."""
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    builds = {"layer": ("--python", py), "self-contained": ("--self-contained",)}
    for name, flags in builds.items():
        subprocess.run(["bash", str(REPO / "layer-build.sh"), "--dir", str(work / name), *flags], check=True,
                       capture_output=True, timeout=900)
    return {name: work / name for name in builds}


def script(work: Path, name: str, text: str) -> Path:
    return R.write_script(work / "scripts" / name, "#!/bin/sh\n" + text + "\n")


def under_rie(cmd: list[str], env: dict[str, str], opt: Path | None, work: Path) -> tuple[float, float | None]:
    """(invoke → answer seconds, RIE's INIT REPORT ms) of one cold start."""
    with R.Rie(cmd, env=env, opt=opt, cwd=work) as rie:
        t0 = time.monotonic()
        got = rie.invoke(EVENT, timeout=60)
        took = time.monotonic() - t0
        rie.check(got.status == 200 and b"rror" not in got.body[:200], f"invoke: {got.status} {got.body[:300]!r}")
        init = R.init_report_ms(rie.log)
    return took, init


def under_lwa(cmd: list[str], path: str, tree: Path, work: Path) -> tuple[float, float | None]:
    """One cold start of a build's tree on /opt with `cmd` as the runtime (the app), on a fresh port."""
    return under_rie(cmd, R.clean_env(PORT=str(free_port()), PATH=path), tree, work)


def alone(example: str, work: Path) -> tuple[float, float | None]:
    """The app's own boot: its run.sh started until a direct `GET /` answers (no RIE figure)."""
    port = free_port()
    env = R.clean_env(PORT=str(port), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    t0 = time.monotonic()
    proc = subprocess.Popen([str(EXAMPLES / example / "run.sh")], env=env, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while time.monotonic() - t0 < 30:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.monotonic() - t0, None
            except OSError:
                time.sleep(0.001)
        raise RuntimeError(f"{example} did not answer within 30 s")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start under RIE: lwa + app, app alone, in-process")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated substrings of variant names")
    args = parser.parse_args()
    for reason in (R.unavailable(), R.needs_root()):
        if reason:
            print(f"cannot run: {reason}")
            return 1
    work = Path(tempfile.mkdtemp(prefix="lwa-rie-bench-"))
    work.chmod(0o755)
    trees = layer_trees(work)
    deps = inprocess_deps()
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the examples' python3: this one
    runs: dict[str, list] = {}
    tasks: list[tuple[str, Callable[[], tuple[float, float | None]]]] = []
    for name, (example, command, build) in LWA_VARIANTS.items():
        cmd = [str(EXAMPLES / example / "run.sh")]
        if command:
            cmd = [str(script(work, f"{example}-{len(tasks)}.sh",
                              PY_APP_ENV.format(dir=shlex.quote(str(EXAMPLES / example))) + command))]
        tasks.append((name, partial(under_lwa, cmd, path, trees[build], work)))
    for name, example in ALONE.items():
        tasks.append((name, partial(alone, example, work)))
    for n, (name, (example, code)) in enumerate(HANDLERS.items()):
        handler_dir = work / f"handler{n}"
        handler_dir.mkdir(mode=0o755)
        (handler_dir / "bench_handler.py").write_text(code)
        dirs = [handler_dir, EXAMPLES / example, deps] if example else [handler_dir, deps]
        pythonpath = ":".join(str(p) for p in dirs)
        cmd = [str(script(work, f"inprocess{n}.sh", f'export PYTHONPATH="{pythonpath}"\n'
                                                    f"exec {shlex.quote(sys.executable)} -m awslambdaric "
                                                    "bench_handler.handler"))]
        tasks.append((name, partial(under_rie, cmd, R.clean_env(PATH=path), None, work)))

    def bare() -> tuple[float, float | None]:
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-E", "-S", "-c", "pass"], check=True)
        return time.monotonic() - t0, None

    tasks.append((BARE, bare))
    floor_cmd = [sys.executable, "-E", "-S", "-c", MINIMAL_RUNTIME]
    tasks.append((FLOOR, partial(under_rie, floor_cmd, R.clean_env(PATH=path), None, work)))
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    tasks = [(n, t) for n, t in tasks if not wanted or any(w in n for w in wanted)]
    print(f"load average at the start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    for _, warm_up in tasks:  # one each: page cache, .pyc files of the examples' packages
        warm_up()
    for _ in range(args.rounds):
        for name, measure in tasks:
            runs.setdefault(name, []).append(measure())
    print(f"\nsandbox start → first response under RIE, {args.rounds} rounds, medians (Python "
          f"{sys.version.split()[0]}, load average at the end {' / '.join(f'{x:.1f}' for x in os.getloadavg())})")
    med = {}
    for name, values in runs.items():
        med[name] = statistics.median(v[0] for v in values) * 1000
        inits = [v[1] for v in values if v[1] is not None]
        extra = f"   (RIE INIT REPORT {statistics.median(inits):.0f} ms)" if inits else ""
        print(f"  {name}: {med[name]:.0f} ms{extra}")
    floor = med[FLOOR] - med[BARE] if FLOOR in med and BARE in med else None
    if floor is not None:
        print(f"  RIE's own cost (RIE floor − bare interpreter): {floor:.0f} ms")
    for lwa_name, alone_name in (("lwa + Flask (gunicorn, 1 sync worker: the example)", "Flask alone (gunicorn)"),
                                 ("lwa + FastAPI (uvicorn: the example)", "FastAPI alone (uvicorn)"),
                                 ("lwa + Express", "Express alone"),
                                 ("lwa + Express (plain layer)", "Express alone")):
        if lwa_name in med and alone_name in med and floor is not None:
            # Paired by round (both ran within seconds of each other): an app's boot drifts by
            # more than lwa costs over a run (FastAPI's median moved 200 ms between two runs).
            paired = statistics.median((a[0] - b[0]) * 1000 for a, b in zip(runs[lwa_name], runs[alone_name]))
            share = paired - floor
            print(f"  lwa's share ({lwa_name} − {alone_name}, paired by round, − RIE's own cost): {share:.0f} ms"
                  f"   [difference of the medians: {med[lwa_name] - med[alone_name] - floor:.0f} ms]   "
                  f"{'PASS' if share <= TARGET_SHARE_MS else 'MISS'} (≤ {TARGET_SHARE_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
