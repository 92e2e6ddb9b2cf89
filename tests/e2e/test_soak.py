"""The soak in reduced form: 2,000 invocations through one lwa with 8 slots.

Real events of every source, bodies from 0 B to 256 KB, binary and text; every invocation must
get exactly one response carrying its own marker, request id and body (no loss, no duplicate,
no cross-talk), the app must get each request exactly once, and lwa's memory must stay flat.
The full run (`python bench/soak.py --invocations 20000 --slots 8`) uses the same engine,
tests/support/soak.py.
"""

from __future__ import annotations

from tests.support import soak


def test_two_thousand_mixed_invocations_through_eight_slots() -> None:
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

    def lying(index: int, events: list, seed: int, max_body: int) -> tuple[bytes, soak.Expect]:
        raw, exp = soak.build(index, events, seed, max_body)
        if index == 3:
            exp.body_sha = "0" * 64
        return raw, exp

    report = soak.run_soak(40, 2, seed=3, builder=lying)
    assert report.cross_talk == 1 and report.lost == 0 and not report.ok, report.summary()
