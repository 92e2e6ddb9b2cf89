"""Invocation latency through AWS's Runtime Interface Emulator: the cold first invoke (Init
included) and warm invokes, medians over several rounds, beside the same app answering the same
request directly (the baseline, measured in the same run).

    python bench/rie_latency.py [--invokes 50] [--rounds 3]

The shape is a container image without a layer: RIE starts a script that runs the echo app of
tests/support/apps.py and then execs `python -m lwa`, which serves as the runtime command (RIE
treats it as an internal extension). That needs no root, unlike a layer on /opt. RIE comes from
tests/support/rie_binary.py (fetched once from PyPI, cached).
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import rie as R  # noqa: E402
from tests.support.events import event_bytes  # noqa: E402
from tests.support.loopback import free_port  # noqa: E402

EVENT = "apigw-v2/rust-runtime__apigw_v2_proxy_request_minimal.json"


def _direct_ms(port: int, n: int) -> list[float]:
    """The baseline: GET / straight to the app over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/")
        conn.getresponse().read()
        out.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return out


def one_round(invokes: int) -> dict[str, float]:
    """Start RIE with lwa as the runtime command; time the first invoke, then `invokes` more."""
    root = R.public_dir("lwa-bench-rie-")
    port = free_port()
    py, repo = shlex.quote(sys.executable), shlex.quote(str(REPO))
    entry = R.write_script(root / "entry.sh", "#!/bin/sh\n"
                           f"cd {repo}\n{py} -m tests.support.apps --port {port} --handler echo &\n"
                           f"exec env PYTHONPATH={repo} AWS_LWA_PORT={port} AWS_LWA_READINESS_CHECK_PATH=/healthz "
                           f"AWS_LAMBDA_LOG_LEVEL=WARN {py} -m lwa\n")
    raw = event_bytes(EVENT)
    try:
        with R.Rie([str(entry)]) as rie:
            cold = rie.invoke(raw)
            rie.check(cold.status == 200, f"first invoke: {cold.status} {cold.body[:300]!r}")
            warm = []
            for _ in range(invokes):
                got = rie.invoke(raw)
                rie.check(got.status == 200, f"invoke: {got.status} {got.body[:300]!r}")
                warm.append(got.elapsed_s * 1000)
            direct = _direct_ms(port, invokes)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"cold_ms": cold.elapsed_s * 1000, "warm_median_ms": statistics.median(warm),
            "warm_p90_ms": sorted(warm)[int(len(warm) * 0.9)], "direct_median_ms": statistics.median(direct)}


def main(argv: list[str] | None = None) -> int:
    """Print each round, then the medians and the warm/direct ratio."""
    p = argparse.ArgumentParser(prog="python bench/rie_latency.py", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--invokes", type=int, default=50, help="warm invokes per round [50]")
    p.add_argument("--rounds", type=int, default=3, help="RIE start-ups [3]")
    args = p.parse_args(argv)
    reason = R.unavailable()
    if reason:
        print(f"RIE unavailable: {reason}", file=sys.stderr)
        return 2
    rounds = []
    for i in range(args.rounds):
        r = one_round(args.invokes)
        rounds.append(r)
        print(f"round {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print("medians: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
    print(f"warm invoke through RIE + lwa / direct app call: {med['warm_median_ms'] / med['direct_median_ms']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
