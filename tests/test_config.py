"""Settings resolution: arguments, then LEADTRACE_*/OTEL_* variables, then defaults."""

from __future__ import annotations

import pytest

from leadtrace._config import SETTINGS, resolve_settings
from leadtrace.errors import ConfigError

KEY = "k" * 40


def test_argument_wins_over_environment() -> None:
    """An explicit argument beats both LEADTRACE_* and OTEL_* variables."""
    env = {"LEADTRACE_SERVICE_NAME": "from-lt", "OTEL_SERVICE_NAME": "from-otel"}
    settings = resolve_settings({"service_name": "from-arg"}, env)
    assert settings.service_name == "from-arg"
    assert settings.sources["service_name"] == "argument"


def test_leadtrace_variable_wins_over_otel_variable() -> None:
    """LEADTRACE_* is read before the standard OTEL_* variable."""
    env = {"LEADTRACE_SERVICE_NAME": "from-lt", "OTEL_SERVICE_NAME": "from-otel"}
    assert resolve_settings({}, env).service_name == "from-lt"


def test_standard_otel_variables_are_read() -> None:
    """OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT/PROTOCOL and resource attributes apply."""
    env = {
        "OTEL_SERVICE_NAME": "svc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317/",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_RESOURCE_ATTRIBUTES": "team=growth,deployment.environment.name=staging",
    }
    settings = resolve_settings({}, env)
    assert settings.service_name == "svc"
    assert settings.endpoint == "http://127.0.0.1:4317"
    assert settings.protocol == "grpc"
    assert settings.resource_attributes["team"] == "growth"
    assert settings.environment == "staging"
    assert settings.sources["environment"] == "OTEL_RESOURCE_ATTRIBUTES"


def test_defaults_are_strict_outside_production() -> None:
    """Without settings, validation is strict and the protocol is http/protobuf."""
    settings = resolve_settings({"service_name": "svc"}, {})
    assert (settings.environment, settings.validation, settings.protocol) == (
        "development",
        "strict",
        "http/protobuf",
    )
    assert settings.endpoint is None


def test_production_defaults_to_lenient_with_a_key() -> None:
    """Production switches validation to lenient."""
    settings = resolve_settings(
        {"service_name": "svc", "environment": "production", "hash_key": KEY}, {}
    )
    assert settings.validation == "lenient"
    assert settings.production


def test_production_without_hash_key_names_the_variable() -> None:
    """A production setup without a hash key fails loudly, naming LEADTRACE_HASH_KEY."""
    with pytest.raises(ConfigError, match="LEADTRACE_HASH_KEY"):
        resolve_settings({"service_name": "svc", "environment": "production"}, {})


def test_missing_service_name_names_the_fix() -> None:
    """No service name anywhere is a ConfigError that names OTEL_SERVICE_NAME."""
    with pytest.raises(ConfigError, match="OTEL_SERVICE_NAME"):
        resolve_settings({}, {})


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
        ({"LEADTRACE_VALIDATION": "loose"}, "LEADTRACE_VALIDATION"),
        ({"LEADTRACE_HASH_KEY": "short"}, "at least 32 bytes"),
        ({"LEADTRACE_SCRUB": "maybe"}, "LEADTRACE_SCRUB"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "key=value"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], needle: str) -> None:
    """Each invalid value raises ConfigError with the variable or rule in the message."""
    with pytest.raises(ConfigError, match=needle.replace("/", ".")):
        resolve_settings({"service_name": "svc"}, env)


def test_unknown_argument_lists_known_settings() -> None:
    """A misspelt setting is rejected with the list of known ones."""
    with pytest.raises(ConfigError, match="known settings"):
        resolve_settings({"servce_name": "x"}, {})


def test_export_logs_needs_an_endpoint() -> None:
    """Asking for OTLP log export without an endpoint explains what to set."""
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        resolve_settings({"service_name": "svc", "export_logs": True}, {})


def test_every_setting_is_documented_with_an_env_var() -> None:
    """Each declared setting has at least one variable and a doc string."""
    assert all(s.env and s.doc for s in SETTINGS)


def test_list_settings_parse_from_csv() -> None:
    """Comma-separated variables become tuples."""
    settings = resolve_settings(
        {"service_name": "svc"}, {"LEADTRACE_PROPAGATE_TO": "a.internal, *.svc ,"}
    )
    assert settings.propagate_to == ("a.internal", "*.svc")


def test_configure_takes_every_setting_as_a_keyword() -> None:
    """Each declared setting is a keyword-only argument of configure()."""
    import inspect

    import leadtrace

    params = inspect.signature(leadtrace.configure).parameters
    for setting in SETTINGS:
        assert params[setting.name].kind is inspect.Parameter.KEYWORD_ONLY, setting.name


def test_typed_arguments_are_checked() -> None:
    """bytes keys, bools, ints and sequences pass; wrong types name the expected type."""
    settings = resolve_settings(
        {
            "service_name": "svc",
            "cookie_key": b"c" * 32,
            "session_events": False,
            "cookie_max_age_days": 30,
            "trusted_networks": ["10.0.0.0/8"],
        },
        {},
    )
    assert settings.cookie_key == b"c" * 32
    assert settings.session_events is False
    assert settings.cookie_max_age_days == 30
    assert settings.trusted_networks == ("10.0.0.0/8",)
    with pytest.raises(ConfigError, match="'session_events' must be bool"):
        resolve_settings({"service_name": "svc", "session_events": 1}, {})
    with pytest.raises(ConfigError, match="positive whole number"):
        resolve_settings({"service_name": "svc", "cookie_max_age_days": 0}, {})
