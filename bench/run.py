"""lwa benchmarks: start-up, per-invocation overhead, concurrency, memory, streaming.

    python bench/run.py [--quick] [--only SECTION,...] [--repeat N] [--json FILE]

Every figure is the median of repeated runs, printed beside a baseline measured in the same run,
then PASS/MISS against the targets of issue 6. See bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EVENTS = REPO / "tests" / "events"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from fake_runtime import FakeRuntime  # noqa: E402

SECTIONS = ("startup", "invoke", "servers", "concurrency", "memory", "streaming")
FORBIDDEN = ("brotli", "_brotli", "gzip", "ssl", "_ssl", "email", "http.server", "argparse", "asyncio")
STREAM_BYTES = 100 * 1024 * 1024
MIB = 1024 * 1024

TARGET_STARTUP_RATIO = 1.5
TARGET_OVERHEAD_MS = 0.2  # issue 18: no regression over null client + direct call
TARGET_RSS_MB = 25.0
TARGET_TTFB_MS = 1.0


# ---- results table ------------------------------------------------------------------------------

class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.raw: dict = {}

    def section(self, title: str) -> None:
        self.rows.append((title, "", "", "", ""))

    def add(self, measure: str, value: str, baseline: str = "", verdict: str = "") -> None:
        self.rows.append(("", measure, value, baseline, verdict))
        extra = (f"   [baseline {baseline}]" if baseline else "") + (f"   {verdict}" if verdict else "")
        print(f"  {measure}: {value}{extra}", flush=True)

    def render(self) -> str:
        head = ("", "measure", "lwa", "baseline (same run)", "target")
        widths = [max(len(r[i]) for r in [head, *self.rows] if r[1] or i == 0) for i in range(5)]
        widths[0] = 0
        lines = []
        fmt = "| {{:<{}}} | {{:>{}}} | {{:<{}}} | {{:<{}}} |".format(*widths[1:])
        lines.append(fmt.format(*head[1:]))
        lines.append("|" + "|".join("-" * (w + 2) for w in widths[1:]) + "|")
        for title, measure, value, baseline, verdict in self.rows:
            if title:
                lines.append(fmt.format(f"**{title}**", "", "", ""))
            else:
                lines.append(fmt.format(measure, value, baseline, verdict))
        return "\n".join(lines)


def verdict(ok: bool, target: str) -> str:
    return f"{'PASS' if ok else 'MISS'} ({target})"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def median(xs):
    return statistics.median(xs)


def pct(xs, q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---- processes ----------------------------------------------------------------------------------

def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any lwa or Lambda variable, plus `extra`."""
    drop = ("PORT", "HOST", "READINESS_CHECK_PORT", "READINESS_CHECK_PATH", "READINESS_CHECK_PROTOCOL",
            "REMOVE_BASE_PATH", "ASYNC_INIT", "RUST_LOG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LWA_", "AWS_LAMBDA_")) and k not in drop}
    env.update(extra)
    return env


def lambda_env(runtime: str, app_port: int, **extra: str) -> dict[str, str]:
    return clean_env(
        AWS_LAMBDA_RUNTIME_API=runtime, AWS_LWA_PORT=str(app_port), AWS_LAMBDA_FUNCTION_NAME="fn",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST", **extra,
    )


class Stage:
    """lwa and urllib3 laid out as the layer ships them (compiled .pyc), run as the launcher does:
    `python -E -S -B lwa/__main__.py` from that directory (extension/layer-launcher.sh)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lwa-bench-"))
        shutil.copytree(REPO / "lwa", self.dir / "lwa", ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("urllib3",):
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.origin is not None, name
            shutil.copytree(Path(spec.origin).parent, self.dir / name, ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(str(self.dir), quiet=1, workers=1)

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-E", "-S", "-B", *args]

    def lwa(self) -> list[str]:
        """lwa as extension/layer-launcher.sh runs it: its __main__.py as a file (no runpy)."""
        return self.cmd("lwa/__main__.py")

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Proc:
    """A subprocess whose output goes to a temporary file, shown when something fails."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise RuntimeError(f"process did not stop on SIGTERM; output:\n{self.output()[-3000:]}") from None
        finally:
            self.log.close()


