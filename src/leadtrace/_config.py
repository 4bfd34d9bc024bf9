"""Settings: every option declared once, with its environment variables, default and doc.

Resolution order for each setting: the ``configure()`` argument, then the first set
environment variable in its list (``LEADTRACE_*`` before the standard ``OTEL_*``), then the
default. ``docs/configuration.md`` is generated from :data:`SETTINGS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlparse

from leadtrace.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "Settings", "resolve_settings"]

ValidationMode = Literal["strict", "lenient"]
Protocol = Literal["http/protobuf", "grpc"]

PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod", "live"})
MIN_HASH_KEY_BYTES = 32


@dataclass(frozen=True)
class Setting:
    """Declaration of one setting: where it is read from and what it means."""

    name: str
    env: tuple[str, ...]
    default: str
    doc: str
    parse: Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(f"setting {name!r} is empty; give it a value or unset the variable")
    return value


def _optional_text(_name: str, raw: str) -> str | None:
    value = raw.strip()
    return value or None


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"setting {name!r} must be true or false, got {raw!r}")


def _csv(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _endpoint(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(
            f"setting {name!r} must be an http(s) URL such as http://127.0.0.1:4318, got {raw!r}"
        )
    return value.rstrip("/")


def _protocol(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"http/protobuf", "grpc"}:
        raise ConfigError(
            f"setting {name!r} must be 'http/protobuf' or 'grpc', got {raw!r} "
            "(http/json is not supported by the Python OTLP exporters)"
        )
    return value


def _validation(name: str, raw: str) -> str | None:
    value = raw.strip().lower()
    if not value:
        return None
    if value not in {"strict", "lenient"}:
        raise ConfigError(f"setting {name!r} must be 'strict' or 'lenient', got {raw!r}")
    return value


def _secret(variable: str) -> Callable[[str, str], bytes | None]:
    """Parser of a secret key setting read from ``variable``: at least 32 bytes, or unset."""

    def parse(name: str, raw: str) -> bytes | None:
        if not raw:
            return None
        key = raw.encode("utf-8")
        if len(key) < MIN_HASH_KEY_BYTES:
            raise ConfigError(
                f"setting {name!r} ({variable}) must be at least {MIN_HASH_KEY_BYTES} bytes, "
                f"got {len(key)}; generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'"
            )
        return key

    return parse


_COOKIE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _cookie_name(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or not set(value) <= _COOKIE_NAME_CHARS or len(value) > 64:
        raise ConfigError(
            f"setting {name!r} must be 1-64 letters, digits, '_', '-' or '.', got {raw!r}"
        )
    return value


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"setting {name!r} must be a positive whole number, got {raw!r}")
    return value


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}


def _size(name: str, raw: str) -> int:
    text = raw.strip().lower().replace("_", "")
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = text[len(number) :].strip()
    try:
        value = int(float(number) * _SIZE_UNITS[unit])
    except (KeyError, ValueError):
        value = -1
    if value <= 0:
        raise ConfigError(
            f"setting {name!r} must be a size such as 64MiB, 512k or 1048576, got {raw!r}"
        )
    return value


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"setting {name!r} must be a positive number of seconds, got {raw!r}")
    return value


def _resource_attributes(name: str, raw: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"setting {name!r} must be comma-separated key=value pairs, got {part!r}"
            )
        result[key.strip()] = value.strip()
    return result


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "service_name",
        ("LEADTRACE_SERVICE_NAME", "OTEL_SERVICE_NAME"),
        "",
        "Name of this service (resource attribute `service.name`). Required.",
        _text,
    ),
    Setting(
        "environment",
        ("LEADTRACE_ENVIRONMENT",),
        "development",
        "Deployment environment (`deployment.environment.name`). `production`, `prod` or `live` "
        "switch validation to lenient and require a hash key. Also read from "
        "`deployment.environment.name` in `OTEL_RESOURCE_ATTRIBUTES`.",
        _text,
    ),
    Setting(
        "service_version",
        ("LEADTRACE_SERVICE_VERSION",),
        "",
        "Version of this service (`service.version`).",
        _optional_text,
    ),
    Setting(
        "endpoint",
        ("LEADTRACE_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        "",
        "OTLP collector base URL, e.g. `http://127.0.0.1:4318` (http) or "
        "`http://127.0.0.1:4317` (grpc). Unset: telemetry goes to the local store.",
        _endpoint,
    ),
    Setting(
        "protocol",
        ("LEADTRACE_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        "http/protobuf",
        "OTLP protocol: `http/protobuf` or `grpc`.",
        _protocol,
    ),
    Setting(
        "resource_attributes",
        ("OTEL_RESOURCE_ATTRIBUTES",),
        "",
        "Extra resource attributes as `key=value,key=value`.",
        _resource_attributes,
    ),
    Setting(
        "validation",
        ("LEADTRACE_VALIDATION",),
        "",
        "`strict` raises `EventValidationError` on an invalid event; `lenient` records and "
        "counts it. Default: strict, lenient when the environment is production.",
        _validation,
    ),
    Setting(
        "hash_key",
        ("LEADTRACE_HASH_KEY",),
        "",
        "Secret key (>= 32 bytes) for HMAC-SHA256 of e-mail and phone identity keys. Services "
        "sharing the key produce joinable hashes. Required in production.",
        _secret("LEADTRACE_HASH_KEY"),
    ),
    Setting(
        "propagate_to",
        ("LEADTRACE_PROPAGATE_TO",),
        "localhost,127.0.0.1,::1,*.internal,*.local,*.svc,*.svc.cluster.local",
        "Comma-separated host globs that `inject(carrier, url=...)` may send the leadtrace "
        "header to. Vendor hosts (HubSpot, Salesforce, ...) should never match.",
        _csv,
    ),
    Setting(
        "trusted_networks",
        ("LEADTRACE_TRUSTED_NETWORKS",),
        "127.0.0.0/8,::1/128",
        "Comma-separated client networks (CIDR) whose inbound leadtrace header web "
        "integrations honour; the header from any other client is ignored and counted.",
        _csv,
    ),
    Setting(
        "scrub",
        ("LEADTRACE_SCRUB",),
        "true",
        "Scrub e-mail addresses and phone numbers from every span attribute and log line.",
        _bool,
    ),
    Setting(
        "export_logs",
        ("LEADTRACE_EXPORT_LOGS",),
        "false",
        "Also export leadtrace's structured log records over OTLP (needs an endpoint).",
        _bool,
    ),
    Setting(
        "local_dir",
        ("LEADTRACE_LOCAL_DIR",),
        ".leadtrace",
        "Folder of the local store used when no OTLP endpoint is set.",
        _text,
    ),
    Setting(
        "contracts",
        ("LEADTRACE_CONTRACTS",),
        "",
        "Path of a YAML file with per-stage data contracts (required fields); "
        "replaces the built-in defaults.",
        _optional_text,
    ),
    Setting(
        "cookie_name",
        ("LEADTRACE_COOKIE_NAME",),
        "leadtrace_touch",
        "Name of the signed first-touch attribution cookie the web integrations set.",
        _cookie_name,
    ),
    Setting(
        "cookie_key",
        ("LEADTRACE_COOKIE_KEY",),
        "",
        "Secret key (>= 32 bytes) that signs the first-touch cookie (HMAC-SHA256). Default: "
        "derived from `hash_key` (the public development key outside production).",
        _secret("LEADTRACE_COOKIE_KEY"),
    ),
    Setting(
        "cookie_max_age_days",
        ("LEADTRACE_COOKIE_MAX_AGE_DAYS",),
        "90",
        "Lifetime of the first-touch cookie in days, renewed on each visit that changes the "
        "last touch.",
        _positive_int,
    ),
    Setting(
        "session_events",
        ("LEADTRACE_SESSION_EVENTS",),
        "true",
        "Web integrations emit `session_started` and `campaign_attributed` when a request "
        "starts a new journey.",
        _bool,
    ),
    Setting(
        "consent_audit_log",
        ("LEADTRACE_CONSENT_AUDIT_LOG",),
        "",
        "Path of the hash-chained consent audit log (JSON lines) every `consent_captured` "
        "event is appended to. Unset: `<local_dir>/consent-audit.jsonl` for a global setup, "
        "none for `configure(local=True)`. `off` disables it.",
        _optional_text,
    ),
    # --- delivery: queue, spool, deadlines, value limit (docs/delivery.md) ----------------------
    Setting(
        "spool_dir",
        ("LEADTRACE_SPOOL_DIR",),
        "",
        "Folder of the on-disk spool that holds spans while the OTLP collector is unreachable "
        "or a burst outruns it; they are sent again in order when it answers. Unset: "
        "`<local_dir>/spool` for a global setup, none for `configure(local=True)`. `off` "
        "disables it (spans the collector cannot take are then counted as dropped).",
        _optional_text,
    ),
    Setting(
        "spool_max_bytes",
        ("LEADTRACE_SPOOL_MAX_BYTES",),
        "64MiB",
        "Size cap of the spool folder (e.g. `64MiB`, `512k`, `1048576`). Spans that do not fit "
        "are dropped and counted in `leadtrace.spans.dropped{reason=spool_full}`.",
        _size,
    ),
    Setting(
        "max_queue_size",
        ("LEADTRACE_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_QUEUE_SIZE"),
        "2048",
        "Spans held in memory before export; past it the oldest go to the spool (or are "
        "counted as dropped without one).",
        _positive_int,
    ),
    Setting(
        "export_timeout",
        ("LEADTRACE_EXPORT_TIMEOUT",),
        "10",
        "Seconds one export request may take; a flush or shutdown with less time left shortens it.",
        _seconds,
    ),
    Setting(
        "shutdown_timeout",
        ("LEADTRACE_SHUTDOWN_TIMEOUT",),
        "5",
        "Seconds `shutdown()` (also run at process exit) may take to send what is queued; "
        "what is left goes to the spool.",
        _seconds,
    ),
    Setting(
        "attribute_value_limit",
        (
            "LEADTRACE_ATTRIBUTE_VALUE_LIMIT",
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ),
        "4096",
        "Longest text attribute value exported, in characters; longer values are cut and "
        "the cut recorded in `martech.quality.violations` as `<attribute>:truncated`.",
        _positive_int,
    ),
)
"""Every setting, in documentation order."""


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`resolve_settings`, never by hand."""

    service_name: str
    environment: str
    service_version: str | None
    endpoint: str | None
    protocol: Protocol
    resource_attributes: Mapping[str, str]
    validation: ValidationMode
    hash_key: bytes | None
    propagate_to: tuple[str, ...]
    trusted_networks: tuple[str, ...]
    scrub: bool
    export_logs: bool
    local_dir: str
    contracts: str | None
    cookie_name: str
    cookie_key: bytes | None
    cookie_max_age_days: int
    session_events: bool
    consent_audit_log: str | None
    spool_dir: str | None
    spool_max_bytes: int
    max_queue_size: int
    export_timeout: float
    shutdown_timeout: float
    attribute_value_limit: int
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Where each setting came from: ``argument``, an env var name, or ``default``."""

    @property
    def production(self) -> bool:
        """Whether the environment counts as production."""
        return self.environment.lower() in PRODUCTION_ENVIRONMENTS


_BY_NAME = {s.name: s for s in SETTINGS}
_FIELD_NAMES = {f.name for f in fields(Settings)} - {"sources"}
assert set(_BY_NAME) == _FIELD_NAMES, "every Settings field is declared once in SETTINGS"


def resolve_settings(
    arguments: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting from arguments, then environment variables, then defaults.

    Raises:
        ConfigError: a setting is unknown, missing or invalid; the message names it and the fix.
    """
    env = os.environ if environ is None else environ
    unknown = set(arguments) - set(_BY_NAME)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {sorted(unknown)}; known settings: {sorted(_BY_NAME)}"
        )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        if arguments.get(setting.name) is not None:
            values[setting.name] = _coerce_argument(setting, arguments[setting.name])
            sources[setting.name] = "argument"
            continue
        for var in setting.env:
            if var in env:
                values[setting.name] = setting.parse(var, env[var])
                sources[setting.name] = var
                break
        else:
            values[setting.name] = (
                setting.parse(setting.name, setting.default) if setting.default else None
            )
            sources[setting.name] = "default"

    resource = dict(values["resource_attributes"] or {})
    if sources["environment"] == "default" and "deployment.environment.name" in resource:
        values["environment"] = resource["deployment.environment.name"]
        sources["environment"] = "OTEL_RESOURCE_ATTRIBUTES"
    values["resource_attributes"] = resource

    if not values["service_name"]:
        raise ConfigError(
            "setting 'service_name' is required: pass configure(service_name='landing-web') "
            "or set OTEL_SERVICE_NAME"
        )
    production = str(values["environment"]).lower() in PRODUCTION_ENVIRONMENTS
    if values["validation"] is None:
        values["validation"] = "lenient" if production else "strict"
    if production and values["hash_key"] is None:
        raise ConfigError(
            "setting 'hash_key' is required in production: set LEADTRACE_HASH_KEY to a secret "
            f"of at least {MIN_HASH_KEY_BYTES} bytes (the same value in every service whose "
            "journeys must join)"
        )
    for name in ("scrub", "export_logs"):
        if values[name] is None:
            values[name] = False
    if values["export_logs"] and values["endpoint"] is None:
        raise ConfigError(
            "setting 'export_logs' needs an OTLP endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT "
            "or pass configure(endpoint=...)"
        )
    values["propagate_to"] = tuple(values["propagate_to"] or ())
    values["trusted_networks"] = tuple(values["trusted_networks"] or ())
    return Settings(**values, sources=sources)


