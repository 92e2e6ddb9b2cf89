"""The soak engine: many invocations through a real lwa process with N slots, checked one by one.

Runs `python -m lwa` (AWS_LAMBDA_MAX_CONCURRENCY = slots) against the fake Runtime API and the
echo app of tests/support, all on loopback. The events are the real payloads in tests/events
(v1, v2, Function URL, ALB, WebSocket and pass-through, in turn), each given a unique marker and
a body of 0 B to `max_body` (log-uniform, with 0 B and the maximum itself mixed in), binary
(base64) or text (UTF-8, with JSON escapes). Up to `window` events are queued at once, so every
slot is always busy.

Checked for every invocation: exactly one outcome posted to the Runtime API, a response (never
an error), and no cross-talk: the echoed request carries this invocation's marker and request
id and exactly this invocation's body bytes (SHA-256). Checked at the app: each invocation
reached it exactly once. lwa's resident memory (VmRSS from /proc/<pid>/status) is sampled
before the first invocation, after 1 % (warm), at half-way and at the end.

tests/e2e/test_soak.py runs it reduced; `python bench/soak.py` is the full run.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

from .apps import AppServer, echo
from .events import MANIFEST, REPO, load_event
from .process import StopTimeout, base_env, stop_process
from .runtime_api import RuntimeApiServer

MARKER_HEADER = "x-soak-marker"
HTTP_KINDS = ("v1", "v2", "alb")
TEXT_TAIL = 'é日😀"\\\n\t</>'  # multi-byte UTF-8 and characters JSON must escape


class SoakRuntimeApi(RuntimeApiServer):
    """The fake Runtime API, but each checked result is handed over and forgotten, so thousands
    of large answers never pile up; a post arriving for an id already taken is a duplicate."""

    def __init__(self) -> None:
        super().__init__()
        self._taken: set[str] = set()

    def take(self, request_id: str) -> list:
        with self._cv:
            self._taken.add(request_id)
            return self._results.pop(request_id, [])

    def late_posts(self) -> dict[str, list]:
        """Posts that arrived for an id after its outcome had been checked."""
        with self._cv:
            return {rid: list(r) for rid, r in self._results.items() if rid in self._taken}


@dataclass
class Expect:
    index: int
    request_id: str
    kind: str
    marker: str
    body_sha: str
    body_len: int


@dataclass
class SoakReport:
    invocations: int
    slots: int
    elapsed_s: float = 0.0
    lost: int = 0
    duplicated: int = 0
    app_duplicated: int = 0
    app_missing: int = 0
    cross_talk: int = 0
    wrong_outcome: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    rss_kb: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    lwa_exit: int | None = None

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.app_duplicated or self.app_missing or self.cross_talk
                    or self.wrong_outcome) and self.lwa_exit == 0

    def summary(self) -> str:
        rate = self.invocations / self.elapsed_s if self.elapsed_s else 0.0
        rss = ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in self.rss_kb.items())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items()))
        return (f"soak: {self.invocations} invocations, {self.slots} slots, {self.elapsed_s:.1f} s "
                f"({rate:.0f}/s), {self.bytes_in / 2**20:.0f} MiB of bodies\n"
                f"  lost {self.lost}, duplicated {self.duplicated}, app duplicated {self.app_duplicated}, "
                f"app missing {self.app_missing}, cross-talk {self.cross_talk}, wrong outcome {self.wrong_outcome}, "
                f"lwa exit {self.lwa_exit}\n"
                f"  by source: {kinds}\n"
                f"  lwa VmRSS: {rss}\n"
                f"  {'PASS' if self.ok else 'FAIL'}")


def load_events() -> list[tuple[str, dict]]:
    """(kind, event) for every real event, in manifest order."""
    return [(kind, load_event(name)) for name, kind in sorted(MANIFEST.items())]


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def build_request_id(index: int, seed: int) -> str:
    return f"soak-{seed}-{index:07d}"


def _body(rng: random.Random, max_body: int) -> tuple[bytes, bool]:
    """(bytes, binary?): 0 B and max_body now and then, else log-uniform in between."""
    pick = rng.random()
    if pick < 0.08:
        size = 0
    elif pick < 0.12:
        size = max_body
    else:
        size = int(math.exp(rng.uniform(0, math.log(max_body))))
    if rng.random() < 0.5:
        return rng.randbytes(size), True
    if size == 0:
        return b"", False
    text = base64.b64encode(rng.randbytes(size * 3 // 4 + 3)).decode()[: max(0, size - 24)] + TEXT_TAIL
    return text.encode("utf-8"), False


def build(index: int, events: list[tuple[str, dict]], seed: int, max_body: int) -> tuple[bytes, Expect]:
    """Event bytes and what must come back for invocation `index` (deterministic per seed)."""
    rng = random.Random(seed * 1_000_003 + index)
    kind, template = events[index % len(events)]
    request_id = build_request_id(index, seed)
    marker = f"m{index}x{rng.getrandbits(64):016x}"
    data, binary = _body(rng, max_body)
    event = copy.deepcopy(template)
    if kind in HTTP_KINDS:
        event["body"] = base64.b64encode(data).decode() if binary else data.decode("utf-8")
        event["isBase64Encoded"] = binary
        if kind == "v2":
            event["rawPath"] = f"/soak/{marker}"
            event.setdefault("headers", {})
            event["headers"] = dict(event["headers"] or {}, **{MARKER_HEADER: marker})
        else:
            event["path"] = f"/soak/{marker}"
            if event.get("multiValueHeaders") is not None:
                event["multiValueHeaders"] = dict(event["multiValueHeaders"], **{MARKER_HEADER: [marker]})
            if event.get("headers") is not None or event.get("multiValueHeaders") is None:
                event["headers"] = dict(event.get("headers") or {}, **{MARKER_HEADER: marker})
        raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
        sent = data
    else:  # pass-through (incl. WebSocket): the whole event is the request body
        if not isinstance(event, dict):
            event = {"value": event}
        event["soakMarker"] = marker
        event["soakBlob"] = base64.b64encode(data).decode() if binary else data.decode("utf-8")
        raw = json.dumps(event, ensure_ascii=False).encode("utf-8")
        sent = raw
    return raw, Expect(index, request_id, kind, marker, hashlib.sha256(sent).hexdigest(), len(sent))


def check(results: list, exp: Expect, report: SoakReport) -> None:
    """One outcome, a response, and the echo of exactly this invocation's request."""
    if not results:
        report.lost += 1
        report.problems.append(f"#{exp.index} {exp.request_id}: no outcome")
        return
    if len(results) > 1:
        report.duplicated += len(results) - 1
        report.problems.append(f"#{exp.index}: {len(results)} posts {[r.kind for r in results]}")
    result = results[0]
    if result.kind != "response" or result.status_sent != 202:
        report.wrong_outcome += 1
        report.problems.append(f"#{exp.index} ({exp.kind}): {result.kind} {result.status_sent} {result.body[:300]!r}")
        return
    try:
        if exp.kind in HTTP_KINDS:
            envelope = json.loads(result.body)
            if envelope.get("statusCode") != 200 or envelope.get("isBase64Encoded"):
                raise ValueError(f"envelope {str(envelope)[:200]}")
            seen = json.loads(envelope["body"])
            headers = {name: value for name, value in seen["headers"]}
            if headers.get(MARKER_HEADER) != exp.marker or not seen["path"].endswith(exp.marker):
                raise ValueError(f"marker {headers.get(MARKER_HEADER)} / {seen['path']}, want {exp.marker}")
        else:
            seen = json.loads(result.body)
            headers = {name: value for name, value in seen["headers"]}
        context = json.loads(headers["x-amzn-lambda-context"])
        if context["request_id"] != exp.request_id:
            raise ValueError(f"request id {context['request_id']}, want {exp.request_id}")
        body = base64.b64decode(seen["body_base64"])
        if len(body) != exp.body_len or hashlib.sha256(body).hexdigest() != exp.body_sha:
            raise ValueError(f"body of {len(body)} bytes does not match ({exp.body_len} sent)")
    except (ValueError, KeyError, TypeError) as exc:
        report.cross_talk += 1
        report.problems.append(f"#{exp.index} ({exp.kind}): {exc}")


