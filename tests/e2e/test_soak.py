"""The soak of bench/soak.py in reduced form: 2,000 invocations through one lwa with 8 slots.

Real events of every source, bodies from 0 B to 256 KB, binary and text; every invocation must
get exactly one response carrying its own marker, request id and body (no loss, no duplicate,
no cross-talk), the app must get each request exactly once, and lwa's memory must stay flat.
The full run (`python bench/soak.py --invocations 20000 --slots 8`) uses the same code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def _soak_module():
    """bench/ is not a package: load soak.py by path (fresh each time, so a test may patch it)."""
    spec = importlib.util.spec_from_file_location("lwa_bench_soak", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_two_thousand_mixed_invocations_through_eight_slots() -> None:
    soak = _soak_module()
    report = soak.run_soak(2000, 8, seed=7)
    detail = report.summary() + "\n" + "\n".join(report.problems[:10])
    assert report.lost == 0, detail
    assert report.duplicated == 0, detail
    assert report.app_duplicated == 0 and report.app_missing == 0, detail
    assert report.cross_talk == 0, detail
    assert report.wrong_outcome == 0, detail
    assert report.lwa_exit == 0, detail
    assert set(report.by_kind) == {"v1", "v2", "alb", "websocket", "passthrough"}, detail
    # memory flat: after warming up, no growth with the number of invocations served
    rss = report.rss_kb
    assert rss["end"] - rss["warm"] < 24 * 1024, detail
    assert rss["end"] - rss["middle"] < 16 * 1024, detail


def test_soak_detects_cross_talk() -> None:
    """The checker itself can fail: a body that is not the one sent is reported as cross-talk."""
    soak = _soak_module()
    original = soak.build

    def swapped(index, events, seed, max_body):
        raw, exp = original(index, events, seed, max_body)
        if index == 3:
            exp.body_sha = "0" * 64
        return raw, exp

    soak.build = swapped
    report = soak.run_soak(40, 2, seed=3)
    assert report.cross_talk == 1 and report.lost == 0 and not report.ok, report.summary()
