"""Configuration parsing: names, defaults, deprecated aliases and parse rules (SPEC §1, Part A)."""

from __future__ import annotations

import pytest

from lwa.config import ConfigError, load_config, parse_status_list


def test_defaults():
    c = load_config({})
    assert (c.host, c.port, c.readiness_port, c.readiness_path, c.readiness_protocol) == ("127.0.0.1", 8080, 8080, "/", "http")
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
    for variable, value in [("AWS_LWA_READINESS_CHECK_TIMEOUT_SECONDS", "soon"), ("AWS_LWA_READINESS_CHECK_PATH", "health"),
                            ("AWS_LWA_PASS_THROUGH_PATH", "events"), ("AWS_LWA_HOST", "a b")]:
        with pytest.raises(ConfigError, match=variable):
            load_config({variable: value})


def test_config_is_frozen():
    c = load_config({})
    with pytest.raises(AttributeError):
        c.port = 1