def _lwa_env(api_address: str, app_port: int, slots: int) -> dict[str, str]:
    return base_env(api_address, app_port, AWS_LWA_READINESS_CHECK_PATH="/healthz",
                    AWS_LAMBDA_MAX_CONCURRENCY=str(slots), AWS_LAMBDA_FUNCTION_NAME="soak",
                    AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024", AWS_LAMBDA_LOG_LEVEL="WARN")


def _drain_app(app: AppServer, seen_count: dict[str, int]) -> None:
    """Count what reached the app per request id, and drop the bodies it recorded."""
    batch = app.requests[:]
    del app.requests[:len(batch)]
    for s in batch:
        raw = s.header("x-amzn-lambda-context")
        rid = json.loads(raw)["request_id"] if raw else "?"
        seen_count[rid] = seen_count.get(rid, 0) + 1


Builder = Callable[[int, "list[tuple[str, dict]]", int, int], "tuple[bytes, Expect]"]


def run_soak(invocations: int, slots: int = 8, *, seed: int = 1, max_body: int = 256 * 1024, window: int = 0,
             timeout_s: float = 60.0, progress: Callable[[str], None] | None = None,
             builder: Builder | None = None) -> SoakReport:
    """Run the soak and return its report (see the module docstring); never raises on a finding.
    `builder` replaces `build` (a test gives one that lies, to see the checker catch it)."""
    build_one = builder or build
    events = load_events()
    window = window or slots * 4
    report = SoakReport(invocations, slots)
    seen_count: dict[str, int] = {}
    samples = {"warm": max(1, invocations // 100), "middle": invocations // 2}
    with SoakRuntimeApi() as api, AppServer(echo) as app, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-m", "lwa"], cwd=REPO, env=_lwa_env(api.address, app.port, slots),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            api.wait_polling(slots, timeout=30)
            report.rss_kb["start"] = vm_rss_kb(proc.pid)
            in_flight: dict[str, Expect] = {}
            order: list[str] = []
            pushed = done = 0
            started = time.monotonic()
            while done < invocations:
                while pushed < invocations and len(in_flight) < window:
                    raw, exp = build_one(pushed, events, seed, max_body)
                    api.push(raw, request_id=exp.request_id)
                    in_flight[exp.request_id] = exp
                    order.append(exp.request_id)
                    report.bytes_in += exp.body_len
                    report.by_kind[exp.kind] = report.by_kind.get(exp.kind, 0) + 1
                    pushed += 1
                oldest = order[0]
                try:
                    api.wait_result(oldest, timeout_s)
                except AssertionError:
                    pass  # counted as lost by check()
                finished = [rid for rid in order if api.results_for(rid)
                            and all(r.received_at is not None for r in api.results_for(rid))]
                if oldest not in finished:
                    finished.append(oldest)
                for rid in finished:
                    check(api.take(rid), in_flight.pop(rid), report)
                    order.remove(rid)
                    done += 1
                    for name, at in samples.items():
                        if done == at:
                            report.rss_kb[name] = vm_rss_kb(proc.pid)
                    if progress and done % max(1, invocations // 10) == 0:
                        progress(f"  {done}/{invocations} in {time.monotonic() - started:.1f} s, "
                                 f"VmRSS {vm_rss_kb(proc.pid) / 1024:.1f} MiB, problems {len(report.problems)}")
                if len(app.requests) > 4 * window:
                    _drain_app(app, seen_count)
            report.elapsed_s = time.monotonic() - started
            report.rss_kb["end"] = vm_rss_kb(proc.pid)
            time.sleep(0.3)  # a late duplicate post or app request would land now
            for rid, posts in api.late_posts().items():
                report.duplicated += len(posts)
                report.problems.append(f"{rid}: {len(posts)} late post(s) {[p.kind for p in posts]}")
            _drain_app(app, seen_count)
            for index in range(invocations):
                rid = build_request_id(index, seed)
                n = seen_count.pop(rid, 0)
                if n == 0:
                    report.app_missing += 1
                elif n > 1:
                    report.app_duplicated += n - 1
                    report.problems.append(f"{rid}: the app got it {n} times")
            if seen_count:
                report.problems.append(f"the app got requests for unknown ids: {sorted(seen_count)[:5]}")
                report.app_duplicated += sum(seen_count.values())
        finally:
            try:
                report.lwa_exit = stop_process(proc, 10.0)
            except StopTimeout as exc:
                report.lwa_exit = proc.returncode
                report.problems.append(str(exc))
            if report.lwa_exit != 0 or report.problems:
                out.seek(0)
                report.problems.append("lwa output (tail):\n" + out.read()[-4000:].decode("utf-8", "replace"))
    return report
