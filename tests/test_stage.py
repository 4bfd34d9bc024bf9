"""@stage: spans around integration functions of every kind, failures tagged by layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import leadtrace
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.errors import ConfigError

CAMPAIGN = leadtrace.Campaign(id="spring", source="google", medium="cpc")


@dataclass
class Assignment:
    owner: str
    rule: str


def _span(handle: Leadtrace, name: str) -> Any:
    spans = [s for s in handle.finished_spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in handle.finished_spans()]
    return spans[0]


def test_sync_stage_span_with_journey_and_captured_args(handle: Leadtrace) -> None:
    """A sync stage gets a span with stage, layer, journey context and allow-listed args only."""

    @leadtrace.stage("lead_routed", capture=["lead_id"])
    def route(lead_id: str, email: str) -> str:
        return "U-7"

    with leadtrace.journey(campaign=CAMPAIGN) as j:
        assert route("L-1", email="jane@example.com") == "U-7"
    attrs = dict(_span(handle, "lead_routed").attributes)
    assert attrs[semconv.JOURNEY_STAGE] == "lead_routed"
    assert attrs[semconv.EVENT_LAYER] == "routing"
    assert attrs[semconv.LEAD_ID] == "L-1"
    assert attrs[semconv.JOURNEY_ID] == j.journey_id
    assert attrs[semconv.CAMPAIGN_ID] == "spring"
    assert not any("jane" in str(v) for v in attrs.values())


def test_result_mapper_turns_the_stage_into_the_event(handle: Leadtrace) -> None:
    """With result=, the stage span carries the event's fields and quality verdict."""

    @leadtrace.stage(
        "lead_routed",
        capture=["lead_id"],
        result=lambda a: {"lead_id": "L-1", "owner_id": a.owner, "routing_rule_id": a.rule},
    )
    def route(lead_id: str) -> Assignment:
        return Assignment(owner="U-7", rule="emea-smb")

    with leadtrace.journey(campaign=CAMPAIGN):
        route("L-1")
    attrs = dict(_span(handle, "lead_routed").attributes)
    assert attrs[semconv.ROUTING_OWNER_ID] == "U-7"
    assert attrs[semconv.ROUTING_RULE_ID] == "emea-smb"
    assert attrs[semconv.EVENT_NAME] == "lead_routed"
    assert len(attrs[semconv.EVENT_ID]) == 32
    assert attrs[semconv.QUALITY_COMPLETE] is False
    assert attrs[semconv.QUALITY_MISSING] == ("martech.consent.status",)


def test_exception_is_recorded_with_failure_layer_and_reraised(handle: Leadtrace) -> None:
    """The user's exception propagates; the span records it with the stage's layer."""

    @leadtrace.stage("crm_updated")
    def write() -> None:
        raise TimeoutError("CRM did not answer")

    with pytest.raises(TimeoutError):
        write()
    span = _span(handle, "crm_updated")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.FAILURE_LAYER] == "crm"
    assert span.attributes[semconv.FAILURE_REASON] == "TimeoutError"
    assert [e.name for e in span.events] == ["exception"]


def test_reason_mapper_names_the_business_failure(handle: Leadtrace) -> None:
    """reason= turns an exception into the failure reason recorded on the span."""

    class ConflictError(Exception):
        status = 409

    @leadtrace.stage(
        "crm_updated", reason=lambda e: "duplicate" if getattr(e, "status", 0) == 409 else None
    )
    def write() -> None:
        raise ConflictError("Contact already exists")

    with pytest.raises(ConflictError):
        write()
    assert _span(handle, "crm_updated").attributes[semconv.FAILURE_REASON] == "duplicate"


async def test_async_stage_is_current_span_for_children(handle: Leadtrace) -> None:
    """An async stage wraps the awaited call and is the parent of spans inside it."""

    @leadtrace.stage("lead_enriched")
    async def enrich() -> None:
        await asyncio.sleep(0)
        with handle.tracer_provider.get_tracer("http").start_as_current_span("POST /enrich"):
            pass

    await enrich()
    parent = _span(handle, "lead_enriched")
    child = _span(handle, "POST /enrich")
    assert child.parent.span_id == parent.context.span_id
    assert parent.attributes[semconv.EVENT_LAYER] == "enrichment"


async def test_async_stage_failure(handle: Leadtrace) -> None:
    """An async stage failure is recorded with its layer."""

    @leadtrace.stage("lead_enriched")
    async def enrich() -> None:
        raise ConnectionError("provider down")

    with pytest.raises(ConnectionError):
        await enrich()
    assert _span(handle, "lead_enriched").attributes[semconv.FAILURE_LAYER] == "enrichment"


