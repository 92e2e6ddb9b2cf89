"""Start-up to first poll: the self-contained extension beside `python -m lwa` (issue 10).

    python bench/selfcontained_startup.py [--runs 21] [--artifact DIR] [--candidate NAME=CMD]...

Each run starts the adapter as Lambda does (a fresh process, the app already listening) against
a fresh fake Runtime API and times process start -> its first `GET /runtime/invocation/next`.
Candidates take turns within each round (order rotated), so a noisy neighbour hits all alike;
medians are printed with the 10th-90th percentile spread, plus RSS at the first poll.

- `python -m lwa`: this checkout with the default interpreter and its .pyc files (compiled first),
  the way a Python image runs it; `python -E -S -m lwa`: the flags the plain layer's launcher uses.
- `self-contained`: DIR/extensions/lambda-adapter (its sh launcher and bundled interpreter). With
  no --artifact, ./layer-build.sh --self-contained builds one into a temporary directory first.
- `--candidate NAME=CMD`: any other build to compare (for example a PyInstaller onedir binary).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.apps import AppServer, echo  # noqa: E402
from tests.support.runtime_api import RuntimeApiServer  # noqa: E402

NEXT = "/2018-06-01/runtime/invocation/next"


def lambda_env(runtime_address: str, app_port: int) -> dict[str, str]:
    """What Lambda hands an extension, plus PATH; nothing of this machine's PYTHON* settings."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": runtime_address,
        "AWS_LWA_PORT": str(app_port),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    }


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def one_run(cmd: list[str], cwd: Path, app_port: int, timeout: float = 20.0) -> tuple[float, int | None]:
    """Milliseconds from spawn to the first /next poll, and the RSS (KiB) at that moment."""
    with RuntimeApiServer() as rt:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=lambda_env(rt.address, app_port),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            polls = rt.wait_calls("GET", NEXT, 1, timeout=timeout)
            rss = rss_kib(proc.pid)
            return (polls[0][0] - t0) * 1000.0, rss
        except AssertionError:
            proc.kill()
            err = proc.communicate()[1].decode()[-2000:]
            raise SystemExit(f"{shlex.join(cmd)} never polled /next:\n{err}") from None
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stderr:
                proc.stderr.close()


def build_artifact(dest: Path) -> Path:
    print("building the self-contained extension (./layer-build.sh --self-contained) ...", flush=True)
    subprocess.run([str(REPO / "layer-build.sh"), "--self-contained", "--out", str(dest)], check=True,
                   stdout=subprocess.DEVNULL)
    trees = [p for p in dest.iterdir() if p.is_dir()]
    if len(trees) != 1:
        raise SystemExit(f"expected one tree in {dest}, found {trees}")
    return trees[0]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--artifact", type=Path, help="an unpacked self-contained tree (default: build one)")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=CMD")
    args = ap.parse_args()

    compileall.compile_dir(str(REPO / "lwa"), quiet=1)  # `python -m lwa` "with .pyc files"
    with tempfile.TemporaryDirectory(prefix="lwa-sc-bench.") as tmp:
        tree = args.artifact.resolve() if args.artifact else build_artifact(Path(tmp))
        candidates = {
            "python -m lwa": [sys.executable, "-m", "lwa"],
            "python -E -S -m lwa": [sys.executable, "-E", "-S", "-m", "lwa"],
            "self-contained": [str(tree / "extensions" / "lambda-adapter")],
        }
        for spec in args.candidate:
            name, _, cmd = spec.partition("=")
            candidates[name] = shlex.split(cmd)
        times: dict[str, list[float]] = {name: [] for name in candidates}
        rss: dict[str, list[int]] = {name: [] for name in candidates}
        names = list(candidates)
        with AppServer(echo) as app:
            for name in names:  # one warm-up each: page cache, the app's first accept
                one_run(candidates[name], REPO, app.port)
            for r in range(args.runs):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    ms, kib = one_run(candidates[name], REPO, app.port)
                    times[name].append(ms)
                    if kib:
                        rss[name].append(kib)

        print(f"\nstart-up to first poll, {args.runs} interleaved runs (ms; median [p10-p90]), RSS at first poll")
        base = statistics.median(times["python -m lwa"])
        for name in names:
            med = statistics.median(times[name])
            mem = f"{statistics.median(rss[name]) / 1024:.1f} MiB" if rss[name] else "-"
            print(f"  {name:24} {med:7.1f}  [{pct(times[name], 0.1):6.1f}-{pct(times[name], 0.9):6.1f}]"
                  f"  x{med / base:4.2f}  RSS {mem}")
        zips = sorted(Path(tree.parent).glob("*.zip"))
        print(f"\nself-contained tree {tree}: {dir_size(tree) / 1048576:.1f} MiB unpacked")
        for z in zips:
            print(f"  {z.name}: {z.stat().st_size / 1048576:.1f} MiB")
        sc = statistics.median(times["self-contained"])
        verdict = "PASS" if sc <= base else "MISS"
        print(f"\n{verdict}: self-contained {sc:.1f} ms vs python -m lwa {base:.1f} ms (target: no slower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