def start_app() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(BENCH / "app.py")], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"bench app did not start: {line!r}")
    return proc, int(line.split()[1])


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


class Lwa:
    """lwa from the stage, as the layer runs it, against its own FakeRuntime."""

    def __init__(self, stage: Stage, app_port: int, **env: str) -> None:
        self.runtime = FakeRuntime().start()
        self.proc = Proc(stage.lwa(), lambda_env(self.runtime.address, app_port, **env), stage.dir)
        self.seq = 0

    def run(self, event: bytes, n: int, timeout: float = 120.0) -> list[str]:
        """Push n copies of the event, wait until all are answered; returns their request ids."""
        ids = [f"b{self.seq}-{i}" for i in range(n)]
        self.seq += 1
        self.runtime.push_many([(i, event) for i in ids])
        try:
            self.runtime.wait_done(ids, timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; lwa output:\n{self.proc.output()[-3000:]}") from None
        bad = [self.runtime.done[i] for i in ids if self.runtime.done[i].kind == "error"]
        if bad:
            raise RuntimeError(f"{len(bad)} invocations failed, e.g. {bad[0].head[:300]!r}")
        return ids

    def close(self) -> None:
        try:
            self.proc.stop()
        finally:
            self.runtime.stop()


def timings(runtime: FakeRuntime, ids: list[str]) -> dict:
    """Per-invocation latency (served → answered), cycle (answer to answer) and throughput."""
    served = [runtime.served[i] for i in ids]
    done = [runtime.done[i].at for i in ids]
    latency = [d - s for s, d in zip(served, done)]
    ends = sorted(done)
    cycle = [b - a for a, b in zip(ends, ends[1:])]
    return {
        "latency_median": median(latency), "latency_p99": pct(latency, 0.99),
        "cycle_median": median(cycle) if cycle else latency[0],
        "per_s": len(ids) / (max(done) - min(served)),
        "size": median(runtime.done[i].size for i in ids),
    }


# ---- events -------------------------------------------------------------------------------------

def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def v2_event(path: str) -> dict:
    event = load_event("apigw-v2/rust-runtime__example-apigw-v2-request-no-authorizer.json")
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    return event


def v1_event(path: str) -> dict:
    event = load_event("apigw-v1/rust-runtime__apigw_multi_value_proxy_request.json")
    event["path"] = path
    return event


def alb_event(path: str) -> dict:
    event = load_event("alb/rust-runtime__alb_multi_value_request.json")
    event["path"] = path
    return event


def app_request(event: dict):
    """The exact request lwa sends the app for this event (built by lwa's own translator)."""
    from lwa import sources
    from lwa.config import load_config
    from lwa.model import Invocation

    inv = Invocation(request_id="bench", deadline_ms=int(time.time() * 1000) + 60000, body=json.dumps(event).encode(),
                     function_arn="arn:aws:lambda:us-east-1:123456789012:function:fn")
    return sources.classify(event).to_request(event, inv, load_config({}))


def app_request_spec(event: dict, port: int) -> dict:
    """The request lwa sends the app for this event, for bench/rt_client.py's null adapters: its
    parts (for urllib3) and the exact bytes lwa's own request writer puts on the wire."""
    from lwa.app import App
    from lwa.config import load_config

    req = app_request(event)
    raw = App(load_config({"AWS_LWA_PORT": str(port)}))._head(req) + req.body
    headers = [*req.headers, ("content-length", str(len(req.body)))]
    return {"method": req.method, "target": req.target, "headers": headers, "body": req.body.decode("latin-1"),
            "raw": raw.decode("latin-1")}


class Direct:
    """The app called directly: urllib3 keep-alive from one thread, the same request lwa sends."""

    def __init__(self, port: int) -> None:
        import urllib3

        self.urllib3 = urllib3
        self.pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False)

    def _args(self, event: dict) -> tuple:
        req = app_request(event)
        headers = self.urllib3.HTTPHeaderDict()
        for name, value in req.headers:
            headers.add(name, value)
        headers["content-length"] = str(len(req.body))
        return req.method, req.target, req.body or None, headers

    def buffered(self, event: dict, n: int) -> dict:
        method, target, body, headers = self._args(event)
        lat = []
        cpu = time.thread_time()
        for _ in range(n):
            t0 = time.monotonic()
            resp = self.pool.urlopen(method, target, body=body, headers=headers, decode_content=False)
            if resp.status != 200 or not resp.data:
                raise RuntimeError(f"direct call answered {resp.status}")
            lat.append(time.monotonic() - t0)
        return {"latency_median": median(lat), "latency_p99": pct(lat, 0.99), "cycle_median": median(lat),
                "per_s": n / sum(lat), "cpu": (time.thread_time() - cpu) / n}

    def streamed(self, event: dict, n: int) -> tuple[list[float], float]:
        """(time to first body byte per request, total seconds for the last one's body)."""
        method, target, body, headers = self._args(event)
        ttfb, total = [], 0.0
        for _ in range(n):
            t0 = time.monotonic()
            resp = self.pool.urlopen(method, target, body=body, headers=headers, preload_content=False,
                                     decode_content=False)
            first = resp.read1(65536)
            ttfb.append(time.monotonic() - t0)
            size = len(first)
            while True:
                data = resp.read1(65536)
                if not data:
                    break
                size += len(data)
            total = time.monotonic() - t0
            resp.release_conn()
        return ttfb, total

    def close(self) -> None:
        self.pool.close()


