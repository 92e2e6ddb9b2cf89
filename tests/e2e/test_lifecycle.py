"""Start-up, readiness, init errors, concurrency, deadlines, shutdown, logging and the proxy,
with lwa as a real subprocess against the fake Runtime API and real apps on loopback."""

from __future__ import annotations

import base64
import json
import signal
import time

import pytest

from tests.support.apps import AppServer, echo, fixed, hang, routes, sleep
from tests.support.events import v2_event
from tests.support.runtime_api import RuntimeApiServer

HEALTH = {"AWS_LWA_READINESS_CHECK_PATH": "/healthz"}


def test_registers_then_polls_only_after_the_app_is_ready(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo, ready_after_s=2.3) as app:
        lwa = run_lwa(runtime, app.port, **HEALTH)
        reg = runtime.wait_registration(1, timeout=10)[0]
        assert reg["name"] == "lambda-adapter"
        assert reg["body"] == {"events": ["SHUTDOWN"]}
        line = lwa.wait_log("app is not ready after 2000ms", timeout=10)
        assert f"http://127.0.0.1:{app.port}/healthz" in line and "healthy=100-499" in line
        assert "last=" in line and "refused" in line.lower()
        first_next = runtime.wait_calls("GET", "/2018-06-01/runtime/invocation/next", 1, timeout=10)[0][0]
        assert app.ready_at is not None and first_next >= app.ready_at
        assert app.health_checks, "readiness GETs reached the health path"
        assert runtime.calls[0][2].startswith("/2020-01-01/extension/register"), "registration comes first"


def test_unhealthy_status_keeps_waiting_until_the_range_allows_it(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo, health_status=500) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_HEALTHY_STATUS="200-399", **HEALTH)
        time.sleep(0.5)
        assert runtime.polling == 0 and len(app.health_checks) > 5
        app.health_status = 204
        runtime.wait_polling(1, timeout=10)


def test_tcp_readiness(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PROTOCOL="TCP")
        runtime.wait_polling(1, timeout=10)
        assert not app.health_checks and not app.requests, "TCP readiness sends no HTTP request"
        rid = runtime.push(v2_event("GET", "/tcp"))
        assert runtime.wait_result(rid).kind == "response"


def test_readiness_timeout_posts_an_init_error_naming_the_url(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo, health_status=503) as app:
        t0 = time.monotonic()
        lwa = run_lwa(runtime, app.port, expect_exit=1, AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS="1", **HEALTH)
        assert lwa.wait_exit(10) == 1
        assert len(runtime.init_errors) == 1
        posted = runtime.init_errors[0].received_at - t0
        assert 1.0 <= posted < 2.5, f"init error posted {posted:.2f}s after start, bound 1 s"
        assert runtime.polling == 0 and not any("/invocation/next" in c[2] for c in runtime.calls)
        error = runtime.init_errors[0].json()
        assert error["errorType"] == "Runtime.AppNotReady"
        assert f"http://127.0.0.1:{app.port}/healthz" in error["errorMessage"]
        assert "status 503" in error["errorMessage"] and "100-499" in error["errorMessage"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_LWA_PORT", "notaport"), ("AWS_LWA_READINESS_CHECK_PATH", "health"), ("AWS_LWA_HOST", "bad host")],
)
def test_unusable_configuration_is_an_init_error_naming_the_variable(run_lwa, variable, value):
    with RuntimeApiServer() as runtime:
        lwa = run_lwa(runtime, None, expect_exit=1, **{variable: value})
        assert lwa.wait_exit(10) == 1
        assert runtime.registrations, "registered first, so Lambda shows the init error"
        message = runtime.init_errors[0].json()["errorMessage"]
        assert variable in message and value in message
        assert "Traceback" not in lwa.output