def test_generator_stage_spans_the_iteration(handle: Leadtrace) -> None:
    """A generator stage is one span over all steps; the caller is not inside it between steps."""
    from opentelemetry import trace

    @leadtrace.stage(
        "crm_updated",
        result=lambda n: {"crm_system": "hubspot", "crm_object": "contact", "operation": "upsert"},
    )
    def sync_batches() -> Iterator[int]:
        for n in range(3):
            assert trace.get_current_span().is_recording()
            yield n
        return 3

    collected = []
    for item in sync_batches():
        assert not trace.get_current_span().is_recording()
        collected.append(item)
    assert collected == [0, 1, 2]
    span = _span(handle, "crm_updated")
    assert span.end_time is not None
    assert span.attributes[semconv.CRM_OPERATION] == "upsert"


def test_partial_result_reports_missing_fields_without_raising(handle: Leadtrace) -> None:
    """A result lacking required fields is recorded as invalid, not raised, even when strict."""

    @leadtrace.stage("crm_updated", result=lambda _: {"crm_system": "hubspot"})
    def write() -> None:
        return None

    write()
    attrs = _span(handle, "crm_updated").attributes
    assert attrs[semconv.QUALITY_VALID] is False
    assert set(attrs[semconv.QUALITY_VIOLATIONS]) == {"crm_object:missing", "operation:missing"}


def test_captured_arguments_fill_result_fields(handle: Leadtrace) -> None:
    """A captured argument that is an event field counts toward the event's fields."""

    @leadtrace.stage("lead_routed", capture=["lead_id"], result=lambda r: {"routing_rule_id": r})
    def route(lead_id: str) -> str:
        return "emea"

    route("L-9")
    attrs = _span(handle, "lead_routed").attributes
    assert (attrs[semconv.LEAD_ID], attrs[semconv.ROUTING_RULE_ID]) == ("L-9", "emea")
    assert semconv.QUALITY_VALID not in attrs


def test_wrong_type_in_result_raises_in_strict_mode(handle: Leadtrace) -> None:
    """A type violation in a stage result is an EventValidationError in strict mode."""
    from leadtrace.errors import EventValidationError

    @leadtrace.stage("lead_routed", result=lambda _: {"lead_id": "L", "routing_rule_id": 5})
    def route() -> None:
        return None

    with pytest.raises(EventValidationError, match="routing_rule_id"):
        route()


async def test_async_generator_stage(handle: Leadtrace) -> None:
    """An async generator stage is one span; a failure mid-stream is recorded."""

    @leadtrace.stage("lead_created")
    async def leads() -> AsyncIterator[str]:
        yield "L-1"
        raise ValueError("bad page")

    got = []

    async def consume() -> None:
        async for lead in leads():
            got.append(lead)

    with pytest.raises(ValueError, match="bad page"):
        await consume()
    assert got == ["L-1"]
    assert _span(handle, "lead_created").attributes[semconv.FAILURE_LAYER] == "identity"


def test_custom_stage_needs_a_layer() -> None:
    """A stage that is not a registered event must name its layer, loudly at decoration."""
    with pytest.raises(ConfigError, match="layer"):

        @leadtrace.stage("score_computed")
        def score() -> None: ...


def test_capture_of_unknown_parameter_is_loud() -> None:
    """capture= naming a parameter the function lacks fails at decoration."""
    with pytest.raises(ConfigError, match="no parameter"):

        @leadtrace.stage("lead_routed", capture=["lead"])
        def route(lead_id: str) -> None: ...


def test_custom_stage_with_result(handle: Leadtrace) -> None:
    """A custom stage records its result fields under its own namespace."""

    @leadtrace.stage("score_computed", layer="enrichment", result=lambda s: {"score": s})
    def score() -> float:
        return 0.7

    score()
    attrs = _span(handle, "score_computed").attributes
    assert attrs["martech.score_computed.score"] == 0.7
    assert attrs[semconv.EVENT_LAYER] == "enrichment"


def test_failing_result_mapper_never_breaks_the_call(lenient: Leadtrace) -> None:
    """In lenient mode a crashing result mapper is swallowed; the return value is intact."""

    @leadtrace.stage("lead_routed", result=lambda _: 1 / 0)  # type: ignore[arg-type]
    def route() -> str:
        return "ok"

    assert route() == "ok"
    assert _span(lenient, "lead_routed").status.status_code is StatusCode.UNSET


def test_stage_keeps_function_metadata() -> None:
    """The wrapper keeps the function's name and docstring."""

    @leadtrace.stage("lead_routed")
    def route() -> None:
        """Route a lead."""

    assert (route.__name__, route.__doc__) == ("route", "Route a lead.")