def rt_only(event: bytes, n: int, *args: str) -> FakeRuntime:
    """bench/rt_client.py against a fresh FakeRuntime: the Runtime API round trip without lwa, or
    a null adapter (`adapter-raw`/`adapter-urllib3` modes); the server keeps the timestamps."""
    runtime = FakeRuntime().start()
    ids = [f"rt-{i}" for i in range(n)]
    runtime.push_many([(i, event) for i in ids])
    site = ("-S",) if args[0] in ("buffered", "stream") else ()  # urllib3 comes from site-packages
    try:
        subprocess.run([sys.executable, "-E", *site, str(BENCH / "rt_client.py"), runtime.address, *args],
                       check=True, timeout=300, stdin=subprocess.DEVNULL)
        runtime.wait_done(ids, 30)
    finally:
        runtime.stop()
    return runtime


# ---- 1. start-up ---------------------------------------------------------------------------------

def bench_startup(t: Table, stage: Stage, app_port: int, reps: int) -> None:
    t.section("1. start-up: process start → first GET /invocation/next (app already ready)")
    variants = {
        "layer": (stage.lwa(), stage.cmd("-c", "pass"), stage.dir, {}),
        "checkout": ([sys.executable, "-m", "lwa"], [sys.executable, "-c", "pass"], REPO, {"PYTHONPATH": str(REPO)}),
    }
    results: dict[str, dict[str, list[float]]] = {k: {"lwa": [], "register": [], "bare": [], "floor": []}
                                                  for k in variants}
    (stage.dir / "floor.py").write_bytes((BENCH / "floor.py").read_bytes())
    for _ in range(reps):
        with FakeRuntime() as runtime:  # the floor program of issue 18 (bench/floor.py), same round
            t0 = time.monotonic()
            floor = Proc(stage.cmd("floor.py", "plain"), lambda_env(runtime.address, app_port), stage.dir)
            try:
                results["layer"]["floor"].append(runtime.wait_first_next(20) - t0)
            finally:
                floor.stop()
        for name, (cmd, bare, cwd, extra) in variants.items():
            t0 = time.monotonic()
            subprocess.run(bare, cwd=cwd, env=clean_env(**extra), check=True)
            results[name]["bare"].append(time.monotonic() - t0)
            with FakeRuntime() as runtime:
                env = lambda_env(runtime.address, app_port, **extra)
                t0 = time.monotonic()
                proc = Proc(cmd, env, cwd)
                try:
                    first = runtime.wait_first_next(20)
                finally:
                    proc.stop()
                results[name]["lwa"].append(first - t0)
                results[name]["register"].append(runtime.registered_at - t0)
    t.raw["startup"] = results
    layer = results["layer"]
    ratio = median(layer["lwa"]) / median(layer["bare"])
    floor_ratio = median(layer["lwa"]) / median(layer["floor"])
    t.add("layer (`python -E -S -B lwa/__main__.py`, .pyc): to first poll", ms(median(layer["lwa"])),
          f"floor program {ms(median(layer['floor']))}; ×{floor_ratio:.2f}; "
          f"`python -E -S -B -c pass` {ms(median(layer['bare']))}; ×{ratio:.2f}",
          verdict(floor_ratio <= TARGET_STARTUP_RATIO, f"≤ {TARGET_STARTUP_RATIO}× the floor (issue 18)"))
    t.add("layer: to extension registration", ms(median(layer["register"])), "")
    dev = results["checkout"]
    ratio = median(dev["lwa"]) / median(dev["bare"])
    pyc = "with" if any((REPO / "lwa" / "__pycache__").glob("daemon.*.pyc")) else "no"
    t.add(f"checkout (`python -m lwa`, this machine's site-packages, {pyc} .pyc)", ms(median(dev["lwa"])),
          f"`python -c pass` {ms(median(dev['bare']))}; ×{ratio:.2f}",
          verdict(ratio <= TARGET_STARTUP_RATIO, f"≤ {TARGET_STARTUP_RATIO}× bare"))
    import_check(t, stage, app_port)
    import_summary(t, stage)


