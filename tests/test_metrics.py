"""SLI metrics: good / total counters, journey latency, bounded attributes, exact under sampling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import leadtrace
from _metrics import counter_points
from leadtrace import events
from leadtrace._runtime import Leadtrace
from leadtrace.errors import ConfigError
from leadtrace.events import CrmUpdated, LeadCreated, LeadRouted
from leadtrace.metrics import OVERFLOW, SliRecorder, latency_buckets, recorder_of, use_slis
from leadtrace.slo.spec import parse_slis

CAMPAIGN = leadtrace.Campaign(id="spring", source="google", medium="cpc", channel="paid_search")


def _routed(index: int = 0) -> LeadRouted:
    return LeadRouted(lead_id=f"L-{index}", routing_rule_id="emea", owner_id="U-7")


def _sli_points(reader: InMemoryMetricReader, name: str, sli: str) -> dict[str, Any]:
    """Non-zero points of counter ``name`` for ``sli``, keyed by their attribute dict repr."""
    reader.get_metrics_data()  # a new series shows zero once before its events count
    found: dict[str, Any] = {}
    for attrs, value in counter_points(reader, name).items():
        labels = dict(attrs)
        if labels.get("martech.sli.name") == sli and value:
            found[repr(sorted(labels.items()))] = (labels, value)
    return found


def test_routing_latency_counts_good_and_total(handle: Leadtrace) -> None:
    """Three routed leads, one routed after 600 s: 2 good of 3 for lead_routing_latency."""
    for index, age in enumerate((10, 20, 600)):
        with leadtrace.journey(campaign=CAMPAIGN, started_at=events.now() - timedelta(seconds=age)):
            leadtrace.emit(_routed(index))
    assert recorder_of(handle).counts()["lead_routing_latency"] == (2, 3)


def test_counters_carry_bounded_business_attributes(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """The exported point names the SLI, stage, channel, campaign, integration and synthetic."""
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit(CrmUpdated(crm_system="hubspot", crm_object="contact", operation="create"))
    points = _sli_points(metric_reader, "martech.sli.events", "crm_write_success")
    assert [labels for labels, _ in points.values()] == [
        {
            "martech.sli.name": "crm_write_success",
            "martech.journey.stage": "crm_updated",
            "martech.campaign.channel": "paid_search",
            "martech.integration": "hubspot",
            "martech.campaign.id": "spring",
            "martech.journey.synthetic": "false",
        }
    ]


def test_a_new_series_reports_zero_once_then_its_count(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """The first collection after a new label set shows 0, the next one the real count."""
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit(_routed())

    def value() -> int:
        return sum(
            v
            for attrs, v in counter_points(metric_reader, "martech.sli.events").items()
            if ("martech.campaign.id", "spring") in attrs
            and ("martech.sli.name", "lead_routing_latency") in attrs
        )

    assert [value(), value()] == [0, 1]


def test_synthetic_journeys_are_labelled(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """Events of a synthetic journey count under ``martech.journey.synthetic="true"``."""
    with leadtrace.journey(campaign=CAMPAIGN, synthetic=True):
        leadtrace.emit(_routed())
    points = _sli_points(metric_reader, "martech.sli.events", "lead_routing_latency")
    assert [labels["martech.journey.synthetic"] for labels, _ in points.values()] == ["true"]


def test_campaign_ids_past_the_cap_become_other(metric_reader: InMemoryMetricReader) -> None:
    """With a cap of two campaigns, the third campaign's events count under ``_other``."""
    provider = MeterProvider(metric_readers=[metric_reader])
    recorder = SliRecorder(provider.get_meter("test"), campaign_limit=2)
    for campaign in ("a", "b", "c"):
        recorder(_routed(), {"martech.event.name": "lead_routed", "martech.campaign.id": campaign})
    metric_reader.get_metrics_data()  # new series show zero once
    ids = {
        dict(attrs).get("martech.campaign.id")
        for attrs in counter_points(metric_reader, "martech.sli.events")
        if ("martech.sli.name", "lead_routing_latency") in attrs
    }
    overflow = counter_points(metric_reader, "leadtrace.metrics.overflow")
    provider.shutdown()
    assert ids >= {"a", "b", OVERFLOW}
    assert "c" not in ids
    assert overflow == {(("attribute", "martech.campaign.id"),): 1}


