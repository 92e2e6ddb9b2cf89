"""Configuration parsing: names, defaults, deprecated aliases and parse rules (docs/behaviour.md §1 and
its decisions)."""

from __future__ import annotations

import pytest

from lwa.config import ConfigError, load_config
from lwa.variables import parse_status_list


def test_defaults():
    c = load_config({})
    assert (c.host, c.port, c.readiness_port, c.readiness_path, c.readiness_protocol) == \
        ("127.0.0.1", 8080, 8080, "/", "http")
    assert c.healthy_status == ((100, 499),)
    assert (c.async_init, c.enable_compression, c.invoke_mode) == (False, False, "buffered")
    assert (c.pass_through_path, c.remove_base_path, c.authorization_source) == ("/events", "", "")
    assert c.error_status_codes == () and c.concurrency == 1 and not c.runtime_api_set
    assert c.readiness_timeout_s is None and c.deadline_margin_ms == 100


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500,502-504,422", ((500, 500), (502, 504), (422, 422))),
        ("500, 502-504, 422", ((500, 500), (502, 504), (422, 422))),
        ("500", ((500, 500),)),
        ("200-204", ((200, 204),)),
        ("invalid", ()),
        ("500-invalid", ()),
        ("200-300-400", ()),
        ("", ()),
        ("500,", ((500, 500),)),
        ("+7", ((7, 7),)),
    ],
)
def test_status_lists(text, expected):
    assert parse_status_list(text)[0] == expected


def test_port_fallbacks_and_readiness_port():
    assert load_config({"PORT": "9090"}).port == 9090
    c = load_config({"AWS_LWA_PORT": "3000", "PORT": "9090"})
    assert (c.port, c.readiness_port) == (3000, 3000)
    assert load_config({"AWS_LWA_PORT": "3000", "AWS_LWA_READINESS_CHECK_PORT": "8000"}).readiness_port == 8000
    assert load_config({"AWS_LWA_PORT": ""}).port == 80


@pytest.mark.parametrize("value", ["notaport", "0", "65536", "-1", "80 80"])
def test_bad_ports_name_the_variable(value):
    with pytest.raises(ConfigError) as info:
        load_config({"AWS_LWA_PORT": value})
    assert "AWS_LWA_PORT" in str(info.value) and value in str(info.value)


def test_deprecated_names_work_with_a_warning_and_new_names_win():
    c = load_config({"HOST": "localhost", "READINESS_CHECK_PORT": "8000", "READINESS_CHECK_PATH": "/health",
                     "READINESS_CHECK_PROTOCOL": "tcp", "REMOVE_BASE_PATH": "/prod", "ASYNC_INIT": "true"})
    assert (c.host, c.readiness_port, c.readiness_path, c.readiness_protocol) == ("localhost", 8000, "/health", "tcp")
    assert c.remove_base_path == "/prod" and c.async_init
    assert sum("is deprecated" in w for w in c.warnings) == 6
    c = load_config({"HOST": "a", "AWS_LWA_HOST": "b"})
    assert c.host == "b" and not c.warnings


def test_booleans_and_enums():
    for text in ("true", "TRUE", "1", "yes"):
        assert load_config({"AWS_LWA_ENABLE_COMPRESSION": text}).enable_compression
    c = load_config({"AWS_LWA_ENABLE_COMPRESSION": "maybe"})
    assert not c.enable_compression and "AWS_LWA_ENABLE_COMPRESSION" in c.warnings[0]
    assert load_config({"AWS_LWA_INVOKE_MODE": "RESPONSE_STREAM"}).invoke_mode == "response_stream"
    c = load_config({"AWS_LWA_INVOKE_MODE": "response-stream"})
    assert c.invoke_mode == "buffered" and c.warnings
    assert load_config({"AWS_LWA_READINESS_CHECK_PROTOCOL": "unknown"}).readiness_protocol == "http"