def test_deprecated_names_warn_and_work(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        lwa = run_lwa(runtime, None, PORT=str(app.port), READINESS_CHECK_PATH="/healthz", REMOVE_BASE_PATH="/p")
        lwa.wait_log("Environment variable 'READINESS_CHECK_PATH' is deprecated")
        lwa.wait_log("Environment variable 'REMOVE_BASE_PATH' is deprecated")
        runtime.wait_result(runtime.push(v2_event("GET", "/p/x")))
        assert app.requests[-1].path == "/x"


def test_async_init_ends_init_early_and_finishes_the_wait_at_the_first_invocation(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo, ready_after_s=11.0) as app:
        t0 = time.monotonic()
        lwa = run_lwa(runtime, app.port, AWS_LWA_ASYNC_INIT="true", **HEALTH)
        runtime.wait_polling(1, timeout=15)
        polled = time.monotonic() - t0
        assert 9.0 < polled < 10.8, f"Init ended after {polled:.1f}s"
        rid = runtime.push(v2_event("GET", "/late"))
        result = runtime.wait_result(rid, timeout=10)
        assert result.kind == "response"
        assert app.requests[-1].at >= app.ready_at
        assert lwa.proc.poll() is None


def test_async_init_is_ignored_under_snapstart(run_lwa):
    """Under SnapStart a snapshot must never hold an app that is still booting: with
    AWS_LWA_ASYNC_INIT=true and an app that needs longer than async init's 9.8 s budget, lwa still
    waits for it before the before-checkpoint hook and `restore/next` (the snapshot point)."""
    order: list = []
    with RuntimeApiServer() as runtime, _snap_app(order, 10.5, **{"/before": fixed(200)}) as app:
        runtime.hold_restore()
        lwa = run_lwa(runtime, app.port, AWS_LWA_ASYNC_INIT="true", AWS_LAMBDA_INITIALIZATION_TYPE="snap-start",
                      AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH="/before", **HEALTH)
        lwa.wait_log("AWS_LWA_ASYNC_INIT ignored under AWS_LAMBDA_INITIALIZATION_TYPE=snap-start")
        restore = runtime.wait_calls("GET", "/2018-06-01/runtime/restore/next", 1, timeout=20)[0]
        assert app.ready_at is not None and restore[0] >= app.ready_at, "snapshot taken before the app was ready"
        assert restore[0] - app.ready_at < 2.0
        assert [o[0] for o in order] == ["/before"]
        assert [s.at for s in app.requests if s.path == "/before"][0] >= app.ready_at
        runtime.release_restore()
        runtime.wait_polling(1, timeout=10)
        rid = runtime.push(v2_event("GET", "/first"))
        assert runtime.wait_result(rid).kind == "response"


def test_concurrent_slots_answer_every_invocation_once_with_its_own_body(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(sleep(0.05)) as app:
        run_lwa(runtime, app.port, AWS_LAMBDA_MAX_CONCURRENCY="8", **HEALTH)
        runtime.wait_polling(8, timeout=15)
        t0 = time.monotonic()
        ids = {runtime.push(v2_event("POST", f"/item/{n}", body=json.dumps({"n": n}))): n for n in range(200)}
        for rid, n in ids.items():
            result = runtime.wait_result(rid, timeout=30)
            echoed = json.loads(result.json()["body"])
            assert echoed["path"] == f"/item/{n}"
            assert base64.b64decode(echoed["body_base64"]) == json.dumps({"n": n}).encode()
        wall = time.monotonic() - t0
        assert all(len(runtime.results_for(rid)) == 1 for rid in ids)
        assert len(app.requests) == 200
        contexts = [json.loads(s.header("x-amzn-lambda-context"))["request_id"] for s in app.requests]
        assert sorted(contexts) == sorted(ids)
        assert wall < 200 * 0.05 / 3, f"8 slots took {wall:.2f}s for 200 × 50 ms"
        assert len({s.client_port for s in app.requests}) <= 8 + 2, "one pool sized for the slots"


def test_deadline_gives_app_timeout_before_lambda_would_kill_it(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(routes({"/hang": hang()})) as app:
        run_lwa(runtime, app.port, **HEALTH)
        runtime.wait_polling(1, timeout=10)
        deadline_ms = int(time.time() * 1000) + 1500
        rid = runtime.push(v2_event("GET", "/hang"), deadline_ms=deadline_ms)
        result = runtime.wait_result(rid, timeout=5)
        assert result.kind == "error" and result.json()["errorType"] == "AppTimeout"
        assert time.time() * 1000 < deadline_ms, "reported before the deadline"
        assert runtime.wait_result(runtime.push(v2_event("GET", "/after"))).kind == "response"


def test_sigterm_under_load_finishes_in_flight_invocations_and_exits_0(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(sleep(0.6)) as app:
        lwa = run_lwa(runtime, app.port, AWS_LAMBDA_MAX_CONCURRENCY="4", **HEALTH)
        runtime.wait_polling(4, timeout=15)
        ids = [runtime.push(v2_event("GET", f"/{n}")) for n in range(4)]
        app.wait_requests(4, timeout=10)
        lwa.proc.send_signal(signal.SIGTERM)
        assert lwa.wait_exit(5) == 0
        for rid in ids:
            assert runtime.wait_result(rid, timeout=1).kind == "response"
        assert "lwa stopped" in lwa.output


def test_shutdown_event_stops_lwa_with_exit_0(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        lwa = run_lwa(runtime, app.port, **HEALTH)
        runtime.wait_polling(1, timeout=10)
        runtime.shutdown_extension("spindown", deadline_ms=int(time.time() * 1000) + 2000)
        assert lwa.wait_exit(3) == 0
        assert "SHUTDOWN received (spindown)" in lwa.output


def test_json_logs_parse_and_carry_the_request_id(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(routes({"/fail": fixed(502, [], b"bad")})) as app:
        lwa = run_lwa(runtime, app.port, AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LWA_ERROR_STATUS_CODES="502",
                      AWS_LWA_READINESS_CHECK_HEALTHY_STATUS="", **HEALTH)
        rid = runtime.push(v2_event("GET", "/fail"))
        assert runtime.wait_result(rid).kind == "error"
        lwa.wait_log("invocation failed")
        lwa.stop()
        records = [json.loads(line) for line in lwa.lines if line.strip()]
        assert records and all({"timestamp", "level", "message"} <= set(r) for r in records)
        assert any(r["level"] == "WARN" and "HEALTHY_STATUS" in r["message"] for r in records)
        failed = [r for r in records if "invocation failed" in r["message"]]
        assert failed[0]["requestId"] == rid
        assert all("requestId" not in r for r in records if "ready" in r["message"])


def test_log_level_and_no_secrets_above_debug(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        lwa = run_lwa(runtime, app.port, AWS_LAMBDA_LOG_LEVEL="ERROR", **HEALTH)
        event = v2_event("POST", "/x", body="secret-body-123")
        event["headers"] = {"authorization": "Bearer secret-token", "cookie": "sid=secret-cookie"}
        runtime.wait_result(runtime.push(event))
        runtime.wait_result(runtime.push(b"not json"))
        lwa.stop()
        assert all(line.startswith(("ERROR", "FATAL")) for line in lwa.lines if line.strip()), lwa.output
        assert "secret" not in lwa.output


def test_runtime_api_proxy_gets_runtime_calls_but_not_registration(run_lwa):
    with RuntimeApiServer() as real, RuntimeApiServer() as proxy, AppServer(echo) as app:
        run_lwa(real, app.port, AWS_LWA_LAMBDA_RUNTIME_API_PROXY=f"http://{proxy.address}", **HEALTH)
        proxy.wait_polling(1, timeout=10)
        assert real.registrations and not proxy.registrations
        assert not any("/runtime/" in c[2] for c in real.calls)
        assert proxy.wait_result(proxy.push(v2_event("GET", "/via-proxy"))).kind == "response"


def test_runtime_api_faults_on_next_are_retried(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        runtime.inject("next", ("status", 500, "boom"), times=2)
        runtime.inject("next", ("reset",), times=1)
        lwa = run_lwa(runtime, app.port, **HEALTH)
        rid = runtime.push(v2_event("GET", "/ok"))
        assert runtime.wait_result(rid, timeout=10).kind == "response"
        assert "retrying" in lwa.output


def _snap_app(order: list, ready_after_s: float = 0.0, **hooks) -> AppServer:
    def record(name, handler):
        def h(seen, w):
            order.append((name, seen.client_port, seen.conn_id))
            handler(seen, w)
        return h

    table = {path: record(path, handler) for path, handler in hooks.items()}
    return AppServer(routes(table, default=record("invoke", echo)), ready_after_s=ready_after_s)


def test_snapstart_hook_order_and_no_connection_crosses_the_snapshot(run_lwa):
    order: list = []
    with RuntimeApiServer() as runtime, _snap_app(order, **{"/before": fixed(200), "/after": fixed(204)}) as app:
        runtime.hold_restore()
        run_lwa(runtime, app.port, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start",
                AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH="/before", AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH="/after",
                **HEALTH)
        runtime.wait_calls("GET", "/2018-06-01/runtime/restore/next", 1, timeout=10)
        time.sleep(0.2)
        assert [o[0] for o in order] == ["/before"]
        assert runtime.polling == 0, "no slot polls before the restore"
        checks_before = len(app.health_checks)
        runtime.release_restore()
        runtime.wait_polling(1, timeout=10)
        assert len(app.health_checks) > checks_before, "readiness ran again after the restore"
        rid = runtime.push(v2_event("GET", "/first"))
        assert runtime.wait_result(rid).kind == "response"
        assert [o[0] for o in order] == ["/before", "/after", "invoke"]
        before_conn = order[0][2]
        assert order[2][2] != before_conn, "the first invocation used a connection opened after the restore"
        after_restore_t = [c[0] for c in runtime.calls if c[2].endswith("/restore/next")][0]
        assert app.requests[-1].at > after_restore_t
        assert sum(1 for c in runtime.calls if c[2].endswith("/restore/next")) == 1


@pytest.mark.parametrize("fault", ["status", "refused", "hang"])
def test_failing_before_checkpoint_hook_is_an_init_error(run_lwa, fault):
    handler = {"status": fixed(500, [], b"no"), "hang": hang(), "refused": None}[fault]
    hooks = {"/before": handler} if handler else {}
    path = "/before" if handler else "/missing"
    with RuntimeApiServer() as runtime, _snap_app([], **hooks) as app:
        port = app.port
        env = dict(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start", AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH=path,
                   AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS="1", **HEALTH)
        if fault == "refused":
            # readiness on another, healthy port; the hook's port refuses connections
            with AppServer(echo) as health:
                env["AWS_LWA_READINESS_CHECK_PORT"] = str(health.port)
                app.stop()
                lwa = run_lwa(runtime, port, expect_exit=1, **env)
                assert lwa.wait_exit(10) == 1
        else:
            lwa = run_lwa(runtime, port, expect_exit=1, **env)
            assert lwa.wait_exit(10) == 1
        error = runtime.init_errors[0].json()
        assert error["errorType"] == "Runtime.BeforeCheckpointHookError"
        assert path in error["errorMessage"]
        expected = {"status": "status 500", "hang": "AppTimeout", "refused": "AppConnectionError"}[fault]
        assert expected in error["errorMessage"]


def test_failing_after_restore_hook_is_a_restore_error(run_lwa):
    with RuntimeApiServer() as runtime, _snap_app([], **{"/after": fixed(503, [], b"cold")}) as app:
        lwa = run_lwa(runtime, app.port, expect_exit=1, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start",
                      AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH="/after", **HEALTH)
        assert lwa.wait_exit(10) == 1
        error = runtime.restore_errors[0].json()
        assert error["errorType"] == "Runtime.AfterRestoreHookError"
        assert "/after" in error["errorMessage"] and "status 503" in error["errorMessage"]
        assert not runtime.init_errors


@pytest.mark.parametrize("deadline_ms", [10**16, 1])
def test_absurd_deadlines_are_handled(run_lwa, deadline_ms):
    """A deadline ages away is capped (no socket-timeout overflow); one long past is AppTimeout."""
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        run_lwa(runtime, app.port, **HEALTH)
        result = runtime.wait_result(runtime.push(v2_event("GET", "/d"), deadline_ms=deadline_ms), timeout=10)
        if deadline_ms == 1:
            assert result.kind == "error" and result.json()["errorType"] == "AppTimeout"
        else:
            assert result.kind == "response", result.body


def test_port_warnings_and_buffered_sse_hint(run_lwa):
    sse_app = routes({"/sse": fixed(200, [("Content-Type", "text/event-stream")], b"data: 1\n\n")})
    with RuntimeApiServer() as runtime, AppServer(sse_app) as app:
        lwa = run_lwa(runtime, app.port, AWS_LWA_READINESS_CHECK_PORT="9001", AWS_LWA_READINESS_CHECK_PROTOCOL="tcp",
                      AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS="0.5", expect_exit=None)
        lwa.wait_log("port 9001 is the Lambda Runtime API's")
    with RuntimeApiServer() as runtime, AppServer(sse_app) as app:
        lwa = run_lwa(runtime, app.port, **HEALTH)
        for _ in range(2):
            assert runtime.wait_result(runtime.push(v2_event("GET", "/sse"))).kind == "response"
        lwa.wait_log("text/event-stream in buffered mode")
        assert sum("text/event-stream in buffered mode" in line for line in lwa.lines) == 1


def test_readiness_timeout_after_restore_is_a_restore_error(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo) as app:
        runtime.hold_restore()
        lwa = run_lwa(runtime, app.port, expect_exit=1, AWS_LAMBDA_INITIALIZATION_TYPE="snap-start",
                      AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS="1", **HEALTH)
        runtime.wait_calls("GET", "/2018-06-01/runtime/restore/next", 1, timeout=10)
        app.health_status = 503
        runtime.release_restore()
        assert lwa.wait_exit(10) == 1
        error = runtime.restore_errors[0].json()
        assert error["errorType"] == "Runtime.AppNotReadyAfterRestore"
        assert "status 503" in error["errorMessage"] and "/healthz" in error["errorMessage"]
        assert not runtime.init_errors and runtime.polling == 0


def test_async_init_wait_at_an_invocation_is_bounded_by_its_deadline(run_lwa):
    with RuntimeApiServer() as runtime, AppServer(echo, health_status=503) as app:
        run_lwa(runtime, app.port, AWS_LWA_ASYNC_INIT="true", **HEALTH)
        runtime.wait_polling(1, timeout=15)
        deadline_ms = int(time.time() * 1000) + 1500
        result = runtime.wait_result(runtime.push(v2_event("GET", "/x"), deadline_ms=deadline_ms), timeout=5)
        assert result.kind == "error" and result.json()["errorType"] == "AppConnectionError"
        assert "status 503" in result.json()["errorMessage"]
        assert time.time() * 1000 < deadline_ms and not app.requests
        app.health_status = 200
        assert runtime.wait_result(runtime.push(v2_event("GET", "/y"))).kind == "response"
