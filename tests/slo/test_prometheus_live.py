"""A real Prometheus scrapes leadtrace's SLI metrics and evaluates the generated rules."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import leadtrace
from leadtrace import events
from leadtrace.events import (
    CrmUpdated,
    FormSubmitted,
    LeadCreated,
    LeadEnriched,
    LeadQualified,
    LeadRouted,
    SalesAcknowledged,
)
from leadtrace.slo import generate

pytestmark = pytest.mark.slow

PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None:
    pytest.skip(
        "prometheus is not installed (Debian package 'prometheus'); CI installs it",
        allow_module_level=True,
    )
pytest.importorskip("opentelemetry.exporter.prometheus")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Prometheus:
    """A Prometheus server on 127.0.0.1 and the leadtrace handle it scrapes."""

    url: str
    handle: leadtrace.Leadtrace

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; the result vector."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1
            body = json.load(response)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of ``expr`` now, None when it has no sample."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def wait_for(self, expr: str, expected: float, timeout: float = 20.0) -> float | None:
        """Poll ``expr`` until it equals ``expected`` (within float noise) or time runs out."""
        deadline = time.monotonic() + timeout
        found = self.value(expr)
        while (found is None or abs(found - expected) > 1e-9) and time.monotonic() < deadline:
            time.sleep(0.25)
            found = self.value(expr)
        return found


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus with the generated rules, scraping a leadtrace handle every second."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    tmp = tmp_path_factory.mktemp("prometheus")
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    handle = leadtrace.configure(
        service_name="lead-api", local=True, metric_readers=[reader], environ={}
    )
    exporter_port = _free_port()
    server, thread = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    (tmp / "rules.yaml").write_text(generate())
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yaml]\n"
        "scrape_configs:\n"
        "  - job_name: lead-api\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    port = _free_port()
    log = (tmp / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS or "prometheus",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((tmp / "prometheus.log").read_text()) from None
                time.sleep(0.1)
        server_ = Prometheus(url, handle)
        _drive(handle)
        _drive_vendor(handle)
        yield server_
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        handle.shutdown()


GRANTED = leadtrace.ConsentState(status="granted", purposes=frozenset({"analytics"}))
DENIED = leadtrace.ConsentState(status="denied")
CAMPAIGN = leadtrace.Campaign(id="spring", source="google", medium="cpc", channel="paid_search")


@leadtrace.stage(
    "crm_updated",
    result=lambda rid: {
        "crm_system": "hubspot",
        "crm_object": "contact",
        "operation": "create",
        "record_id": rid,
    },
)
def _write_contact(index: int) -> str:
    """A CRM write whose call times out (journeys 18 and 19)."""
    raise TimeoutError(f"HubSpot did not answer for contact {index}")


def _journey(index: int, *, late: bool, consent: Any, synthetic: bool = False) -> None:
    started = events.now() - timedelta(seconds=600 if late else 10)
    lead = f"L-{index}"
    with leadtrace.journey(
        campaign=CAMPAIGN,
        consent=consent,
        synthetic=synthetic,
        started_at=started,
        identity=leadtrace.IdentityKeys(anonymous_id=f"anon-{index}"),
    ):
        leadtrace.emit(FormSubmitted(form_id="demo", form_version="v3"))
        leadtrace.emit(
            LeadCreated(
                lead_id=lead,
                dedupe_outcome="duplicate" if index == 9 else "created",
                identity_match="matched",
            )
        )
        leadtrace.emit(LeadEnriched(lead_id=lead, provider="clearbit"))
        leadtrace.emit(LeadRouted(lead_id=lead, routing_rule_id="emea", owner_id="U-7"))
        if index in (18, 19):  # the CRM call raises: the @stage counts it as a bad write
            with contextlib.suppress(TimeoutError):
                _write_contact(index)
        else:
            leadtrace.emit(
                CrmUpdated(
                    crm_system="hubspot",
                    crm_object="contact",
                    operation="create",
                    record_id=None if index % 4 == 0 else f"C-{index}",
                )
            )
        leadtrace.emit(SalesAcknowledged(lead_id=lead, owner_id="U-7"))
        leadtrace.emit(
            LeadQualified(lead_id=lead, qualification="disqualified" if index < 2 else "sql")
        )


def _drive(handle: leadtrace.Leadtrace) -> None:
    """20 real journeys (4 routed late, 5 CRM writes without a record and 2 whose CRM call
    raised, 2 without consent) and 5 synthetic ones that are all bad and must not count."""
    with handle.activate():
        for index in range(20):
            _journey(index, late=index % 5 == 0, consent=DENIED if index in (3, 7) else GRANTED)
        for index in range(5):
            _journey(index, late=True, consent=DENIED, synthetic=True)


def _drive_vendor(handle: leadtrace.Leadtrace) -> None:
    """Real HubSpot client calls against a local stand-in: one lands (quota 42 left), one is
    rate limited, one lands after a retried 429. Events off: the SLI mix above stays as is."""
    import hubspot
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate
    from hubspot.crm.contacts.exceptions import ApiException
    from pytest_httpserver import HTTPServer
    from urllib3.util.retry import Retry
    from werkzeug import Response

    from leadtrace.integrations.hubspot import HubSpotInstrumentor

    def answer(status: int, body: dict[str, Any], **headers: str) -> Response:
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    created = {"id": "512", "properties": {}, "createdAt": "2026-01-01T09:00:00Z",
               "updatedAt": "2026-01-01T09:00:00Z", "archived": False}  # fmt: skip
    limited = {"status": "error", "message": "limit", "category": "RATE_LIMITS"}
    path = "/crm/v3/objects/contacts"
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    HubSpotInstrumentor().instrument(emit_events=False)
    try:
        for response in (
            answer(201, created, **{"X-HubSpot-RateLimit-Remaining": "42"}),
            answer(429, limited, **{"Retry-After": "0"}),
            answer(429, limited, **{"Retry-After": "0"}),
            answer(201, created),
        ):
            server.expect_ordered_request(path, method="POST").respond_with_response(response)
        body = SimplePublicObjectInputForCreate(properties={"firstname": "Ada"})
        host = server.url_for("").rstrip("/")
        with handle.activate():
            client = hubspot.Client.create(access_token="test-token", host=host)
            client.crm.contacts.basic_api.create(body)
            with contextlib.suppress(ApiException):
                client.crm.contacts.basic_api.create(body)
            retry = Retry(total=2, status_forcelist=[429], allowed_methods=None, backoff_factor=0)
            client = hubspot.Client.create(access_token="test-token", host=host, retry=retry)
            client.crm.contacts.basic_api.create(body)
    finally:
        HubSpotInstrumentor().uninstrument()
        server.clear()
        server.stop()


def _ratio(sli: str) -> str:
    return f'slo:sli_error:ratio_rate5m{{sloth_slo="{sli}"}}'


@pytest.mark.parametrize(
    ("sli", "expected"),
    [
        ("lead_routing_latency", 4 / 20),
        ("crm_write_success", 7 / 20),
        ("consent_valid_at_routing", 2 / 20),
    ],
)
def test_recorded_error_ratio_equals_the_driven_mix(
    prometheus: Prometheus, sli: str, expected: float
) -> None:
    """``slo:sli_error:ratio_rate5m`` of each SLI equals the share of bad real journeys."""
    found = prometheus.wait_for(_ratio(sli), expected)
    assert found == pytest.approx(expected, abs=1e-9)


def test_synthetic_journeys_are_labelled_apart(prometheus: Prometheus) -> None:
    """The five synthetic journeys' CRM writes are counted under synthetic="true" only."""
    expr = (
        'sum(martech_sli_events_total{martech_sli_name="crm_write_success",'
        'martech_journey_synthetic="true"})'
    )
    assert prometheus.wait_for(expr, 5) == 5