def import_check(t: Table, stage: Stage, app_port: int) -> None:
    """Which modules the start-up path imports before the first poll (urllib3's thread aside)."""
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log, FakeRuntime() as runtime:
        env = lambda_env(runtime.address, app_port, BENCH_IMPORT_LOG=log.name)
        proc = Proc(stage.cmd(str(BENCH / "import_probe.py")), env, stage.dir)
        try:
            first = runtime.wait_first_next(20)
            time.sleep(1.0)  # let the background import finish, to report when it did
        finally:
            proc.stop()
        records = [line.split("\t") for line in Path(log.name).read_text().splitlines()]
    main_path = [name for at, thread, name in records if float(at) <= first and thread != "lwa-import"]
    bad = sorted({n for n in main_path if n.split(".")[0] in FORBIDDEN or n in FORBIDDEN})
    background = [(float(at), name) for at, thread, name in records if thread == "lwa-import"]
    t.raw["imports_before_first_poll"] = main_path
    t.add("modules imported by the start-up path before the first poll", str(len(main_path)),
          "forbidden: " + (", ".join(bad) if bad else "none of " + "/".join(("brotli", "gzip", "ssl", "email"))),
          verdict(not bad, "no brotli, gzip, ssl, email"))
    if background:
        done_at = max(at for at, _ in background) - first
        t.add("background urllib3 import (lwa-import thread): modules, finished vs first poll",
              f"{len(background)}", f"last import {done_at * 1000:+.0f} ms from the first poll")


def import_summary(t: Table, stage: Stage) -> None:
    """`-X importtime -c "import lwa.daemon, lwa.loop"`: what the start-up path costs, top subtrees."""
    runs = []
    for _ in range(3):
        out = subprocess.run(stage.cmd("-X", "importtime", "-c", "import lwa.daemon, lwa.loop"), cwd=stage.dir,
                             env=clean_env(), capture_output=True, text=True, check=True).stderr
        rows = []
        for line in out.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            self_us, cum_us, name = line[len("import time:"):].split("|")
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            rows.append((name.strip(), int(self_us), int(cum_us), depth))
        runs.append(rows)
    rows = min(runs, key=lambda r: sum(x[2] for x in r if x[3] == 0))
    total = sum(cum for _, _, cum, depth in rows if depth == 0)
    t.raw["importtime"] = rows
    t.add("`-X importtime` lwa.daemon + lwa.loop, total (best of 3)", f"{total / 1000:.1f} ms", "")
    top = sorted((r for r in rows if r[3] <= 2 and not r[0].startswith("lwa")), key=lambda r: -r[2])[:8]
    t.add("  heaviest stdlib subtrees (cumulative)", ", ".join(f"{n} {c / 1000:.1f}" for n, _, c, _ in top), "ms")
    own = sorted((r for r in rows if r[0].startswith("lwa")), key=lambda r: -r[1])[:6]
    t.add("  lwa modules (self time)", ", ".join(f"{n} {s / 1000:.1f}" for n, s, _, _ in own), "ms")