_KEYS = frozenset({"hash_key", "cookie_key"})
_BOOLS = frozenset({"scrub", "export_logs", "session_events"})
_LISTS = frozenset({"propagate_to", "trusted_networks"})
_NUMBERS = frozenset(
    {
        "cookie_max_age_days",
        "spool_max_bytes",
        "max_queue_size",
        "export_timeout",
        "shutdown_timeout",
        "attribute_value_limit",
    }
)


def _coerce_argument(setting: Setting, value: Any) -> Any:
    """Arguments get the same checks as environment text; typed values are checked too."""
    name = setting.name
    if isinstance(value, str):
        return setting.parse(name, value)
    if name in _KEYS and isinstance(value, bytes):
        if len(value) < MIN_HASH_KEY_BYTES:
            raise ConfigError(
                f"setting {name!r} must be at least {MIN_HASH_KEY_BYTES} bytes, got {len(value)}"
            )
        return value
    if name in _LISTS and not isinstance(value, (bytes, bytearray)):
        try:
            return tuple(str(v) for v in value)
        except TypeError:
            pass
    if name == "resource_attributes" and isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if name in _BOOLS and isinstance(value, bool):
        return value
    if name in _NUMBERS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return setting.parse(name, str(value))
    expected = {
        **dict.fromkeys(_KEYS, "str or bytes"),
        **dict.fromkeys(_BOOLS, "bool"),
        **dict.fromkeys(_LISTS, "a sequence of str"),
        "resource_attributes": "a mapping of str to str",
        **dict.fromkeys(_NUMBERS, "a number"),
    }.get(name, "str")
    raise ConfigError(f"setting {name!r} must be {expected}, got {type(value).__name__}")
