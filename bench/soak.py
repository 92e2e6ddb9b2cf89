"""Soak: many invocations through a real lwa process with N slots, checked one by one.

    python bench/soak.py --invocations 20000 --slots 8 [--seed 1] [--max-body 262144] [--window 32]

The engine and what it checks are in tests/support/soak.py (tests/e2e/test_soak.py runs it
reduced). Prints one line per 10 % and a final report; exit status 0 only when lost =
duplicated = cross-talk = wrong outcomes = 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.soak import run_soak  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the soak with the command line's sizes; exit status 0 only when it passed."""
    p = argparse.ArgumentParser(prog="python bench/soak.py", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--invocations", type=int, default=20_000)
    p.add_argument("--slots", type=int, default=8, help="AWS_LAMBDA_MAX_CONCURRENCY for lwa [8]")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-body", type=int, default=256 * 1024, help="largest request body in bytes [262144]")
    p.add_argument("--window", type=int, default=0, help="events queued at once [4 x slots]")
    args = p.parse_args(argv)
    print(f"soak: {args.invocations} invocations, {args.slots} slots, bodies 0-{args.max_body} B, seed {args.seed}",
          flush=True)
    report = run_soak(args.invocations, args.slots, seed=args.seed, max_body=args.max_body, window=args.window,
                      progress=lambda line: print(line, flush=True))
    print(report.summary())
    for problem in report.problems[:20]:
        print("  !", problem)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