def test_sli_counts_stay_exact_when_no_trace_is_sampled(
    metric_reader: InMemoryMetricReader,
) -> None:
    """With a sampler that records no span, every event still counts toward its SLIs."""
    handle = leadtrace.configure(
        service_name="t",
        local=True,
        metric_readers=[metric_reader],
        tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
        environ={},
    )
    with handle.activate(), leadtrace.journey(campaign=CAMPAIGN):
        for index in range(5):
            leadtrace.emit(_routed(index))
    counts = recorder_of(handle).counts()
    handle.shutdown()
    assert counts["lead_routing_latency"] == (5, 5)


def test_a_sampled_out_stage_still_counts_toward_its_slis(
    metric_reader: InMemoryMetricReader,
) -> None:
    """A @stage whose span is not sampled still makes its event for the SLI counters."""

    @leadtrace.stage(
        "lead_routed",
        capture=["lead_id"],
        result=lambda owner: {"routing_rule_id": "emea", "owner_id": owner},
    )
    def route(lead_id: str) -> str:
        return "U-7"

    handle = leadtrace.configure(
        service_name="t",
        local=True,
        metric_readers=[metric_reader],
        tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
        environ={},
    )
    with handle.activate(), leadtrace.journey(campaign=CAMPAIGN):
        for index in range(3):
            route(f"L-{index}")
    counts = recorder_of(handle).counts()
    handle.shutdown()
    assert counts["lead_routing_latency"] == (3, 3)


