"""Fixtures only; the helpers they use live in tests/support (test modules import those, never this)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import raw_app
from tests.support.process import Lwa, base_env
from tests.support.raw_app import RawApp
from tests.support.runtime_api import RuntimeApiServer


@pytest.fixture
def api() -> Iterator[RuntimeApiServer]:
    """A fresh fake Runtime API for one test."""
    with RuntimeApiServer() as server:
        yield server


@pytest.fixture
def raw() -> Iterator[RawApp]:
    """A raw HTTP/1.1 app answering `ok` until the test swaps its handler."""
    with RawApp(raw_app.ok) as server:
        yield server


@pytest.fixture
def run_lwa(request: pytest.FixtureRequest) -> Iterator[Callable[..., Lwa]]:
    """Start lwa against a Runtime API server and app; at teardown SIGTERM it and require exit 0."""
    started: list[Lwa] = []

    def start(runtime, app_port: int | None, *args: str, expect_exit: int | None = 0, **env: str) -> Lwa:
        address = runtime.address if runtime is not None else None
        lwa = Lwa(base_env(address, app_port, **env), args)
        lwa.expect_exit = expect_exit
        started.append(lwa)
        return lwa

    yield start
    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    problems = []
    for lwa in started:
        code = lwa.stop()
        if failed:
            sys.stdout.write(f"\n--- lwa output ---\n{lwa.output}\n")
        if lwa.expect_exit is not None and code != lwa.expect_exit:
            problems.append(f"lwa exited {code}, expected {lwa.expect_exit}; output:\n{lwa.output}")
    assert not problems, "\n".join(problems)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on the item, so `run_lwa` can print lwa's output after a failure."""
    outcome: Any = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
