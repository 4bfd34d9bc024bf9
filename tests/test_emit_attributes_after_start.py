"""emit() adds valid attributes right after the span starts, unless a sampler may read them.

Either way the exported span is the same; these tests pin that, and the cases that must take
the path where the SDK checks every value at creation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanLimits, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

import leadtrace
from _handles import event_spans
from leadtrace import _sdk, events, semconv
from leadtrace._sdk import attribute_blind
from leadtrace.events import LeadRouted

FAST_PATH = pytest.mark.skipif(
    not _sdk.PRIVATES, reason="a property of the SDK-fields fast path (privates off)"
)


CAMPAIGN = leadtrace.Campaign(id="spring", source="google", medium="cpc")
GRANTED = leadtrace.ConsentState(status="granted", purposes=frozenset({"analytics", "sales"}))
EVENT = LeadRouted(lead_id="L-1", routing_rule_id="emea", owner_id="U-7", territory="EMEA")


class _Recording(sampling.Sampler):
    """Samples everything and remembers the attributes it was shown."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> sampling.SamplingResult:
        self.seen.append(dict(attributes or {}))
        return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "recording"


def _emit_with(provider: TracerProvider) -> tuple[leadtrace.Leadtrace, Mapping[str, Any]]:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handle = leadtrace.configure(
        service_name="t", environment="test", local=True, tracer_provider=provider, environ={}
    )
    with handle.activate(), leadtrace.journey(campaign=CAMPAIGN, consent=GRANTED):
        event_id = leadtrace.emit(EVENT)
    handle.shutdown()
    (span,) = event_spans(exporter.get_finished_spans())
    attrs = dict(span.attributes or {})
    assert event_id.startswith(attrs[semconv.EVENT_ID])  # equal unless a length limit cuts it
    for key in (semconv.EVENT_ID, semconv.JOURNEY_ID, semconv.JOURNEY_STARTED_AT):
        attrs.pop(key)
    attrs.pop(semconv.JOURNEY_ELAPSED)
    return handle, attrs


@FAST_PATH
def test_default_sampler_adds_after_start_and_exports_the_same_span() -> None:
    """The SDK's default sampler never reads attributes: emit takes the fast path, and the
    span it exports matches the one a custom sampler (full checks at creation) gets."""
    fast_handle, fast = _emit_with(TracerProvider())
    slow_handle, slow = _emit_with(TracerProvider(sampler=_Recording()))
    assert fast_handle.attributes_after_start
    assert not slow_handle.attributes_after_start
    assert fast == slow
    assert fast[semconv.CONSENT_PURPOSES] == ("analytics", "sales")
    assert fast[semconv.ROUTING_OWNER_ID] == "U-7"


def test_a_custom_sampler_sees_every_attribute_at_creation() -> None:
    """A sampler that may read attributes is shown the whole event at sampling time."""
    _Recording.seen.clear()
    _emit_with(TracerProvider(sampler=_Recording()))
    (shown,) = [seen for seen in _Recording.seen if semconv.EVENT_NAME in seen]
    assert shown[semconv.ROUTING_OWNER_ID] == "U-7"
    assert shown[semconv.CAMPAIGN_ID] == "spring"


def test_span_limits_still_apply() -> None:
    """A value-length limit is enforced as before (the fast path steps aside)."""
    _, attrs = _emit_with(TracerProvider(span_limits=SpanLimits(max_span_attribute_length=3)))
    assert attrs[semconv.ROUTING_TERRITORY] == "EME"


@pytest.mark.parametrize(
    ("sampler", "blind"),
    [
        (sampling.ALWAYS_ON, True),
        # Parent-based samplers need the SDK's fields to read their delegates.
        (sampling.ParentBased(sampling.TraceIdRatioBased(0.5)), _sdk.PRIVATES),
        (sampling.ParentBasedTraceIdRatio(0.1), _sdk.PRIVATES),
        (_Recording(), False),
        (sampling.ParentBased(_Recording()), False),
    ],
)
def test_which_samplers_are_attribute_blind(sampler: sampling.Sampler, blind: bool) -> None:
    """Only the SDK's own attribute-free samplers (and parent-based over them) qualify."""
    tracer = TracerProvider(sampler=sampler).get_tracer("t")
    assert attribute_blind(tracer) is blind


def test_event_types_outside_attribute_values_are_checked_by_the_sdk() -> None:
    """A user event with a field OpenTelemetry cannot store is not marked valid: its spans
    go through the SDK's checks, which drop the value instead of exporting it."""

    class Scored(events.Event):  # not registered: only its attribute plan is looked at
        event_name: ClassVar[str] = "test_scored_blob"
        event_layer: ClassVar[str] = "enrichment"
        event_version: ClassVar[str] = "1-0-0"
        details: dict[str, int] | None = None
        score: int | None = None

    assert not events.plan_for(Scored).valid
    assert events.plan_for(LeadRouted).valid