# ---- 2. per-invocation overhead -----------------------------------------------------------------

def bench_invoke(t: Table, stage: Stage, app_port: int, reps: int, n: int) -> None:
    t.section("2. per buffered invocation: fake Runtime API → lwa → app (1 slot)")
    scenarios = [
        ("v2 (HTTP API)", v2_event("/ok"), n),
        ("v1 multi-value headers", v1_event("/ok"), n),
        ("ALB", alb_event("/ok"), n),
        ("v2, 1 MiB binary response", v2_event("/bin"), max(20, n // 20)),
    ]
    measure_invoke(t, stage, app_port, reps, scenarios)
    measure_spacing(t, "echo app, v2", app_port, reps, n)


def bench_servers(t: Table, stage: Stage, reps: int, n: int) -> None:
    """Section 2 for the v2 event against stock servers: gunicorn (gthread) + Flask, uvicorn + Starlette."""
    import servers  # noqa: PLC0415 - needs Flask, gunicorn, Starlette, uvicorn

    t.section("2b. per buffered invocation, stock servers (v2 event, 1 slot)")
    for name in servers.COMMANDS:
        proc, port = servers.start(name)
        try:
            measure_invoke(t, stage, port, reps, [(f"{name}, v2", v2_event("/ok"), n)])
            measure_spacing(t, f"{name}, v2", port, reps, n)
        finally:
            proc.terminate()
            proc.wait(10)


GAPS_S = (0.0, 0.0003, 0.001)


def spaced_latency(port: int, raw: bytes, gap_s: float, n: int) -> float:
    """Median latency of n keep-alive calls on a raw socket, each sent `gap_s` (spun, not slept)
    after the previous answer: behind lwa the app's calls are that far apart (the Runtime API
    round trip sits between them), while a direct client sends the next one at once."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lat = []
        for _ in range(n):
            until = time.perf_counter() + gap_s
            while time.perf_counter() < until:
                pass
            t0 = time.perf_counter()
            sock.sendall(raw)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(rest) < length:
                rest += sock.recv(65536)
            lat.append(time.perf_counter() - t0)
    return median(lat)


def measure_spacing(t: Table, name: str, port: int, reps: int, n: int) -> None:
    """The app's own latency for lwa's request, back to back and spaced as lwa's calls are: the
    part of the sum-of-parts share that is the app waking up, not lwa working."""
    raw = app_request_spec(v2_event("/ok"), port)["raw"].encode("latin-1")
    spaced_latency(port, raw, 0.0, 100)
    runs: dict[float, list[float]] = {gap: [] for gap in GAPS_S}
    for _ in range(reps):
        for gap in GAPS_S:
            runs[gap].append(spaced_latency(port, raw, gap, max(200, n // 2)))
    base = median(runs[0.0])
    t.raw.setdefault("spacing", {})[name] = {str(gap): xs for gap, xs in runs.items()}
    t.add(f"{name}: the app's latency, calls back to back (raw socket)", ms(base),
          "; ".join(f"{gap * 1000:g} ms apart {ms(median(runs[gap]))} (+{ms(median(runs[gap]) - base)})"
                    for gap in GAPS_S[1:]))


def null_adapter(body: bytes, count: int, payload: str, spec_file: str, port: int, client: str) -> dict:
    """The cycle of bench/rt_client.py's null adapter (`raw` or `urllib3` app client)."""
    runtime = rt_only(body, count, f"adapter-{client}", str(count), payload, str(port), spec_file)
    return timings(runtime, [f"rt-{i}" for i in range(count)])


def measure_invoke(t: Table, stage: Stage, app_port: int, reps: int, scenarios: list) -> None:
    """Each scenario, `reps` times, interleaved: lwa, the direct call, the Runtime API alone and
    the two null adapters, so that every figure of one repetition shares the machine's state."""
    lwa = Lwa(stage, app_port)
    direct = Direct(app_port)
    results: dict = {}
    spec_dir = Path(tempfile.mkdtemp(prefix="lwa-bench-req-"))
    try:
        lwa.run(json.dumps(v2_event("/ok")).encode(), 200)  # warm-up: urllib3 import, connections
        for _ in range(reps):
            for name, event, count in scenarios:
                body = json.dumps(event).encode()
                spec_file = spec_dir / "request.json"
                spec_file.write_text(json.dumps(app_request_spec(event, app_port)))
                lwa.run(body, 10)
                cpu = cpu_s(lwa.proc.pid)
                via = timings(lwa.runtime, lwa.run(body, count))
                via["cpu"] = (cpu_s(lwa.proc.pid) - cpu) / count
                direct.buffered(event, 10)
                base = direct.buffered(event, count)
                payload = str(int(via["size"]))
                rt = rt_only(body, count, "buffered", str(count), payload)
                r = results.setdefault(name, {"lwa": [], "direct": [], "rt": [], "null_urllib3": [], "null_raw": []})
                r["lwa"].append(via)
                r["direct"].append(base)
                r["rt"].append(timings(rt, [f"rt-{i}" for i in range(count)]))
                for client in ("urllib3", "raw"):
                    r[f"null_{client}"].append(null_adapter(body, count, payload, str(spec_file), app_port, client))
    finally:
        shutil.rmtree(spec_dir, ignore_errors=True)
        direct.close()
        lwa.close()
    t.raw.setdefault("invoke", {}).update(results)
    for name, _, count in scenarios:
        r = results[name]

        def m(side: str, key: str, r: dict = r) -> float:
            return median(x[key] for x in r[side])

        def over(side: str, r: dict = r) -> float:
            return median(a["cycle_median"] - b["cycle_median"] for a, b in zip(r["lwa"], r[side]))

        parts = median(a["cycle_median"] - b["cycle_median"] - c["cycle_median"]
                       for a, b, c in zip(r["lwa"], r["direct"], r["rt"]))
        added = m("lwa", "latency_median") - m("direct", "latency_median")
        t.add(f"{name}: invocations/s ({count} per run)", f"{m('lwa', 'per_s'):.0f}/s",
              f"direct {m('direct', 'per_s'):.0f}/s; Runtime API alone {m('rt', 'per_s'):.0f}/s")
        t.add(f"{name}: latency median / p99", f"{ms(m('lwa', 'latency_median'))} / {ms(m('lwa', 'latency_p99'))}",
              f"direct {ms(m('direct', 'latency_median'))} / {ms(m('direct', 'latency_p99'))}")
        t.add(f"{name}: cost per invocation (median cycle)", ms(m("lwa", "cycle_median")),
              f"null adapter {ms(m('null_urllib3', 'cycle_median'))}; raw-socket one "
              f"{ms(m('null_raw', 'cycle_median'))}; direct {ms(m('direct', 'cycle_median'))} + "
              f"Runtime API alone {ms(m('rt', 'cycle_median'))}")
        t.add(f"{name}: CPU time per invocation (user + sys)", ms(m("lwa", "cpu")),
              f"direct client {ms(m('direct', 'cpu'))}; lwa − direct {ms(m('lwa', 'cpu') - m('direct', 'cpu'))}")
        small = "1 MiB" not in name
        t.add(f"{name}: lwa's own share (cycle − null adapter's)", ms(over("null_urllib3")),
              f"sum of parts (cycle − direct − Runtime API) {ms(parts)}; latency added over direct {ms(added)}; "
              f"over the raw-socket null adapter {ms(over('null_raw'))}",
              verdict(over("null_urllib3") < TARGET_OVERHEAD_MS / 1000, f"< {TARGET_OVERHEAD_MS} ms")
              if small else "(no target)")


# ---- 3. concurrency ------------------------------------------------------------------------------

def bench_concurrency(t: Table, stage: Stage, app_port: int, reps: int, quick: bool) -> None:
    t.section("3. concurrency: app sleeps 20 ms per request (threaded app)")
    body = json.dumps(v2_event("/sleep")).encode()
    results = {}
    for slots in (1, 4, 16, 64):
        count = min(max(50, 60 * slots), 1000 if quick else 2500)
        lwa = Lwa(stage, app_port, AWS_LAMBDA_MAX_CONCURRENCY=str(slots))
        try:
            lwa.run(body, slots * 2)  # every slot polling, every connection open
            runs, busy = [], []
            for _ in range(reps):
                cpu = cpu_s(lwa.proc.pid)
                ids = lwa.run(body, count)
                runs.append(timings(lwa.runtime, ids)["per_s"])
                busy.append((cpu_s(lwa.proc.pid) - cpu) / (count / runs[-1]))
            results[slots] = {"per_s": runs, "lwa_cpu_share": busy}
        finally:
            lwa.close()
        ideal = slots / 0.020
        got = median(runs)
        t.add(f"{slots} slot(s): invocations/s ({count} per run)", f"{got:.0f}/s",
              f"ideal {ideal:.0f}/s (slots / 20 ms): {got / ideal:.0%} of it; lwa busy {median(busy):.0%} of a core")
    t.raw["concurrency"] = results


# ---- 4. memory -----------------------------------------------------------------------------------

def idle_rss(stage: Stage, code: str) -> dict[str, int]:
    """VmRSS/VmHWM of `python -E -S -B -c CODE` once CODE ran, the process still alive."""
    proc = subprocess.Popen(stage.cmd("-c", f"import sys; {code}; print(1, flush=True); sys.stdin.read()"),
                            cwd=stage.dir, env=clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdout.readline()
        return status_kb(proc.pid)
    finally:
        proc.stdin.close()
        proc.wait(10)


def bench_memory(t: Table, stage: Stage, app_port: int, count: int) -> None:
    t.section("4. memory of the lwa process (layer run, 1 slot)")
    bare = idle_rss(stage, "pass")
    floor = idle_rss(stage, "import urllib3")
    lwa = Lwa(stage, app_port)
    try:
        lwa.runtime.wait_first_next(20)
        time.sleep(1.0)  # the background urllib3 import finishes
        idle = status_kb(lwa.proc.pid)
        body = json.dumps(v2_event("/ok")).encode()
        ids = []
        for _ in range(count // 1000):
            ids += lwa.run(body, 1000)
        after = status_kb(lwa.proc.pid)
        rate = timings(lwa.runtime, ids)["per_s"]
    finally:
        lwa.close()
    t.raw["memory"] = {"bare": bare, "urllib3": floor, "idle": idle, "after": after}
    mb = 1024.0
    t.add("idle, after start-up (VmRSS / VmHWM)", f"{idle['VmRSS'] / mb:.1f} / {idle['VmHWM'] / mb:.1f} MB",
          f"bare interpreter {bare['VmRSS'] / mb:.1f} MB; + `import urllib3` {floor['VmRSS'] / mb:.1f} MB")
    t.add(f"after {count:,} v2 invocations (VmRSS / VmHWM)",
          f"{after['VmRSS'] / mb:.1f} / {after['VmHWM'] / mb:.1f} MB",
          f"growth {(after['VmRSS'] - idle['VmRSS']) / mb:+.1f} MB; {rate:.0f} invocations/s",
          verdict(after["VmHWM"] / mb < TARGET_RSS_MB, f"peak < {TARGET_RSS_MB:.0f} MB"))


# ---- 5. streaming --------------------------------------------------------------------------------

def bench_streaming(t: Table, stage: Stage, app_port: int, reps: int, n: int, stream_bytes: int) -> None:
    t.section("5. response streaming (AWS_LWA_INVOKE_MODE=response_stream)")
    ttfb_event = v2_event("/ttfb")
    big_event = v2_event("/stream")
    big_event["rawQueryString"] = f"bytes={stream_bytes}"
    lwa = Lwa(stage, app_port, AWS_LWA_INVOKE_MODE="response_stream")
    direct = Direct(app_port)
    res: dict[str, list[float]] = {"lwa_ttfb": [], "direct_ttfb": [], "rt_ttfb": [], "lwa_mbs": [], "direct_mbs": [],
                                   "rt_mbs": []}
    try:
        lwa.run(json.dumps(ttfb_event).encode(), 50)
        for _ in range(reps):
            ids = lwa.run(json.dumps(ttfb_event).encode(), n)
            res["lwa_ttfb"].append(median(lwa.runtime.done[i].first_body_at - lwa.runtime.served[i] for i in ids))
            res["direct_ttfb"].append(median(direct.streamed(ttfb_event, n)[0]))
            rt = rt_only(json.dumps(ttfb_event).encode(), n, "stream", str(n), "10")
            res["rt_ttfb"].append(median(rt.done[f"rt-{i}"].first_body_at - rt.served[f"rt-{i}"] for i in range(n)))
            (rid,) = lwa.run(json.dumps(big_event).encode(), 1)
            done = lwa.runtime.done[rid]
            if done.kind != "stream" or done.size < stream_bytes:
                raise RuntimeError(f"the big stream arrived as {done.kind}, {done.size} bytes")
            res["lwa_mbs"].append(stream_bytes / MIB / (done.at - lwa.runtime.served[rid]))
            res["direct_mbs"].append(stream_bytes / MIB / direct.streamed(big_event, 1)[1])
            rt = rt_only(json.dumps(big_event).encode(), 1, "stream", "1", str(stream_bytes))
            res["rt_mbs"].append(stream_bytes / MIB / (rt.done["rt-0"].at - rt.served["rt-0"]))
    finally:
        direct.close()
        lwa.close()
    t.raw["streaming"] = res
    added = median(a - b for a, b in zip(res["lwa_ttfb"], res["direct_ttfb"]))
    own = median(a - b - c for a, b, c in zip(res["lwa_ttfb"], res["direct_ttfb"], res["rt_ttfb"]))
    t.add(f"time to first body byte, median of {n}", ms(median(res["lwa_ttfb"])),
          f"direct {ms(median(res['direct_ttfb']))}; Runtime API alone {ms(median(res['rt_ttfb']))}")
    t.add("TTFB added by lwa (lwa − direct)", ms(added), f"lwa's own share (− Runtime API alone): {ms(own)}",
          verdict(added < TARGET_TTFB_MS / 1000, f"< {TARGET_TTFB_MS:.0f} ms"))
    t.add(f"{stream_bytes // MIB} MiB stream throughput", f"{median(res['lwa_mbs']):.0f} MiB/s",
          f"direct {median(res['direct_mbs']):.0f} MiB/s; Runtime API alone {median(res['rt_mbs']):.0f} MiB/s")


# ---- main ------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description="lwa benchmarks (issue 6); prints a table of medians.")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and invocations (a smoke run, ~1 min)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (default 3; --quick 1)")
    parser.add_argument("--invocations", type=int, default=None, help="buffered invocations per run (default 2000)")
    parser.add_argument("--json", metavar="FILE", help="also write every raw figure to FILE")
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    reps = args.repeat or (1 if args.quick else 3)
    n = args.invocations or (300 if args.quick else 2000)

    started = time.monotonic()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the start: {load} (other work skews the figures)")
    table = Table()
    stage = Stage()
    app, app_port = start_app()
    try:
        if "startup" in only:
            bench_startup(table, stage, app_port, 5 if args.quick else 15)
        if "invoke" in only:
            bench_invoke(table, stage, app_port, reps, n)
        if "servers" in only:
            bench_servers(table, stage, reps, n)
        if "concurrency" in only:
            bench_concurrency(table, stage, app_port, reps, args.quick)
        if "memory" in only:
            bench_memory(table, stage, app_port, 2000 if args.quick else 10000)
        if "streaming" in only:
            bench_streaming(table, stage, app_port, reps, 50 if args.quick else 200,
                            STREAM_BYTES // 10 if args.quick else STREAM_BYTES)
    finally:
        app.terminate()
        app.wait(10)
        stage.close()
    print()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"lwa benchmarks: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load} at the end, "
          f"{reps} run(s) per figure, {time.monotonic() - started:.0f} s")
    print(table.render())
    if args.json:
        Path(args.json).write_text(json.dumps(table.raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
