"""Attributes leadtrace sets on SDK spans: the fast path stores what set_attributes would."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from leadtrace import _sdk
from leadtrace._sdk import add_attributes

FAST_PATH = pytest.mark.skipif(
    not _sdk.PRIVATES, reason="a property of the SDK-fields fast path (privates off)"
)


VALUES: dict[str, Any] = {
    "martech.campaign.id": "spring",
    "martech.consent.purposes": ["analytics", "marketing"],
    "martech.consent.gpc": False,
    "martech.lead.score": 42,
    "martech.journey.elapsed": 1.5,
}

READY: dict[str, Any] = {**VALUES, "martech.consent.purposes": ("analytics", "marketing")}
"""VALUES as the SDK stores them (sequences as tuples): what add_attributes takes."""


def _exported(limits: SpanLimits | None, fast: bool) -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("t").start_span("op", attributes={"a": "x" * 40})
    if fast:
        add_attributes(span, READY)
    else:
        span.set_attributes(VALUES)
    span.end()
    (exported,) = exporter.get_finished_spans()
    return exported


@pytest.mark.parametrize(
    "limits",
    [None, SpanLimits(max_span_attributes=3), SpanLimits(max_span_attribute_length=8)],
    ids=["default limits", "attribute count limit", "value length limit"],
)
def test_same_attributes_and_drop_count_as_set_attributes(limits: SpanLimits | None) -> None:
    """Values, their types (lists stored as tuples), order, truncation and drops all match."""
    fast, slow = _exported(limits, fast=True), _exported(limits, fast=False)
    assert list(fast.attributes.items()) == list(slow.attributes.items())
    assert fast.dropped_attributes == slow.dropped_attributes
    if limits is None:
        assert fast.attributes["martech.consent.purposes"] == ("analytics", "marketing")


def test_an_ended_span_is_left_alone() -> None:
    """Like set_attributes, nothing is added once the span has ended."""
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("op")
    span.end()
    add_attributes(span, {"martech.campaign.id": "late"})
    assert "martech.campaign.id" not in (span.attributes or {})


def test_spans_of_other_types_go_through_set_attributes() -> None:
    """A span that is not the SDK's (here a non-recording one) gets the public call."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext

    span = NonRecordingSpan(SpanContext(1, 2, False))
    add_attributes(span, {"martech.campaign.id": "x"})  # no error, nothing recorded
    assert not span.is_recording()


@FAST_PATH
def test_default_limits_skip_the_per_value_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """With default limits the values go in without the SDK's per-value path."""
    from opentelemetry.sdk.trace import Span

    def refuse(self: Span, attributes: Any) -> None:
        raise AssertionError("set_attributes was called")

    span = TracerProvider().get_tracer("t").start_span("op")
    monkeypatch.setattr(Span, "set_attributes", refuse)
    add_attributes(span, READY)
    assert dict(span.attributes or {}) == READY