def test_latency_histogram_buckets_hold_every_threshold(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """The exported histogram's explicit bounds include the 300 s SLO threshold."""
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit(_routed())
    recorder_of(handle).fold()
    data = metric_reader.get_metrics_data()
    assert data is not None
    bounds = [
        point.explicit_bounds
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "martech.journey.latency"
        for point in metric.data.data_points
    ]
    assert bounds
    assert 300.0 in bounds[0]


def test_custom_thresholds_join_the_buckets() -> None:
    """A 90 s latency SLI adds a 90 s boundary to the defaults."""
    spec = parse_slis(
        "version: 1\nslis:\n  fast:\n    description: d\n    events: [lead_routed]\n"
        "    good: {latency_max_s: 90}\n    objective: 99\n    runbook: routing-rule-drift\n"
    )
    assert 90.0 in latency_buckets(spec)


def test_use_slis_after_the_first_event_with_new_threshold_is_refused(handle: Leadtrace) -> None:
    """Switching to a file with a new latency threshold after latency was recorded raises."""
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit(_routed())
    recorder_of(handle).fold()
    spec = parse_slis(
        "version: 1\nslis:\n  fast:\n    description: d\n    events: [lead_routed]\n"
        "    good: {latency_max_s: 90}\n    objective: 99\n    runbook: routing-rule-drift\n"
    )
    with pytest.raises(ConfigError, match=r"call use_slis\(\) right after configure"):
        use_slis(handle, spec)


def test_use_slis_counts_the_new_definitions(handle: Leadtrace) -> None:
    """After use_slis() with one SLI, only that SLI counts new events."""
    spec = parse_slis(
        "version: 1\nslis:\n  routed_with_owner:\n    description: d\n"
        "    events: [lead_routed]\n    good: {attribute: routing.owner_id, present: true}\n"
        "    objective: 99\n    runbook: routing-rule-drift\n"
    )
    use_slis(handle, spec)
    with leadtrace.journey(campaign=CAMPAIGN):
        leadtrace.emit(_routed())
    assert recorder_of(handle).counts()["routed_with_owner"] == (1, 1)


def test_outcomes_count_duplicates_and_consent_drops(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """A duplicate lead without analytics consent counts a dedupe and a consent-drop outcome."""
    with leadtrace.journey(
        campaign=CAMPAIGN,
        consent=leadtrace.ConsentState(status="denied"),
        identity=leadtrace.IdentityKeys(anonymous_id="anon-1"),
    ):
        leadtrace.emit(LeadCreated(lead_id="L-1", dedupe_outcome="duplicate"))
    points = {
        (dict(attrs)["martech.outcome.kind"], dict(attrs)["martech.outcome.value"]): value
        for attrs, value in counter_points(metric_reader, "martech.outcomes").items()
    }
    assert points == {("dedupe", "duplicate"): 1, ("consent_dropped_identity", "true"): 1}


class RoutingDownError(Exception):
    """The routing service the stage calls is unreachable."""


def _latency_count(reader: InMemoryMetricReader, stage: str) -> int:
    """How many points the journey latency histogram holds for ``stage``."""
    data = reader.get_metrics_data()
    if data is None:
        return 0
    return sum(
        point.count
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "martech.journey.latency"
        for point in metric.data.data_points
        if point.attributes.get("martech.journey.stage") == stage
    )


def test_a_raising_stage_counts_toward_its_slis_as_not_good(
    handle: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """Two routed leads and one routing call that raises: 2 good of 3, the error unchanged.

    The failed call records no latency point and is not counted by the every-event schema
    SLI (no event was validated)."""
    boom = RoutingDownError("routing service down")

    @leadtrace.stage(
        "lead_routed",
        capture=["lead_id"],
        result=lambda owner: {"routing_rule_id": "emea", "owner_id": owner},
    )
    def route(lead_id: str, fail: bool = False) -> str:
        if fail:
            raise boom
        return "U-7"

    with leadtrace.journey(campaign=CAMPAIGN):
        route("L-1")
        route("L-2")
        with pytest.raises(RoutingDownError) as raised:
            route("L-3", fail=True)
    assert raised.value is boom
    counts = recorder_of(handle).counts()
    assert counts["lead_routing_latency"] == (2, 3)
    assert counts["consent_valid_at_routing"][1] == 3
    assert counts["schema_validation_pass_rate"] == (2, 2)
    assert _latency_count(metric_reader, "lead_routed") == 2
    good = _sli_points(metric_reader, "martech.sli.good_events", "lead_routing_latency")
    total = _sli_points(metric_reader, "martech.sli.events", "lead_routing_latency")
    assert sum(v for _, v in good.values()) == 2
    assert sum(v for _, v in total.values()) == 3


async def test_a_raising_async_stage_counts_as_not_good(handle: Leadtrace) -> None:
    """The async form counts a raising call the same way."""

    @leadtrace.stage(
        "crm_updated",
        result=lambda rid: {
            "crm_system": "hubspot",
            "crm_object": "contact",
            "operation": "create",
            "record_id": rid,
        },
    )
    async def write(fail: bool) -> str:
        if fail:
            raise TimeoutError("CRM timed out")
        return "512"

    with leadtrace.journey(campaign=CAMPAIGN):
        await write(False)
        with pytest.raises(TimeoutError):
            await write(True)
    assert recorder_of(handle).counts()["crm_write_success"] == (1, 2)


def test_a_raising_generator_stage_counts_as_not_good(handle: Leadtrace) -> None:
    """A generator stage that raises mid-iteration is one not-good event."""

    @leadtrace.stage(
        "lead_routed",
        result=lambda owner: {"routing_rule_id": "emea", "owner_id": owner, "lead_id": "L-1"},
    )
    def route(fail: bool) -> Any:
        yield "looking up"
        if fail:
            raise RoutingDownError("no owner")
        return "U-7"

    with leadtrace.journey(campaign=CAMPAIGN):
        list(route(False))
        with pytest.raises(RoutingDownError):
            list(route(True))
    assert recorder_of(handle).counts()["lead_routing_latency"] == (1, 2)


def test_a_raising_stage_counts_when_its_span_is_not_sampled(
    metric_reader: InMemoryMetricReader,
) -> None:
    """Sampling does not hide failures from the SLIs."""

    @leadtrace.stage("lead_routed", capture=["lead_id"])
    def route(lead_id: str) -> str:
        raise RoutingDownError("routing service down")

    handle = leadtrace.configure(
        service_name="t",
        local=True,
        metric_readers=[metric_reader],
        tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
        environ={},
    )
    with handle.activate(), leadtrace.journey(campaign=CAMPAIGN):
        for index in range(3):
            with pytest.raises(RoutingDownError):
                route(f"L-{index}")
    counts = recorder_of(handle).counts()
    handle.shutdown()
    assert counts["lead_routing_latency"] == (0, 3)
