"""The in-memory capture and the leadtrace_capture fixture: deterministic, local, reset."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

import leadtrace
from leadtrace import events
from leadtrace.testing import Capture, FrozenClock, SequentialIdGenerator


def test_ids_and_clock_are_deterministic(leadtrace_capture: Capture) -> None:
    """The first journey of a test is id-0001 at the fixed start instant, trace id 1."""
    with leadtrace.journey() as j:
        event_id = leadtrace.emit("form_submitted", form_id="demo")
    assert j.journey_id == "id-0001"
    assert event_id == "id-0002"
    record = leadtrace_capture.journey("id-0001").stage("form_submitted")
    assert record.attributes["martech.journey.started_at"] == "2026-01-01T09:00:00.000Z"
    assert record.trace_id == f"{1:032x}"


def test_ids_start_again_in_the_next_test(leadtrace_capture: Capture) -> None:
    """A second test sees id-0001 again: the fixture does not leak state between tests."""
    with leadtrace.journey() as j:
        pass
    assert j.journey_id == "id-0001"


def test_ids_and_clock_are_restored_after_the_capture() -> None:
    """Leaving the capture puts back random ids and the real clock."""
    with Capture():
        assert events.new_event_id() == "id-0001"
    assert len(events.new_event_id()) == 32
    assert events.now().year >= 2026
    assert abs((events.now() - datetime.now(timezone.utc)).total_seconds()) < 5


def test_clock_advances_only_when_told(leadtrace_capture: Capture) -> None:
    """Elapsed journey time on an event is what the test advanced the clock by."""
    with leadtrace.journey():
        leadtrace_capture.clock.advance(90)
        leadtrace.emit("form_submitted", form_id="demo")
    record = leadtrace_capture.events("form_submitted")[0]
    assert record.attributes["martech.journey.elapsed"] == 90.0


def test_frozen_clock_needs_an_aware_instant() -> None:
    """A naive datetime is refused at setup."""
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 1, 1))
    clock = FrozenClock()
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1))


def test_sequential_id_generator_counts_from_one() -> None:
    """Span and trace ids count 1, 2, ... independently."""
    ids = SequentialIdGenerator()
    assert [ids.generate_span_id(), ids.generate_span_id(), ids.generate_trace_id()] == [1, 2, 1]


def test_capture_touches_no_global_provider(leadtrace_capture: Capture) -> None:
    """The capture's provider is its own, never the global one."""
    assert leadtrace_capture.handle.local
    assert trace.get_tracer_provider() is not leadtrace_capture.handle.tracer_provider
    assert isinstance(leadtrace_capture.handle.tracer_provider, SdkTracerProvider)


def test_random_ids_when_not_deterministic() -> None:
    """deterministic=False keeps the library's random ids."""
    with Capture(deterministic=False), leadtrace.journey() as j:
        pass
    assert len(j.journey_id) == 32


def test_metric_points_of_invalid_events() -> None:
    """A lenient capture counts an invalid event in leadtrace.events.invalid."""
    with Capture(validation="lenient") as capture:
        leadtrace.emit("lead_routed", lead_id="L-1")
        points = capture.metric_points("leadtrace.events.invalid")
    assert [(p.attributes, p.value) for p in points] == [
        ({"martech.event.name": "lead_routed"}, 1.0)
    ]