def test_latency_histogram_has_the_slo_threshold_bucket(prometheus: Prometheus) -> None:
    """Routed leads within 300 s land in the ``le="300.0"`` bucket: 16 of the 20 real ones."""
    expr = (
        'sum(martech_journey_latency_seconds_bucket{le="300.0",'
        'martech_journey_stage="lead_routed",martech_journey_synthetic="false"})'
    )
    assert prometheus.wait_for(expr, 16) == 16


def test_budget_remaining_is_recorded(prometheus: Prometheus) -> None:
    """The Sloth-named budget rule exists for every built-in SLI once data arrived."""
    expr = "count(slo:period_error_budget_remaining:ratio)"
    assert prometheus.wait_for(expr, 12) == 12


def test_vendor_calls_reach_prometheus_by_reason(prometheus: Prometheus) -> None:
    """The driven HubSpot calls: two landed, one rate limited, one retry, 42 calls left."""
    hubspot = 'martech_vendor_name="hubspot"'
    assert prometheus.wait_for(f"sum(martech_vendor_calls_total{{{hubspot}}})", 3) == 3
    by_reason = f"sum by (martech_failure_reason) (martech_vendor_calls_total{{{hubspot}}})"
    found = {
        row["metric"].get("martech_failure_reason", ""): float(row["value"][1])
        for row in prometheus.query(by_reason)
    }
    assert found == {"": 2, "rate_limited": 1}
    assert prometheus.wait_for(f"martech_vendor_retries_total{{{hubspot}}}", 1) == 1
    assert prometheus.wait_for(f"martech_vendor_rate_limit_remaining{{{hubspot}}}", 42) == 42


