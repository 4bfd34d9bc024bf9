"""Every span leadtrace exports is encodable: bad events never take their neighbours along."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

import leadtrace
from leadtrace import semconv
from leadtrace.errors import EventValidationError
from leadtrace.testing import OTLPReceiver

YEAR_1 = datetime(1, 1, 1, tzinfo=timezone.utc)
YEAR_9999 = datetime(9999, 12, 31, tzinfo=timezone.utc)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on a free port of 127.0.0.1."""
    with OTLPReceiver() as r:
        yield r


def _production(receiver: OTLPReceiver, **settings: object) -> leadtrace.Leadtrace:
    return leadtrace.configure(
        service_name="landing-web",
        validation="lenient",
        endpoint=receiver.url,
        local=True,
        environ={},
        **settings,  # type: ignore[arg-type]
    )


def _good(n: int) -> str:
    return leadtrace.emit("lead_created", lead_id=f"L-{n}", dedupe_outcome="created")


def test_bad_events_between_good_ones_lose_nothing(receiver: OTLPReceiver) -> None:
    """A lone surrogate, year 1, year 9999 and 70 one-megabyte values in one batch: every good
    event arrives, and so does every bad one, repaired and marked invalid."""
    handle = _production(receiver)
    good, bad = [], []
    with handle.activate():
        good.append(_good(0))
        bad.append(leadtrace.emit("lead_\ud800created"))
        good.append(_good(1))
        bad.append(
            leadtrace.emit(
                "lead_created", lead_id="L-y1", dedupe_outcome="created", occurred_at=YEAR_1
            )
        )
        good.append(_good(2))
        bad.append(
            leadtrace.emit(
                "lead_created", lead_id="L-y9", dedupe_outcome="created", occurred_at=YEAR_9999
            )
        )
        good.append(_good(3))
        for n in range(70):
            bad.append(
                leadtrace.emit(
                    "lead_created",
                    lead_id=f"L-big-{n}",
                    dedupe_outcome="created",
                    source_system="x" * 1_000_000,
                )
            )
        good.append(_good(4))
    assert handle.force_flush(20_000)
    handle.shutdown()
    by_id = {r.attributes[semconv.EVENT_ID]: r for r in receiver.records()}
    assert set(good) | set(bad) == set(by_id)
    assert all(semconv.QUALITY_VALID not in by_id[event_id].attributes for event_id in good)
    surrogate = by_id[bad[0]]
    assert surrogate.name == "lead_\ufffdcreated"
    assert "span.name:invalid_utf8" in surrogate.attributes[semconv.QUALITY_VIOLATIONS]
    for event_id in bad[1:3]:
        record = by_id[event_id]
        assert record.attributes[semconv.QUALITY_VALID] is False
        assert "occurred_at:timestamp_out_of_range" in record.attributes[semconv.QUALITY_VIOLATIONS]
    big = by_id[bad[3]]
    assert len(big.attributes[semconv.EVENT_SOURCE_SYSTEM]) == 4096
    assert f"{semconv.EVENT_SOURCE_SYSTEM}:truncated" in big.attributes[semconv.QUALITY_VIOLATIONS]


def test_out_of_range_occurred_at_raises_in_strict_mode() -> None:
    """Strict mode names the field and the rule for an occurred_at in year 9999."""
    handle = leadtrace.configure(service_name="svc", local=True, environ={})
    with handle.activate(), pytest.raises(EventValidationError) as caught:
        leadtrace.emit(
            "lead_created", lead_id="L-1", dedupe_outcome="created", occurred_at=YEAR_9999
        )
    assert caught.value.violations[0].location == "occurred_at"
    assert caught.value.violations[0].type == "timestamp_out_of_range"
    assert handle.finished_spans() == []


def test_otel_attribute_value_length_limit_is_honoured(receiver: OTLPReceiver) -> None:
    """OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT sets where leadtrace cuts, and the cut is recorded."""
    handle = leadtrace.configure(
        service_name="svc",
        endpoint=receiver.url,
        local=True,
        environ={"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "100"},
    )
    with handle.activate():
        leadtrace.emit("form_viewed", form_id="demo", source_system="s" * 500)
    assert handle.force_flush(10_000)
    handle.shutdown()
    (record,) = receiver.records()
    assert record.attributes[semconv.EVENT_SOURCE_SYSTEM] == "s" * 100
    assert record.attributes[semconv.QUALITY_VIOLATIONS] == (
        f"{semconv.EVENT_SOURCE_SYSTEM}:truncated",
    )


def test_other_spans_on_the_provider_are_repaired_too(receiver: OTLPReceiver) -> None:
    """A third-party span with a lone surrogate and a huge value arrives repaired, with its
    neighbour intact."""
    handle = _production(receiver)
    tracer = handle.tracer_provider.get_tracer("vendor.sdk")
    with tracer.start_as_current_span("GET /x\udcff", attributes={"http.url": "u" * 10_000}):
        pass
    with tracer.start_as_current_span("fine", attributes={"k\udc80": "v"}):
        pass
    assert handle.force_flush(10_000)
    handle.shutdown()
    first, second = sorted(receiver.records(), key=lambda r: r.sequence)
    assert first.name == "GET /x\ufffd"
    assert len(first.attributes["http.url"]) == 4096
    assert set(first.attributes[semconv.QUALITY_VIOLATIONS]) == {
        "span.name:invalid_utf8",
        "http.url:truncated",
    }
    assert second.attributes["k\ufffd"] == "v"
    assert second.attributes[semconv.QUALITY_VIOLATIONS] == ("k\ufffd:invalid_utf8",)