def test_compression_is_off_with_streaming():
    c = load_config({"AWS_LWA_ENABLE_COMPRESSION": "true", "AWS_LWA_INVOKE_MODE": "response_stream"})
    assert not c.enable_compression
    assert "Compression is not supported with response streaming. Disabling compression." in c.warnings


def test_empty_healthy_list_falls_back_with_a_warning():
    c = load_config({"AWS_LWA_READINESS_CHECK_HEALTHY_STATUS": ""})
    assert c.healthy_status == ((100, 499),) and any("HEALTHY_STATUS" in w for w in c.warnings)
    assert load_config({"AWS_LWA_READINESS_CHECK_HEALTHY_STATUS": "200-399"}).healthy_status == ((200, 399),)
    legacy = load_config({"AWS_LWA_READINESS_CHECK_MIN_UNHEALTHY_STATUS": "400"})
    assert legacy.healthy_status == ((100, 399),) and any("deprecated" in w for w in legacy.warnings)


def test_base_path_is_normalised():
    assert load_config({"AWS_LWA_REMOVE_BASE_PATH": "prod/"}).remove_base_path == "/prod"
    assert load_config({"AWS_LWA_REMOVE_BASE_PATH": "/"}).remove_base_path == ""


def test_runtime_api_proxy_applies_to_runtime_calls_only():
    c = load_config({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LWA_LAMBDA_RUNTIME_API_PROXY": "http://127.0.0.1:9002"})
    assert (c.extension_api, c.runtime_api) == ("127.0.0.1:9001", "127.0.0.1:9002")
    c = load_config({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LWA_LAMBDA_RUNTIME_API_PROXY": "127.0.0.1:9003"})
    assert c.runtime_api == "127.0.0.1:9003"


def test_async_init_ignored_for_snapstart_and_provisioned():
    for kind in ("snap-start", "provisioned-concurrency"):
        c = load_config({"AWS_LWA_ASYNC_INIT": "true", "AWS_LAMBDA_INITIALIZATION_TYPE": kind})
        assert not c.async_init and any("ignored" in w for w in c.warnings)


def test_concurrency_and_lambda_context_values():
    c = load_config({"AWS_LAMBDA_MAX_CONCURRENCY": "16", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"})
    assert c.concurrency == 16 and c.function_memory == 512
    assert load_config({"AWS_LAMBDA_MAX_CONCURRENCY": "0"}).concurrency == 1
    assert load_config({"AWS_LAMBDA_MAX_CONCURRENCY": "x"}).concurrency == 1


def test_readiness_timeout_and_paths_validated():
    assert load_config({"AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS": "2.5"}).readiness_timeout_s == 2.5
    for variable, value in [("AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS", "soon"),
                            ("AWS_LWA_READINESS_CHECK_PATH", "health"),
                            ("AWS_LWA_PASS_THROUGH_PATH", "events"), ("AWS_LWA_HOST", "a b")]:
        with pytest.raises(ConfigError, match=variable):
            load_config({variable: value})


def test_config_is_frozen():
    c = load_config({})
    with pytest.raises(AttributeError):
        c.port = 1


@pytest.mark.parametrize("value", ["0", "-1", "nan", "NaN", "soon", "-inf"])
def test_seconds_refuse_what_is_not_a_positive_number(value):
    with pytest.raises(ConfigError, match="AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS"):
        load_config({"AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS": value})


def test_seconds_bounds_and_defaults():
    assert load_config({"AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS": ""}).readiness_timeout_s is None
    assert load_config({"AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS": "600"}).snapstart_hook_timeout_s == 600.0
    assert load_config({"AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS": ""}).snapstart_hook_timeout_s == 60.0
    with pytest.raises(ConfigError, match="at most 600"):
        load_config({"AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS": "601"})


def test_counts_strict_or_warned():
    assert load_config({"AWS_LWA_DEADLINE_MARGIN_MS": " 250 "}).deadline_margin_ms == 250
    assert load_config({"AWS_LWA_DEADLINE_MARGIN_MS": ""}).deadline_margin_ms == 100
    for value in ("-5", "1.5", "x"):
        with pytest.raises(ConfigError, match="AWS_LWA_DEADLINE_MARGIN_MS"):
            load_config({"AWS_LWA_DEADLINE_MARGIN_MS": value})
    c = load_config({"AWS_LAMBDA_MAX_CONCURRENCY": "0"})
    assert c.concurrency == 1 and any("AWS_LAMBDA_MAX_CONCURRENCY" in w for w in c.warnings)
    assert load_config({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}).function_memory == 0


def test_an_empty_proxy_is_refused_and_an_empty_runtime_api_is_unset():
    with pytest.raises(ConfigError, match="AWS_LWA_LAMBDA_RUNTIME_API_PROXY"):
        load_config({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LWA_LAMBDA_RUNTIME_API_PROXY": ""})
    assert not load_config({"AWS_LAMBDA_RUNTIME_API": ""}).runtime_api_set


def test_readiness_target_is_built_in_one_place():
    c = load_config({"AWS_LWA_PORT": "3000", "AWS_LWA_READINESS_CHECK_PORT": "3001", "AWS_LWA_HOST": "::1",
                     "AWS_LWA_READINESS_CHECK_PATH": "/healthz"})
    assert c.readiness_target == "http://[::1]:3001/healthz"
    assert c._replace(readiness_protocol="tcp").readiness_target == "tcp://[::1]:3001"  # the probed port
    assert c.app_netloc == "[::1]:3000"


def _readme_variables() -> list[str]:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `AWS_")]
    return [name for row in rows for name in row.split("|")[1].replace("`", "").replace(" ", "").split("/")
            if name.startswith("AWS_")]


def _help_variables() -> list[str]:
    from lwa.__main__ import HELP

    block = HELP.split("Variables", 1)[1].split("Deprecated", 1)[0]
    return [word for line in block.splitlines()[1:] for word in line.split()[:3] if word.startswith("AWS_")]


def test_variable_list_is_the_same_in_readme_help_and_config():
    from lwa.config import VARIABLES

    assert _readme_variables() == list(VARIABLES), "README's variable table"
    assert _help_variables() == list(VARIABLES), "`python -m lwa --help`"


def test_every_listed_variable_changes_the_config():
    # Each variable in the list is really read: a usable non-default value changes load_config.
    from lwa.config import VARIABLES

    values = {"AWS_LWA_PORT": "3000", "AWS_LWA_HOST": "::1", "AWS_LWA_READINESS_CHECK_PORT": "3001",
              "AWS_LWA_READINESS_CHECK_PATH": "/h", "AWS_LWA_READINESS_CHECK_PROTOCOL": "tcp",
              "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS": "200", "AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS": "3",
              "AWS_LWA_ASYNC_INIT": "true", "AWS_LWA_REMOVE_BASE_PATH": "/p", "AWS_LWA_PASS_THROUGH_PATH": "/e",
              "AWS_LWA_AUTHORIZATION_SOURCE": "x-auth", "AWS_LWA_ERROR_STATUS_CODES": "500",
              "AWS_LWA_INVOKE_MODE": "response_stream", "AWS_LWA_ENABLE_COMPRESSION": "true",
              "AWS_LWA_LAMBDA_RUNTIME_API_PROXY": "127.0.0.1:1", "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH": "/b",
              "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH": "/a", "AWS_LWA_SNAPSTART_HOOK_TIMEOUT_SECONDS": "5",
              "AWS_LWA_DEADLINE_MARGIN_MS": "5", "AWS_LAMBDA_MAX_CONCURRENCY": "4"}
    base = load_config({})
    for name in VARIABLES:
        if name.startswith("AWS_LAMBDA_LOG_"):
            continue  # read by lwa.logs, not part of Config
        assert load_config({name: values[name]}) != base, name
