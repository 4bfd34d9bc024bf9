"""collector-config/: the collector, compose, Prometheus and Grafana files checked by structure.

No collector binary or container runtime runs here, so these tests check what a collector would
refuse or silently get wrong: undefined or unused components, pipelines without a receiver or
an exporter, processor order, plain hashing of identities, sampling policies on attribute
names leadtrace does not emit, and endpoints that do not line up between the application
(what ``configure()`` reads), the agent, the gateways and the backends.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from leadtrace import semconv
from leadtrace._config import resolve_settings
from leadtrace.events import new_event_id

ROOT = Path(__file__).resolve().parents[1] / "collector-config"
COLLECTORS = ("agent.yaml", "gateway.yaml")
RELEASE = "0.154.0"
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
KNOWN_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch", "redaction", "transform", "tail_sampling"},
    "exporters": {"otlp", "load_balancing", "prometheus"},
    "connectors": {"span_metrics", "forward"},
    "extensions": {"health_check"},
}
"""Component types of the contrib release the configs were written for (typos fail here)."""
MARTECH_NAMES = {
    value
    for name, value in vars(semconv).items()
    if name.isupper() and isinstance(value, str) and value.startswith("martech.")
}


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return data


def _collector(name: str) -> dict[str, Any]:
    return _load(name)


def _pipelines() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in COLLECTORS:
        for pipeline, spec in _collector(name)["service"]["pipelines"].items():
            yield name, pipeline, spec


def _type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _host_port(endpoint: str) -> tuple[str, int]:
    parsed = urlparse(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    assert parsed.hostname is not None, endpoint
    assert parsed.port is not None, endpoint
    return parsed.hostname, parsed.port


def _receiver_port(collector: str, protocol: str) -> int:
    endpoint = _collector(collector)["receivers"]["otlp"]["protocols"][protocol]["endpoint"]
    return _host_port(endpoint)[1]


def _compose() -> dict[str, Any]:
    return _load("docker-compose.yaml")


# --- every file parses and says what it was written for -------------------------------------


@pytest.mark.parametrize(
    "name",
    sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.y*ml")),
)
def test_every_config_parses_and_names_its_release(name: str) -> None:
    """Every YAML file parses and carries a comment naming the collector release it targets."""
    text = (ROOT / name).read_text(encoding="utf-8")
    assert isinstance(yaml.safe_load(text), dict)
    assert f"OpenTelemetry Collector Contrib v{RELEASE}" in text


def test_the_compose_images_are_pinned_and_match_the_release() -> None:
    """Every image has an exact version tag, and the collectors run the release the configs name."""
    services = _compose()["services"]
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, name
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned"
    for collector in ("otel-agent", "otel-gateway"):
        assert f"otel/opentelemetry-collector-contrib:{RELEASE}" == services[collector]["image"]


# --- collector structure --------------------------------------------------------------------


@pytest.mark.parametrize("name", COLLECTORS)
def test_every_referenced_component_is_defined_with_a_known_type(name: str) -> None:
    """Pipelines and service extensions name only components the file defines, of types the
    target release has."""
    config = _collector(name)
    defined = {kind: set(config.get(kind) or {}) for kind in KINDS}
    for kind in KINDS:
        for component in defined[kind]:
            assert _type(component) in KNOWN_TYPES[kind], f"{name}: unknown {kind} {component}"
    assert set(config["service"].get("extensions", [])) <= defined["extensions"]
    for pipeline, spec in config["service"]["pipelines"].items():
        for component in spec.get("receivers", []):
            assert component in defined["receivers"] | defined["connectors"], (pipeline, component)
        for component in spec.get("processors", []):
            assert component in defined["processors"], (pipeline, component)
        for component in spec.get("exporters", []):
            assert component in defined["exporters"] | defined["connectors"], (pipeline, component)


@pytest.mark.parametrize("name", COLLECTORS)
def test_every_defined_component_is_used(name: str) -> None:
    """No component is defined and left out of every pipeline (easy to miss in a review)."""
    config = _collector(name)
    used: set[str] = set(config["service"].get("extensions", []))
    for spec in config["service"]["pipelines"].values():
        for role in ("receivers", "processors", "exporters"):
            used.update(spec.get(role, []))
    for kind in KINDS:
        assert set(config.get(kind) or {}) <= used, f"{name}: unused {kind}"


@pytest.mark.parametrize("name", COLLECTORS)
def test_every_connector_feeds_one_pipeline_from_another(name: str) -> None:
    """Each connector is an exporter in some pipeline and a receiver in another."""
    config = _collector(name)
    pipelines = config["service"]["pipelines"].values()
    for connector in config.get("connectors") or {}:
        assert any(connector in p.get("exporters", []) for p in pipelines), connector
        assert any(connector in p.get("receivers", []) for p in pipelines), connector


@pytest.mark.parametrize(("name", "pipeline", "spec"), list(_pipelines()))
def test_every_pipeline_has_receivers_and_exporters(
    name: str, pipeline: str, spec: dict[str, Any]
) -> None:
    """A pipeline without a receiver or an exporter is refused by the collector."""
    assert spec.get("receivers"), f"{name} {pipeline}: no receiver"
    assert spec.get("exporters"), f"{name} {pipeline}: no exporter"


@pytest.mark.parametrize(("name", "pipeline", "spec"), list(_pipelines()))
def test_memory_limiter_first_and_batch_last(
    name: str, pipeline: str, spec: dict[str, Any]
) -> None:
    """Every pipeline starts with memory_limiter and ends with batch."""
    processors = [_type(p) for p in spec.get("processors", [])]
    assert processors[0] == "memory_limiter", f"{name} {pipeline}: {processors}"
    assert processors[-1] == "batch", f"{name} {pipeline}: {processors}"


def test_tail_sampling_runs_after_span_metrics_counted_every_span() -> None:
    """The gateway counts span metrics in the pipeline before the one that samples."""
    pipelines = _collector("gateway.yaml")["service"]["pipelines"]
    counting = [p for p in pipelines.values() if "span_metrics" in p.get("exporters", [])]
    assert len(counting) == 1
    assert "tail_sampling" not in counting[0]["processors"]
    sampling = [p for p in pipelines.values() if "tail_sampling" in p.get("processors", [])]
    assert len(sampling) == 1
    assert set(sampling[0]["receivers"]) <= set(counting[0]["exporters"])


# --- privacy --------------------------------------------------------------------------------


def _redactions() -> list[dict[str, Any]]:
    found = []
    for name in COLLECTORS:
        for component, spec in (_collector(name).get("processors") or {}).items():
            if _type(component) == "redaction":
                found.append(spec)
    return found


def test_the_agent_redacts_every_trace_and_metric_pipeline() -> None:
    """Every agent pipeline runs a redaction processor."""
    for pipeline, spec in _collector("agent.yaml")["service"]["pipelines"].items():
        assert any(_type(p) == "redaction" for p in spec["processors"]), pipeline


def test_redaction_hashes_with_a_key_never_plainly() -> None:
    """Redaction uses HMAC with a key from the environment, never md5/sha1/sha3 alone."""
    redactions = _redactions()
    assert redactions
    for spec in redactions:
        assert spec["hash_function"] in {"hmac-sha256", "hmac-sha512"}
        assert re.fullmatch(r"\$\{env:[A-Z_]+\}", spec["hmac_key"]), "the key is not inlined"
        assert spec.get("summary") in {"info", "silent"}, "redacted key names are not exported"


@pytest.mark.parametrize(
    "raw",
    ["jane.doe@example.com", "Jane.Doe+ads@mail.example.co.uk", "+49 30 1234567",
     "+1 (555) 123-4567", "+447700900123", "(555) 123-4567", "555-123-4567"],
)  # fmt: skip
def test_redaction_blocks_raw_email_and_phone(raw: str) -> None:
    """The blocked value patterns catch raw e-mail addresses and phone numbers in any text."""
    patterns = [re.compile(p) for spec in _redactions() for p in spec["blocked_values"]]
    assert any(p.search(f"lead {raw} submitted") for p in patterns), raw


@pytest.mark.parametrize(
    "safe",
    [new_event_id(), "a3f9" * 16, "2026-12-03T07:32:50.123+00:00", "L-1042", "1764151200000",
     "v=1;j=7f3c;t=1764151200000;c=spring", "192.168.10.2", "/v1/traces"],
)  # fmt: skip
def test_redaction_leaves_ids_hashes_and_timestamps_alone(safe: str) -> None:
    """Journey ids, identity hashes, timestamps and record ids are not mistaken for PII."""
    patterns = [re.compile(p) for spec in _redactions() for p in spec["blocked_values"]]
    assert not any(p.search(safe) for p in patterns), safe


def test_redaction_ignores_only_real_leadtrace_keys() -> None:
    """The keys redaction lets through are martech attributes that exist, or the route key."""
    for spec in _redactions():
        for key in spec.get("ignored_keys", []):
            assert key in MARTECH_NAMES | {"leadtrace.route_key"}, key


def test_no_exporter_sends_business_headers() -> None:
    """No exporter in any config sets a header naming business data."""
    for name in COLLECTORS:
        for node in _walk(_collector(name).get("exporters")):
            if isinstance(node, dict) and "headers" in node:
                text = str(node["headers"]).lower()
                assert "martech" not in text, name
                assert "journey" not in text, name


# --- attribute names ------------------------------------------------------------------------


def _martech_references(node: Any) -> set[str]:
    """Every martech.* name a config mentions, as a key, a value or inside an OTTL statement."""
    found: set[str] = set()
    for item in _walk(node):
        if isinstance(item, str):
            found.update(re.findall(r"martech\.[a-z_]+(?:\.[a-z_]+)*", item))
    return found


@pytest.mark.parametrize("name", COLLECTORS)
def test_every_martech_name_in_the_configs_is_in_semconv(name: str) -> None:
    """Policies, dimensions and OTTL statements use attribute names leadtrace emits; renaming
    one in leadtrace.semconv fails here until the configs follow."""
    references = _martech_references(_collector(name))
    assert references
    assert set() == references - MARTECH_NAMES


def test_tail_sampling_keeps_what_the_issue_names() -> None:
    """Policies keep errors, every failure layer, invalid and incomplete data, synthetic
    journeys, a journey-keyed share and a share of traces outside journeys."""
    policies = _collector("gateway.yaml")["processors"]["tail_sampling"]["policies"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for policy in policies:
        by_type.setdefault(policy["type"], []).append(policy)
    assert by_type["status_code"][0]["status_code"]["status_codes"] == ["ERROR"]
    strings = {
        p["string_attribute"]["key"]: p["string_attribute"] for p in by_type["string_attribute"]
    }
    assert list(semconv.LAYERS) == strings[semconv.FAILURE_LAYER]["values"]
    booleans = {
        (p["boolean_attribute"]["key"], p["boolean_attribute"]["value"])
        for p in by_type["boolean_attribute"]
    }
    assert {
        (semconv.QUALITY_VALID, False),
        (semconv.QUALITY_COMPLETE, False),
        (semconv.JOURNEY_SYNTHETIC, True),
    } == booleans
    assert strings[semconv.JOURNEY_ID]["enabled_regex_matching"] is True
    assert by_type["and"], "no share for traces outside journeys"


def test_the_journey_share_is_about_ten_percent_of_leadtrace_journey_ids() -> None:
    """The journey-id prefix policy keeps 26 of 256 two-digit hex prefixes (10.2 %), the share
    of leadtrace's random hex journey ids it keeps."""
    policies = _collector("gateway.yaml")["processors"]["tail_sampling"]["policies"]
    (share,) = [
        p for p in policies
        if p["type"] == "string_attribute" and p["string_attribute"]["key"] == semconv.JOURNEY_ID
    ]  # fmt: skip
    patterns = [re.compile(v) for v in share["string_attribute"]["values"]]
    prefixes = [f"{n:02x}" + "0" * 30 for n in range(256)]
    kept = sum(any(p.search(x) for p in patterns) for x in prefixes)
    assert kept == 26
    assert re.fullmatch(r"[0-9a-f]{32}", new_event_id()), "journey ids are no longer random hex"


