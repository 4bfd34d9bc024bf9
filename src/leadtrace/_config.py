"""Settings: every option declared once, with its environment variables, default and doc.

Resolution order for each setting: the ``configure()`` argument, then the first set
environment variable in its list (``LEADTRACE_*`` before the standard ``OTEL_*``), then the
default. ``docs/configuration.md`` is generated from :data:`SETTINGS`.

Owns: the settings table (:data:`SETTINGS`), their parsing and resolution order.

May import: ``errors`` only: everything else receives the resolved :class:`Settings`.
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


def _http_url(name: str, raw: str) -> str | None:
    value = raw.strip()
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"setting {name!r} must be an http:// or https:// URL, got {raw!r}")
    return value or None


def parse_bool(name: str, raw: str) -> bool:
    """``raw`` read as a boolean setting (``true``/``1``/``yes``/``on`` or the opposites).

    Raises ``ConfigError`` naming ``name`` and the accepted values for anything else.
    """
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


def parse_ratio(name: str, raw: str) -> float:
    """A sampling ratio between 0 and 1 read from setting or variable ``name``.

    Raises:
        ConfigError: ``raw`` is not a number between 0 and 1.
    """
    try:
        ratio = float(raw)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:  # also false for nan
        raise ConfigError(
            f"setting {name!r} must be a sampling ratio between 0 and 1 (0.1 keeps one journey "
            f"in ten), got {raw!r}"
        )
    return ratio


def _sample_ratio(name: str, raw: str) -> float | None:
    return parse_ratio(name, raw) if raw.strip() else None


def _local_store(name: str, raw: str) -> tuple[str, ...]:
    kinds = _csv(name, raw)
    unknown = set(kinds) - {"sqlite", "jsonl"}
    if unknown or not kinds:
        raise ConfigError(
            f"setting {name!r} must list 'sqlite' and/or 'jsonl' (comma-separated), got {raw!r}"
        )
    return kinds


def _choice(*options: str) -> Callable[[str, str], str]:
    """Parser of a setting that takes one of ``options`` (the first is the default)."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower().replace("-", "_")
        if value not in options:
            raise ConfigError(f"setting {name!r} must be one of {list(options)}, got {raw!r}")
        return value

    return parse


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
        parse_bool,
    ),
    Setting(
        "export_logs",
        ("LEADTRACE_EXPORT_LOGS",),
        "false",
        "Also export leadtrace's structured log records over OTLP (needs an endpoint).",
        parse_bool,
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
        parse_bool,
    ),
    Setting(
        "grafana_url",
        ("LEADTRACE_GRAFANA_URL",),
        "",
        "Grafana base URL: `record_change()` (and the deployment `configure()` records) also "
        "post an annotation there, in the background. Needs `grafana_token`.",
        _http_url,
    ),
    Setting(
        "grafana_token",
        ("LEADTRACE_GRAFANA_TOKEN",),
        "",
        "Grafana service-account token with annotations:write, for `grafana_url`.",
        _optional_text,
    ),
    Setting(
        "journey_spans",
        ("LEADTRACE_JOURNEY_SPANS",),
        "true",
        "`journey()` opens a `journey` span when it starts a journey with no span current, so "
        "the journey's spans in this process form one trace (linked to the journey's origin "
        "when it came from another process).",
        parse_bool,
    ),
    Setting(
        "sample_ratio",
        ("LEADTRACE_SAMPLE_RATIO",),
        "",
        "Share of journeys kept (0 to 1), decided by journey id so every service keeps or "
        "drops a whole journey; failures, invalid events and synthetic journeys are always "
        "kept. Unset: `OTEL_TRACES_SAMPLER=traceidratio` (or `parentbased_traceidratio`) with "
        "`OTEL_TRACES_SAMPLER_ARG` selects the same sampler; otherwise everything is kept. "
        "See `docs/deploy.md`.",
        _sample_ratio,
    ),
    Setting(
        "local_store",
        ("LEADTRACE_LOCAL_STORE",),
        "sqlite,jsonl",
        "Local stores written when no OTLP endpoint is set, under `local_dir`: `sqlite` (the "
        "journey store `journeys.db`, read by `leadtrace journeys`) and/or `jsonl` "
        "(`spans.jsonl`, one JSON object per span).",
        _local_store,
    ),
    Setting(
        "store_max_mb",
        ("LEADTRACE_STORE_MAX_MB",),
        "256",
        "Size the journey store is kept under, in MiB; the journeys seen least recently are "
        "deleted first.",
        _positive_int,
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
    # --- web integrations: consent before cookies, campaign id, third-party request attributes
    Setting(
        "consent_policy",
        ("LEADTRACE_CONSENT_POLICY",),
        "opt_in",
        "When the web integrations may write the first-touch cookie. `opt_in`: only once the "
        "request's consent status is `granted` (from `annotate(consent=...)`, TCF or your "
        "banner). `legitimate_interest`: unless consent is denied or withdrawn, or `Sec-GPC: "
        "1` is sent. Under both, a denial deletes the cookie and no journey continues from it.",
        _choice("opt_in", "legitimate_interest"),
    ),
    Setting(
        "campaign_id_params",
        ("LEADTRACE_CAMPAIGN_ID_PARAMS",),
        "utm_id,utm_campaign",
        "Landing-URL parameters that give `martech.campaign.id`, in order: the first present "
        "wins and its name goes to `martech.campaign.id_source`.",
        _csv,
    ),
    Setting(
        "url_query",
        ("LEADTRACE_URL_QUERY",),
        "redact",
        "What the web integrations leave of the query string in OpenTelemetry's server span "
        "attributes (`http.url`, `http.target`, `url.full`, `url.query`). `redact`: every "
        "value but those of `url_query_keep` becomes `REDACTED` (names stay); `drop`: the "
        "query is removed; `keep`: untouched (click ids leave the process).",
        _choice("redact", "drop", "keep"),
    ),
    Setting(
        "url_query_keep",
        ("LEADTRACE_URL_QUERY_KEEP",),
        "utm_source,utm_medium,utm_campaign,utm_term,utm_content,utm_id",
        "Query parameters whose values `url_query=redact` keeps (comma-separated names).",
        _csv,
    ),
    Setting(
        "client_address",
        ("LEADTRACE_CLIENT_ADDRESS",),
        "truncate",
        "The client IP in server span attributes (`client.address`, `net.peer.ip`, ...). "
        "`truncate`: IPv4 to its /24, IPv6 to its /48 network; `drop`: removed; `keep`: as is.",
        _choice("truncate", "drop", "keep"),
    ),
    Setting(
        "user_agent",
        ("LEADTRACE_USER_AGENT",),
        "reduce",
        "The user agent in server span attributes (`user_agent.original`, `http.user_agent`). "
        "`reduce`: browser family and major version plus OS family (`Chrome 120 / macOS`); "
        "`drop`: removed; `keep`: the full string.",
        _choice("reduce", "drop", "keep"),
    ),
    Setting(
        "asgi_event_context",
        ("LEADTRACE_ASGI_EVENT_CONTEXT",),
        "journey_id",
        "Business attributes on OpenTelemetry's per-message ASGI spans (`GET / http send`, "
        "`http receive`). `journey_id`: only `martech.journey.id` (they stay findable); "
        "`full`: every journey attribute, like any other span (about 10 more per span).",
        _choice("journey_id", "full"),
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
        "schedule_delay_ms",
        ("LEADTRACE_SCHEDULE_DELAY_MS", "OTEL_BSP_SCHEDULE_DELAY"),
        "1000",
        "Milliseconds between two deliveries while the queue is not full (a full queue is "
        "delivered at once).",
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
    grafana_url: str | None
    grafana_token: str | None
    journey_spans: bool
    consent_audit_log: str | None
    sample_ratio: float | None
    local_store: tuple[str, ...]
    store_max_mb: int
    consent_policy: str
    campaign_id_params: tuple[str, ...]
    url_query: str
    url_query_keep: tuple[str, ...]
    client_address: str
    user_agent: str
    asgi_event_context: str
    spool_dir: str | None
    spool_max_bytes: int
    max_queue_size: int
    schedule_delay_ms: int
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
    values["campaign_id_params"] = tuple(values["campaign_id_params"] or ())
    values["url_query_keep"] = tuple(values["url_query_keep"] or ())
    return Settings(**values, sources=sources)


_KEYS = frozenset({"hash_key", "cookie_key"})
_BOOLS = frozenset(s.name for s in SETTINGS if s.parse is parse_bool)
_LISTS = frozenset({"propagate_to", "trusted_networks", "campaign_id_params", "url_query_keep"})
_NUMBERS = frozenset(
    {
        "cookie_max_age_days",
        "spool_max_bytes",
        "max_queue_size",
        "schedule_delay_ms",
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
    if name == "sample_ratio" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return setting.parse(name, str(value))
    if name == "store_max_mb" and isinstance(value, int) and not isinstance(value, bool):
        return setting.parse(name, str(value))
    if name == "local_store" and isinstance(value, (list, tuple)):
        return setting.parse(name, ",".join(map(str, value)))
    expected = {
        **dict.fromkeys(_KEYS, "str or bytes"),
        **dict.fromkeys(_BOOLS, "bool"),
        **dict.fromkeys(_LISTS, "a sequence of str"),
        "resource_attributes": "a mapping of str to str",
        "cookie_max_age_days": "int",
        "sample_ratio": "float",
        "store_max_mb": "int",
        "local_store": "a sequence of str",
        **dict.fromkeys(_NUMBERS, "a number"),
    }.get(name, "str")
    raise ConfigError(f"setting {name!r} must be {expected}, got {type(value).__name__}")
