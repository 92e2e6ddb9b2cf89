"""Cold start against the floor: lwa beside the least a Python adapter must do (bench/floor.py).

    python bench/coldstart.py [--rounds N] [--json FILE]

Every round runs each variant once, in turn (interleaved, so load drifts hit all alike), each
against a fresh fake Runtime API holding one waiting event, the app already listening:
    bare            `python -E -S -B -c pass`, start to exit
    floor           bench/floor.py plain: raw-socket registration, readiness GET, poll, answer
    floor+urllib3   bench/floor.py urllib3: the same plus `import urllib3` and one pooled request
    lwa             `python -E -S -B -m lwa` from a byte-compiled copy, as the layer runs it
and records, from just before `Popen`: the first `GET /invocation/next` (first poll) and the
arrival of the answer to the waiting event (first response). Then, per round, the app turning
healthy → lwa's first response: the app binds its port at once but listens only 0.4 s later
(connects are refused until then), with an event already waiting.
Prints medians and the ratios against each target of issue 18.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from fake_runtime import FakeRuntime  # noqa: E402
from run import Proc, Stage, clean_env, lambda_env, start_app, v2_event  # noqa: E402

TARGET_FIRST_POLL = 1.5  # × floor
TARGET_FIRST_RESPONSE = 1.1  # × floor+urllib3
TARGET_HEALTHY_MS = 8.0
LISTEN_AFTER_S = 0.4


def one_start(cmd: list[str], cwd: Path, app_port: int, event: bytes, *, wait_exit: bool) -> dict:
    """Start `cmd` against a fresh fake Runtime API with one waiting event: times from Popen."""
    with FakeRuntime() as runtime:
        runtime.push_many([("cold-1", event)])
        t0 = time.monotonic()
        proc = Proc(cmd, lambda_env(runtime.address, app_port), cwd)
        try:
            runtime.wait_done(["cold-1"], 20)
            if wait_exit:
                proc.proc.wait(10)
        except Exception:
            print(proc.output()[-2000:])
            raise
        finally:
            output = proc.output()
            proc.stop()
        done = runtime.done["cold-1"]
        if done.kind != "response":
            raise RuntimeError(f"{cmd}: {done.kind} {done.head[:200]!r}\n{output[-2000:]}")
        return {"register": runtime.registered_at - t0, "first_poll": runtime.first_next_at - t0,
                "first_response": done.at - t0, "log": output}


def bare(stage: Stage) -> float:
    t0 = time.monotonic()
    subprocess.run(stage.cmd("-c", "pass"), cwd=stage.dir, env=clean_env(), check=True)
    return time.monotonic() - t0


def healthy_to_response(stage: Stage, event: bytes) -> tuple[float, str]:
    """lwa started with the app's port bound but not listening; the app listens 0.4 s later."""
    app = subprocess.Popen([sys.executable, str(BENCH / "app.py"), "--listen-after", str(LISTEN_AFTER_S)],
                           stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        port = int(app.stdout.readline().split()[1])
        with FakeRuntime() as runtime:
            runtime.push_many([("cold-1", event)])
            proc = Proc(stage.lwa(), lambda_env(runtime.address, port), stage.dir)
            try:
                listening = float(app.stdout.readline().split()[1])
                runtime.wait_done(["cold-1"], 20)
                end = time.monotonic() + 2
                while "cold start" not in proc.output() and time.monotonic() < end:
                    time.sleep(0.01)  # the line follows the Runtime API's 202
            finally:
                output = proc.output()
                proc.stop()
            return runtime.done["cold-1"].at - listening, output
    finally:
        app.terminate()
        app.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description="lwa cold start against the floor programs (issue 18)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    print(f"load average at the start: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    stage = Stage()
    for name in ("floor.py",):
        (stage.dir / name).write_bytes((BENCH / name).read_bytes())
    app, app_port = start_app()
    event = json.dumps(v2_event("/ok")).encode()
    runs: dict[str, list] = {name: [] for name in ("bare", "floor", "floor+urllib3", "lwa", "healthy",
                                                   "after_detection")}
    example_line = ""
    try:
        for _ in range(2):  # warm the page cache for every file each variant reads
            one_start(stage.cmd("floor.py", "urllib3"), stage.dir, app_port, event, wait_exit=True)
            one_start(stage.lwa(), stage.dir, app_port, event, wait_exit=False)
        for _ in range(args.rounds):
            runs["bare"].append(bare(stage))
            runs["floor"].append(one_start(stage.cmd("floor.py", "plain"), stage.dir, app_port, event, wait_exit=True))
            runs["floor+urllib3"].append(
                one_start(stage.cmd("floor.py", "urllib3"), stage.dir, app_port, event, wait_exit=True))
            runs["lwa"].append(one_start(stage.lwa(), stage.dir, app_port, event, wait_exit=False))
            took, log = healthy_to_response(stage, event)
            runs["healthy"].append(took)
            found = re.search(r"app healthy (\d+) ms, first response (\d+) ms", log)
            if found:
                runs["after_detection"].append((int(found[2]) - int(found[1])) / 1000)
            example_line = next((line for line in log.splitlines() if "cold start" in line), example_line)
    finally:
        app.terminate()
        app.wait(10)
        stage.close()

    def med(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[variant])

    rows = [("bare `python -E -S -B -c pass` (start → exit)", statistics.median(runs["bare"]), None)]
    for variant in ("floor", "floor+urllib3", "lwa"):
        rows.append((f"{variant}: registered (Lambda starts the app only then)", med(variant, "register"), None))
        rows.append((f"{variant}: first poll", med(variant, "first_poll"), None))
        rows.append((f"{variant}: first response of a waiting invocation", med(variant, "first_response"), None))
    print(f"\ncold start, {args.rounds} interleaved rounds, medians (Python {sys.version.split()[0]}, "
          f"load average at the end {' / '.join(f'{x:.1f}' for x in os.getloadavg())})")
    for label, value, _ in rows:
        print(f"  {label}: {value * 1000:.1f} ms")
    poll = med("lwa", "first_poll") / med("floor", "first_poll")
    first = med("lwa", "first_response") / med("floor+urllib3", "first_response")
    healthy = statistics.median(runs["healthy"]) * 1000
    verdict = {True: "PASS", False: "MISS"}
    print(f"  lwa first poll / floor: ×{poll:.2f}   {verdict[poll <= TARGET_FIRST_POLL]} (≤ {TARGET_FIRST_POLL}×)")
    print(f"  lwa first response / floor+urllib3: ×{first:.2f}   "
          f"{verdict[first <= TARGET_FIRST_RESPONSE]} (≤ {TARGET_FIRST_RESPONSE}×)")
    print(f"  app healthy → lwa's first response: {healthy:.1f} ms (p90 "
          f"{sorted(runs['healthy'])[int(0.9 * len(runs['healthy']))] * 1000:.1f} ms)   "
          f"{verdict[healthy <= TARGET_HEALTHY_MS]} (≤ {TARGET_HEALTHY_MS:.0f} ms)")
    if runs["after_detection"]:
        print(f"    of which lwa's readiness check passing → first response (lwa's own line): "
              f"{statistics.median(runs['after_detection']) * 1000:.0f} ms (whole ms)")
    print(f"  lwa's own line (app listening after {LISTEN_AFTER_S} s): {example_line}")
    if args.json:
        for variant in ("floor", "floor+urllib3", "lwa"):
            for r in runs[variant]:
                r.pop("log", None)
        Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