def test_span_metrics_dimensions_are_business_ones_under_a_limit() -> None:
    """Span metrics add channel, stage, layer and failure dimensions with a cardinality limit."""
    span_metrics = _collector("gateway.yaml")["connectors"]["span_metrics"]
    names = {d["name"] for d in span_metrics["dimensions"]}
    assert {
        semconv.CAMPAIGN_CHANNEL,
        semconv.JOURNEY_STAGE,
        semconv.EVENT_LAYER,
        semconv.FAILURE_LAYER,
        semconv.FAILURE_REASON,
    } <= names
    assert semconv.JOURNEY_ID not in names, "one series per journey would be unbounded"
    assert 0 < span_metrics["aggregation_cardinality_limit"] <= 10_000


# --- endpoints line up ----------------------------------------------------------------------


def _app_environment() -> dict[str, str]:
    return {k: str(v) for k, v in _compose()["x-leadtrace-app-environment"].items()}


def test_what_configure_reads_reaches_the_agent_over_http() -> None:
    """The app environment the compose file documents resolves, through configure()'s settings,
    to the agent's OTLP/HTTP receiver and its default /v1/traces path."""
    settings = resolve_settings({"service_name": "landing-web"}, environ={
        **_app_environment(), "LEADTRACE_HASH_KEY": "k" * 32})  # fmt: skip
    assert settings.endpoint is not None
    assert settings.protocol == "http/protobuf"
    assert ("otel-agent", _receiver_port("agent.yaml", "http")) == _host_port(settings.endpoint)
    assert "otel-agent" in _compose()["services"]
    http = _collector("agent.yaml")["receivers"]["otlp"]["protocols"]["http"]
    assert "traces_url_path" not in http
    assert "metrics_url_path" not in http