async def test_async_generator_stage_forwards_asend(handle: Leadtrace) -> None:
    """Values sent with asend() reach the decorated async generator."""

    @leadtrace.stage("lead_enriched")
    async def accumulate() -> AsyncIterator[int]:
        total = 0
        while True:
            received = yield total
            total += received

    agen = accumulate()
    assert await agen.asend(None) == 0
    assert await agen.asend(5) == 5
    assert await agen.asend(2) == 7
    await agen.aclose()
    assert _span(handle, "lead_enriched").end_time is not None


def test_stage_events_reach_event_hooks(handle: Leadtrace) -> None:
    """A stage that produces an event (result=) runs the event hooks, like emit()."""
    seen: list[str] = []
    handle.on_event(lambda event, attrs: seen.append(event.event_name))

    @leadtrace.stage("consent_captured", result=lambda _: {"consent": {"status": "granted"}})
    def capture() -> None:
        return None

    capture()
    assert seen == ["consent_captured"]


class _RaisingProcessor:
    """Another library's span processor that fails in ``on_start`` or ``on_end``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.where == "on_start":
            raise RuntimeError("other processor failed in on_start")

    def _on_ending(self, span: Any) -> None:
        """Nothing to do while the span ends."""

    def on_end(self, span: Any) -> None:
        if self.where == "on_end":
            raise RuntimeError("other processor failed in on_end")

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing buffered."""
        return True


def _stages(calls: list[str]) -> dict[str, Any]:
    """One @stage function of each kind, recording each run of its body in ``calls``."""

    @leadtrace.stage("lead_routed", result=lambda r: {"routing_rule_id": r, "lead_id": "L-1"})
    def sync_ok() -> str:
        calls.append("sync_ok")
        return "emea"

    @leadtrace.stage("lead_routed")
    def sync_fails() -> str:
        calls.append("sync_fails")
        raise KeyError("the user's own error")

    @leadtrace.stage("lead_enriched")
    async def async_ok() -> str:
        calls.append("async_ok")
        return "async"

    @leadtrace.stage("crm_updated")
    def gen_ok() -> Iterator[int]:
        calls.append("gen_ok")
        yield 1
        yield 2

    @leadtrace.stage("sales_acknowledged")
    async def agen_ok() -> AsyncIterator[int]:
        calls.append("agen_ok")
        yield 3

    return {
        "sync_ok": sync_ok,
        "sync_fails": sync_fails,
        "async_ok": async_ok,
        "gen_ok": gen_ok,
        "agen_ok": agen_ok,
    }


async def _drain(agen: AsyncIterator[int]) -> list[int]:
    return [item async for item in agen]


@pytest.mark.parametrize("where", ["on_start", "on_end"])
def test_another_processor_raising_never_costs_the_call(where: str) -> None:
    """With a processor that raises in on_start or on_end on the same provider, every @stage
    body runs exactly once, returns or raises the user's own result, leadtrace raises nothing,
    and the failure is counted; with on_end the stage spans are still exported over OTLP."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from _metrics import counter_points
    from leadtrace.testing import OTLPReceiver

    with OTLPReceiver() as receiver:
        provider = TracerProvider()
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces"))
        )
        provider.add_span_processor(_RaisingProcessor(where))  # type: ignore[arg-type]
        reader = InMemoryMetricReader()
        handle = leadtrace.configure(
            service_name="router",
            validation="lenient",
            tracer_provider=provider,
            metric_readers=[reader],
            local=True,
            environ={},
        )
        calls: list[str] = []
        with handle.activate():
            stages = _stages(calls)
            assert stages["sync_ok"]() == "emea"
            with pytest.raises(KeyError, match="the user's own error"):
                stages["sync_fails"]()
            assert asyncio.run(stages["async_ok"]()) == "async"
            assert list(stages["gen_ok"]()) == [1, 2]
            assert asyncio.run(_drain(stages["agen_ok"]())) == [3]
        errors = counter_points(reader, "leadtrace.internal_errors")
        handle.shutdown()
        provider.shutdown()
        exported = sorted(r.name for r in receiver.records())
    assert calls == ["sync_ok", "sync_fails", "async_ok", "gen_ok", "agen_ok"]
    stage_where = "stage.start" if where == "on_start" else "stage.end"
    assert errors == {(("error.type", "RuntimeError"), ("where", stage_where)): 5}
    if where == "on_end":
        assert exported == [
            "crm_updated",
            "lead_enriched",
            "lead_routed",
            "lead_routed",
            "sales_acknowledged",
        ]
