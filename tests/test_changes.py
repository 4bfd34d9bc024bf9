"""Change records: counter sample, span event, Grafana annotation posts that never block."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _metrics import counter_points
from leadtrace._cli import cli
from leadtrace._runtime import Leadtrace
from leadtrace.changes import GrafanaAnnotations, record_startup
from leadtrace.errors import ConfigError


class Grafana:
    """A local stand-in for Grafana's annotations API that records each request."""

    def __init__(self, *, hold: threading.Event | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hold = hold
        grafana = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                grafana.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                if grafana.hold is not None:
                    grafana.hold.wait(5)
                body = b'{"message":"Annotation added","id":1}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana() -> Iterator[Grafana]:
    """A Grafana annotations stand-in on 127.0.0.1."""
    server = Grafana()
    yield server
    server.close()


def test_change_counts_by_kind(handle: Leadtrace, metric_reader: InMemoryMetricReader) -> None:
    """A routing-rule change adds one to martech.changes with only its kind as attribute."""
    leadtrace.record_change("routing_rule", "EMEA split by size", rule_version="43")
    assert counter_points(metric_reader, "martech.changes") == {
        (("martech.change.kind", "routing_rule"),): 1
    }


def test_change_is_an_event_on_the_current_span(handle: Leadtrace) -> None:
    """Inside a span the change is a scrubbed ``leadtrace.change`` event with its labels."""
    with handle.tracer.start_as_current_span("deploy"):
        leadtrace.record_change("deployment", "v2 by jane@example.com", version="2.0.0")
    (span,) = handle.finished_spans()
    (event,) = span.events
    assert (event.name, dict(event.attributes or {})) == (
        "leadtrace.change",
        {
            "martech.change.kind": "deployment",
            "martech.change.summary": "v2 by [redacted]",
            "martech.change.label.version": "2.0.0",
        },
    )


def test_unknown_kind_is_refused(handle: Leadtrace) -> None:
    """A kind outside the documented set raises ConfigError naming the allowed kinds."""
    with pytest.raises(ConfigError, match="routing_rule"):
        leadtrace.record_change("rules", "x")


def test_grafana_receives_the_documented_request(handle: Leadtrace, grafana: Grafana) -> None:
    """The post is POST /api/annotations with a bearer token and time, tags and text."""
    thread = leadtrace.record_change(
        "vendor_incident",
        "HubSpot 429s",
        grafana=GrafanaAnnotations(grafana.url, "glsa_test"),
        vendor="hubspot",
    )
    assert thread is not None
    thread.join(5)
    (request,) = grafana.requests
    assert request["path"] == "/api/annotations"
    assert request["headers"]["Authorization"] == "Bearer glsa_test"
    assert request["headers"]["Content-Type"] == "application/json"
    assert sorted(request["body"]) == ["tags", "text", "time"]
    assert request["body"]["tags"] == ["leadtrace", "vendor_incident", "vendor:hubspot"]
    assert request["body"]["text"] == "HubSpot 429s"


def test_slow_grafana_does_not_hold_the_caller(handle: Leadtrace) -> None:
    """record_change returns while Grafana is still holding the request open."""
    hold = threading.Event()
    server = Grafana(hold=hold)
    try:
        thread = leadtrace.record_change(
            "deployment", "v3", grafana=GrafanaAnnotations(server.url, "t")
        )
        assert thread is not None
        returned_while_held = not hold.is_set()
        hold.set()
        thread.join(5)
    finally:
        server.close()
    assert returned_while_held
    assert len(server.requests) == 1


def test_down_grafana_is_counted_not_raised(handle: Leadtrace) -> None:
    """A refused connection is counted on the client and never raised."""
    grafana = Grafana()
    url = grafana.url
    grafana.close()
    client = GrafanaAnnotations(url, "t", timeout=1)
    thread = leadtrace.record_change("deployment", "v4", grafana=client)
    assert thread is not None
    thread.join(5)
    assert client.failures == 1


def test_startup_change_names_version_and_schema_digest(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """configure()'s startup record is a deployment change whose digest follows the schemas."""
    with handle.tracer.start_as_current_span("boot"):
        record_startup(handle, ["lead_routed:1-0-0", "crm_updated:1-0-0"])
        record_startup(handle, ["lead_routed:1-0-1", "crm_updated:1-0-0"])
    (span,) = handle.finished_spans()
    digests = [e.attributes["martech.change.label.event_schemas"] for e in span.events]
    assert len(set(digests)) == 2
    listed = [e.attributes["martech.change.event_schemas"] for e in span.events]
    assert listed == [
        ("crm_updated:1-0-0", "lead_routed:1-0-0"),
        ("crm_updated:1-0-0", "lead_routed:1-0-1"),
    ]


def test_cli_records_and_posts(grafana: Grafana) -> None:
    """``leadtrace change record`` posts the annotation and says so."""
    result = CliRunner().invoke(
        cli,
        [
            "change",
            "record",
            "--kind",
            "routing_rule",
            "--summary",
            "rules v43",
            "--label",
            "rule_version=43",
            "--grafana-url",
            grafana.url,
        ],
        env={"LEADTRACE_GRAFANA_TOKEN": "glsa_cli", "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    )
    assert result.exit_code == 0, result.output
    assert "annotation posted" in result.output
    assert grafana.requests[0]["body"]["tags"] == ["leadtrace", "routing_rule", "rule_version:43"]


def test_cli_rejects_a_label_without_value() -> None:
    """A --label without '=' is a usage error (exit 2)."""
    result = CliRunner().invoke(
        cli, ["change", "record", "--kind", "deployment", "--summary", "x", "--label", "oops"]
    )
    assert result.exit_code == 2
    assert "NAME=VALUE" in result.output


def test_settings_name_the_grafana_record_change_posts_to(grafana: Grafana) -> None:
    """With grafana_url and grafana_token set, record_change() posts without a grafana=."""
    handle = leadtrace.configure(
        service_name="t", local=True, environ={},
        grafana_url=grafana.url, grafana_token="glsa_settings",
    )  # fmt: skip
    with handle.activate():
        thread = leadtrace.record_change("deployment", "router 2.4.1", version="2.4.1")
    assert thread is not None
    thread.join(5)
    (request,) = grafana.requests
    assert request["path"] == "/api/annotations"
    assert request["headers"]["Authorization"] == "Bearer glsa_settings"
    assert "version:2.4.1" in request["body"]["tags"]


def test_a_grafana_url_that_is_not_http_is_a_config_error() -> None:
    """configure() refuses a Grafana URL without an http(s) scheme, naming the variable."""
    with pytest.raises(ConfigError, match="LEADTRACE_GRAFANA_URL"):
        leadtrace.configure(
            service_name="t", local=True, environ={"LEADTRACE_GRAFANA_URL": "grafana.local"}
        )