def test_the_grpc_variant_reaches_the_agent_grpc_receiver() -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc with the agent's 4317 port matches its gRPC receiver."""
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-agent:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    settings = resolve_settings({"service_name": "worker"}, environ=environ)
    assert settings.endpoint is not None
    assert _receiver_port("agent.yaml", "grpc") == _host_port(settings.endpoint)[1]


def test_the_app_environment_sends_no_headers() -> None:
    """configure() adds no headers and the documented environment sets none, so nothing
    business-related travels in OTLP headers."""
    assert not any("HEADERS" in key for key in _app_environment())


def test_agents_reach_every_gateway_on_its_grpc_receiver() -> None:
    """Both load-balancing exporters resolve the gateway service on its OTLP/gRPC port."""
    exporters = _collector("agent.yaml")["exporters"]
    gateway_port = _receiver_port("gateway.yaml", "grpc")
    for name, spec in exporters.items():
        assert _type(name) == "load_balancing"
        dns = spec["resolver"]["dns"]
        assert dns["hostname"] == "otel-gateway"
        assert gateway_port == dns["port"]
    assert "otel-gateway" in _compose()["services"]


def test_trace_routing_uses_the_key_the_agent_sets() -> None:
    """Traces route on leadtrace.route_key, which the agent sets from martech.journey.id (or
    the trace id) and the gateway deletes."""
    agent = _collector("agent.yaml")
    lb = agent["exporters"]["load_balancing/traces"]
    assert (lb["routing_key"], lb["routing_attributes"]) == ("attributes", ["leadtrace.route_key"])
    statements = " ".join(agent["processors"]["transform/route_key"]["trace_statements"])
    assert f'span.attributes["{semconv.JOURNEY_ID}"]' in statements
    assert "span.trace_id.string" in statements
    gateway = _collector("gateway.yaml")
    assert (
        'delete_key(span.attributes, "leadtrace.route_key")'
        in gateway["processors"]["transform/drop_route_key"]["trace_statements"]
    )
    assert agent["exporters"]["load_balancing/metrics"]["routing_key"] == "streamID"


