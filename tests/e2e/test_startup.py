"""Start-up as users see it: readiness bounded by the wall clock against an endpoint that trickles,
a strict status line, a wait that names what does listen, the cold-start line, and SnapStart's
lifecycle off the main thread. lwa runs as a real subprocess against the fake Runtime API; the
odd health endpoints are raw sockets sending the exact bytes."""

from __future__ import annotations

import re
import socket
import threading
import time

from tests.support.apps import AppServer, echo
from tests.support.events import v2_event
from tests.support.runtime_api import RuntimeApiServer

HEALTH = {"AWS_LWA_READINESS_CHECK_PATH": "/healthz"}


class RawHealth:
    """A listener whose every connection gets `answer`, one byte every `pause_s` seconds."""

    def __init__(self, answer: bytes, pause_s: float = 0.0) -> None:
        self.answer = answer
        self.pause_s = pause_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                if not self.pause_s:
                    conn.sendall(self.answer)
                    return
                for i in range(len(self.answer)):
                    if self.stopping.wait(self.pause_s):
                        return
                    conn.sendall(self.answer[i:i + 1])
            except OSError:
                return

    def __enter__(self) -> RawHealth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.sock.close()


def test_a_trickling_health_endpoint_cannot_stretch_the_readiness_timeout(run_lwa):
    # One byte every 0.5 s: each read succeeds well inside any per-read timeout, so only a
    # wall-clock bound on each attempt and on the whole wait ends it near the 2 s bound.
    with RuntimeApiServer() as runtime, RawHealth(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0.5) as app:
        t0 = time.monotonic()
        lwa = run_lwa(runtime, app.port, expect_exit=1, AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS="2")
        assert lwa.wait_exit(15) == 1
        posted = runtime.init_errors[0].received_at - t0
        assert 2.0 <= posted < 3.5, f"init error posted {posted:.2f}s after start, bound 2 s"
        error = runtime.init_errors[0].json()
        assert error["errorType"] == "Runtime.AppNotReady"
        assert "no complete status line" in error["errorMessage"], error
        assert app.connections >= 2, "each attempt was cut at its own bound and a new one made"
        assert runtime.polling == 0


def test_status_line_must_be_a_full_http_1x_line(run_lwa):
    # `ICY 200 OK` (a SHOUTcast-style line) and a four-digit status are not HTTP/1.x answers:
    # the app is not ready, however healthy the number looks.
    for answer in (b"ICY 200 OK\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/2 200\r\n\r\n"):
        with RuntimeApiServer() as runtime, RawHealth(answer) as app:
            lwa = run_lwa(runtime, app.port, expect_exit=1, AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS="0.5")
            assert lwa.wait_exit(10) == 1
            message = runtime.init_errors[0].json()["errorMessage"]
            assert "bad status line" in message and repr(answer.split(b"\r\n")[0])[2:-1] in message, message


def test_a_bare_status_line_without_reason_is_accepted(run_lwa):
    with RuntimeApiServer() as runtime, RawHealth(b"HTTP/1.0 204\n\n") as app:
        run_lwa(runtime, app.port)
        runtime.wait_polling(1, timeout=10)


def test_the_slow_wait_names_what_does_listen(run_lwa):
    # The most common reason for an init that never ends: the app listens on another port.
    other = socket.create_server(("127.0.0.1", 0))
    free = socket.socket()
    free.bind(("127.0.0.1", 0))  # bound, never listening: refused
    try:
        with RuntimeApiServer() as runtime:
            lwa = run_lwa(runtime, free.getsockname()[1])
            line = lwa.wait_log("app is not ready after 2000ms", timeout=10)
            assert f"nothing listens on 127.0.0.1:{free.getsockname()[1]}; listening: " in line, line
            shown = line.split("listening: ", 1)[1]
            if " more" not in shown:  # a busy test machine may have more listeners than are named
                assert f"127.0.0.1:{other.getsockname()[1]}" in shown, line
            assert runtime.polling == 0
    finally:
        other.close()
        free.close()


def test_cold_start_line_after_the_first_answer(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo, ready_after_s=1.0) as app:
        lwa = run_lwa(runtime, app.port, **HEALTH)
        runtime.wait_polling(1, timeout=10)
        assert not [line for line in lwa.lines if "cold start" in line], "logged only once something was answered"
        rid = runtime.push(v2_event("GET", "/first"))
        assert runtime.wait_result(rid).kind == "response"
        line = lwa.wait_log("cold start: ", timeout=5)
        found = re.search(r"cold start: lwa ready (\d+) ms, app healthy (\d+) ms, first response (\d+) ms$", line)
        assert found, line
        ready, healthy, first = (int(x) for x in found.groups())
        assert ready <= healthy <= first
        assert healthy >= 500, "the app listened only 1 s after it was started, lwa ~0.2 s later"
        assert "requestId" not in line
        rid = runtime.push(v2_event("GET", "/second"))
        runtime.wait_result(rid)
        time.sleep(0.1)
        assert sum("cold start" in line for line in lwa.lines) == 1


def test_readiness_notices_a_new_listener_within_a_few_milliseconds(run_lwa):
    # While connects are refused the probe retries every few ms (not upstream's 10 ms tick);
    # the first poll follows the listener closely. Loose bound: this test checks the mechanism,
    # bench/ measures the figure.
    with RuntimeApiServer() as runtime, AppServer(echo, ready_after_s=0.5) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PROTOCOL="tcp")
        first_next = runtime.wait_calls("GET", "/2018-06-01/runtime/invocation/next", 1, timeout=10)[0][0]
        assert app.ready_at is not None and 0 <= first_next - app.ready_at < 0.25


def test_sigterm_during_the_readiness_wait_after_a_restore_exits_promptly(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        runtime.hold_restore()
        lwa = run_lwa(runtime, app.port, expect_exit=None, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start", **HEALTH)
        runtime.wait_calls("GET", "/2018-06-01/runtime/restore/next", 1, timeout=10)
        app.health_status = 503  # not ready after the restore, and no readiness timeout set
        runtime.release_restore()
        checks = len(app.health_checks)
        deadline = time.monotonic() + 5
        while len(app.health_checks) <= checks + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(app.health_checks) > checks + 2, "lwa is in the readiness wait after the restore"
        t0 = time.monotonic()
        code = lwa.stop(timeout=5)
        assert code == 0 and time.monotonic() - t0 < 1.0
        assert not runtime.restore_errors and runtime.polling == 0