def test_every_dashboard_query_returns_data(prometheus: Prometheus) -> None:
    """Each PromQL expression of the dashboard, variables on "All", returns a sample."""
    pytest.importorskip("grafana_foundation_sdk", reason="needs the 'dashboards' extra")
    from leadtrace.dashboards import panels, with_all_selected
    from leadtrace.slo.spec import load_slis

    prometheus.wait_for(_ratio("crm_write_success"), 7 / 20)
    exprs = [with_all_selected(e) for p in panels(load_slis()) for e in p.exprs]
    deadline = time.monotonic() + 30  # recording rules fill in over a few evaluations
    empty = [e for e in exprs if not prometheus.query(e)]
    while empty and time.monotonic() < deadline:
        time.sleep(0.5)
        empty = [e for e in empty if not prometheus.query(e)]
    assert empty == []


@pytest.mark.parametrize(
    ("sli", "expected"),
    [
        ("lead_ingestion_success", 20 / 20),
        ("attribution_completeness", 40 / 40),
        ("crm_write_success", 13 / 20),
        ("sales_acceptance", 18 / 20),
    ],
)
def test_top_row_values_match_the_driven_mix(
    prometheus: Prometheus, sli: str, expected: float
) -> None:
    """The top-row stat of an SLI shows the share of good real journeys."""
    pytest.importorskip("grafana_foundation_sdk", reason="needs the 'dashboards' extra")
    from leadtrace.dashboards import panels, with_all_selected
    from leadtrace.slo.spec import load_slis

    (panel,) = [p for p in panels(load_slis()) if p.title == sli.replace("_", " ").capitalize()]
    assert prometheus.wait_for(with_all_selected(panel.exprs[0]), expected) == pytest.approx(
        expected, abs=1e-9
    )


def test_top_row_routing_latency_straddles_the_slo(prometheus: Prometheus) -> None:
    """16 of the 20 real leads were routed 10 s in, 4 after 600 s: p50 is under the 300 s SLO
    and p95 over it. The panel's own rate() cannot see these: every observation arrived
    before the series' first scrape, and rate() starts from that sample; so the quantiles are
    taken from the panel's selector over the cumulative buckets."""
    pytest.importorskip("grafana_foundation_sdk", reason="needs the 'dashboards' extra")
    from leadtrace.dashboards import panels, with_all_selected
    from leadtrace.slo.spec import load_slis

    (panel,) = [p for p in panels(load_slis()) if p.title == "Routing latency p50 / p95"]
    assert panel.threshold == 300
    p50, p95 = (with_all_selected(e).replace("rate(", "(").replace("[1m]", "") for e in panel.exprs)
    deadline = time.monotonic() + 20
    found = (prometheus.value(p50), prometheus.value(p95))
    while None in found and time.monotonic() < deadline:
        time.sleep(0.25)
        found = (prometheus.value(p50), prometheus.value(p95))
    median, p95_value = found
    assert median is not None
    assert median <= 15  # the 5-15 s bucket holds the median
    assert p95_value is not None
    assert 300 < p95_value <= 1800  # 600 s and a little: the 600-1800 s bucket


def test_top_row_campaign_volume_counts_the_real_submissions(prometheus: Prometheus) -> None:
    """The volume stat counts the 20 real form submissions (synthetic ones hidden)."""
    pytest.importorskip("grafana_foundation_sdk", reason="needs the 'dashboards' extra")
    from leadtrace.dashboards import panels, with_all_selected
    from leadtrace.slo.spec import load_slis

    (panel,) = [p for p in panels(load_slis()) if p.title == "Campaign volume (submissions)"]
    # increase() over a window longer than the data: Prometheus extrapolates up to half an
    # interval at each edge; the raw counter is exact.
    raw = panel.exprs[0].replace("increase(", "max_over_time(").replace("[$__range]", "[5m]")
    assert prometheus.wait_for(with_all_selected(raw), 20) == 20
    volume = prometheus.value(with_all_selected(panel.exprs[0]))
    assert volume is not None
    assert 20 <= volume <= 30