def test_the_gateway_exports_to_tempo_and_jaeger_over_otlp() -> None:
    """The gateway's OTLP exporters point at the tempo and jaeger services on the ports those
    services receive OTLP/gRPC on."""
    exporters = _collector("gateway.yaml")["exporters"]
    tempo = _load("tempo.yaml")
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]
    tempo_port = _host_port(grpc["endpoint"])[1]
    assert ("tempo", tempo_port) == _host_port(exporters["otlp/tempo"]["endpoint"])
    assert _host_port(exporters["otlp/jaeger"]["endpoint"]) == ("jaeger", 4317)
    services = _compose()["services"]
    assert {"tempo", "jaeger"} <= set(services)


def test_prometheus_scrapes_the_gateway_metric_ports() -> None:
    """Prometheus scrapes every gateway on the Prometheus exporter's port and the collectors
    on their telemetry port."""
    prometheus = _load("prometheus/prometheus.yml")
    jobs = {job["job_name"]: job["dns_sd_configs"][0] for job in prometheus["scrape_configs"]}
    exporter_port = _host_port(_collector("gateway.yaml")["exporters"]["prometheus"]["endpoint"])[1]
    assert (["otel-gateway"], exporter_port) == (
        jobs["leadtrace-gateway"]["names"],
        jobs["leadtrace-gateway"]["port"],
    )
    for name in COLLECTORS:
        reader = _collector(name)["service"]["telemetry"]["metrics"]["readers"][0]
        assert jobs["otel-collectors"]["port"] == reader["pull"]["exporter"]["prometheus"]["port"]
    assert set(jobs["otel-collectors"]["names"]) == {"otel-agent", "otel-gateway"}


def test_grafana_data_sources_point_at_the_compose_services() -> None:
    """Grafana's Prometheus, Tempo and Jaeger data sources use the services' HTTP ports."""
    sources = _load("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    urls = {s["uid"]: _host_port(s["url"]) for s in sources}
    tempo_http = _load("tempo.yaml")["server"]["http_listen_port"]
    assert {
        "prometheus": ("prometheus", 9090),
        "tempo": ("tempo", tempo_http),
        "jaeger": ("jaeger", 16686),
    } == urls


# --- compose --------------------------------------------------------------------------------


def test_compose_has_the_whole_stack() -> None:
    """The compose file runs the agent, the gateway pool, Tempo, Jaeger, Prometheus and Grafana."""
    assert {"otel-agent", "otel-gateway", "tempo", "jaeger", "prometheus", "grafana"} == set(
        _compose()["services"]
    )


def test_every_mounted_file_exists() -> None:
    """Every bind mount's host path exists next to the compose file (generated folders ship
    with a README until `leadtrace slo generate` / `dashboard generate` fill them)."""
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_each_collector_runs_the_config_it_mounts() -> None:
    """The --config path of each collector is the path its config file is mounted at."""
    services = _compose()["services"]
    for service, config in (("otel-agent", "agent.yaml"), ("otel-gateway", "gateway.yaml")):
        target = services[service]["command"][0].removeprefix("--config=")
        assert f"./{config}:{target}:ro" in services[service]["volumes"]


def test_published_ports_bind_to_loopback_and_gateways_publish_none() -> None:
    """Host ports are bound to 127.0.0.1; gateways publish none, so they can be scaled."""
    services = _compose()["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
    assert "ports" not in services["otel-gateway"]
    published = {int(str(p).split(":")[1]) for p in services["otel-agent"]["ports"]}
    assert {_receiver_port("agent.yaml", "grpc"), _receiver_port("agent.yaml", "http")} == published


def test_the_agent_refuses_to_start_without_a_redaction_key() -> None:
    """Compose requires LEADTRACE_COLLECTOR_HMAC_KEY (`:?`) for the agent's redaction key."""
    environment = _compose()["services"]["otel-agent"]["environment"]
    hmac_key = _collector("agent.yaml")["processors"]["redaction"]["hmac_key"]
    key = re.search(r"\$\{env:([A-Z_]+)\}", hmac_key)
    assert key is not None
    assert environment[key.group(1)].startswith(f"${{{key.group(1)}:?")


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: prometheus)")
def test_promtool_accepts_the_prometheus_config_and_any_generated_rules() -> None:
    """promtool checks prometheus.yml, and every generated rules file when there is one."""
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "config", "--syntax-only", str(ROOT / "prometheus/prometheus.yml")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for rules in sorted((ROOT / "generated/rules").glob("*.yaml")):
        result = subprocess.run(
            [PROMTOOL, "check", "rules", str(rules)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
