"""Journey-consistent sampling: the sampler's rules, its settings, and two processes agreeing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

import leadtrace
from _handles import event_spans
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.context import BusinessContext, current_journey
from leadtrace.errors import ConfigError
from leadtrace.sampling import JourneySampler, journey_sampled, sampler_from_settings
from leadtrace.testing import OTLPReceiver

E2E = Path(__file__).parent / "e2e"
JOURNEY_IDS = [f"{n:032x}" for n in range(0x5EED0000, 0x5EED0000 + 400)]


def _handle(ratio: float, **settings: Any) -> Leadtrace:
    return leadtrace.configure(
        service_name="sampling-test",
        environment="test",
        local=True,
        sample_ratio=ratio,
        environ={},
        **settings,
    )


@pytest.fixture
def half() -> Iterator[Leadtrace]:
    """A local handle keeping half of all journeys, active for the test."""
    handle = _handle(0.5)
    with handle.activate():
        yield handle
    handle.shutdown()


@pytest.fixture
def none_kept() -> Iterator[Leadtrace]:
    """A local lenient handle at ratio 0: only the always-keep rules export anything."""
    handle = _handle(0.0, validation="lenient")
    with handle.activate():
        yield handle
    handle.shutdown()


def _journeys_exported(handle: Leadtrace) -> set[str]:
    return {str(s.attributes[semconv.JOURNEY_ID]) for s in handle.finished_spans()}


def _parent(sampled: bool, remote: bool = True) -> Context:
    """The current context (with its journey, if any) under a parent span with a trace state."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(
        SpanContext(0x1234, 0xABCD, is_remote=remote, trace_flags=flags,
                    trace_state=TraceState([("vendor", "kept")]))
    )  # fmt: skip
    return trace.set_span_in_context(span, otel_context.get_current())


def test_a_journey_is_kept_exactly_when_its_id_hashes_under_the_ratio(half: Leadtrace) -> None:
    """Spans in a journey are exported exactly for the journeys journey_sampled() keeps."""
    for journey_id in JOURNEY_IDS:
        with leadtrace.journey(journey_id):
            leadtrace.emit("form_submitted", form_id="f-1")
    expected = {j for j in JOURNEY_IDS if journey_sampled(j, 0.5)}
    assert expected == _journeys_exported(half)
    assert 0.4 < len(expected) / len(JOURNEY_IDS) < 0.6


def test_every_trace_of_a_journey_gets_the_same_decision(half: Leadtrace) -> None:
    """Spans of one journey in separate traces (new roots each) are all kept or all dropped."""
    tracer = half.tracer_provider.get_tracer("t")
    for journey_id in JOURNEY_IDS[:100]:
        with leadtrace.journey(journey_id):
            for _ in range(3):
                root = trace.set_span_in_context(trace.INVALID_SPAN, otel_context.get_current())
                tracer.start_span("worker job", context=root).end()
    counts: dict[str, int] = defaultdict(int)
    for span in event_spans(half.finished_spans()):  # the jobs, not the journey's own span
        counts[str(span.attributes[semconv.JOURNEY_ID])] += 1
    assert set(counts.values()) == {3}
    assert {j for j in JOURNEY_IDS[:100] if journey_sampled(j, 0.5)} == set(counts)


def test_in_a_journey_the_parent_decision_is_not_consulted(half: Leadtrace) -> None:
    """A kept journey's span under an unsampled parent is kept; a dropped one's under a
    sampled parent is dropped."""
    kept = next(j for j in JOURNEY_IDS if journey_sampled(j, 0.5))
    dropped = next(j for j in JOURNEY_IDS if not journey_sampled(j, 0.5))
    tracer = half.tracer_provider.get_tracer("t")
    with leadtrace.journey(kept):
        tracer.start_span("child", context=_parent(sampled=False)).end()
    with leadtrace.journey(dropped):
        tracer.start_span("child", context=_parent(sampled=True)).end()
    assert {kept} == _journeys_exported(half)


def test_a_span_naming_its_journey_in_an_attribute_follows_that_journey(half: Leadtrace) -> None:
    """Outside any journey context, a span started with martech.journey.id gets its
    journey's decision."""
    tracer = half.tracer_provider.get_tracer("t")
    for journey_id in JOURNEY_IDS[:100]:
        tracer.start_span("webhook", attributes={semconv.JOURNEY_ID: journey_id}).end()
    assert {j for j in JOURNEY_IDS[:100] if journey_sampled(j, 0.5)} == _journeys_exported(half)


def test_synthetic_journeys_are_always_kept(none_kept: Leadtrace) -> None:
    """At ratio 0 a synthetic journey's spans are still exported."""
    with leadtrace.journey("synthetic-journey", synthetic=True):
        leadtrace.emit("form_submitted", form_id="f-1")
    with leadtrace.journey("real-journey"):
        leadtrace.emit("form_submitted", form_id="f-1")
    assert {"synthetic-journey"} == _journeys_exported(none_kept)


def test_a_failure_known_at_start_is_kept_in_a_dropped_journey(none_kept: Leadtrace) -> None:
    """A span started with martech.failure.layer is exported; its journey's others are not."""
    tracer = none_kept.tracer_provider.get_tracer("t")
    with leadtrace.journey("dropped-journey"):
        tracer.start_span("crm write", attributes={semconv.FAILURE_LAYER: "crm"}).end()
        tracer.start_span("crm read").end()
    assert [s.name for s in none_kept.finished_spans()] == ["crm write"]


def test_an_invalid_event_is_kept_in_a_dropped_journey(none_kept: Leadtrace) -> None:
    """Lenient mode's invalid event (quality.valid=false) is exported; a valid one is not."""
    with leadtrace.journey("dropped-journey"):
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="r-1")
        leadtrace.emit("lead_routed", lead_id="L-2", routing_rule_id="r-1", owner_id=7)
    spans = none_kept.finished_spans()
    assert [
        (s.attributes[semconv.LEAD_ID], s.attributes[semconv.QUALITY_VALID]) for s in spans
    ] == [("L-2", False)]


def test_outside_a_journey_roots_follow_the_trace_id_ratio() -> None:
    """A root span outside journeys gets TraceIdRatioBased's decision for its trace id."""
    sampler = JourneySampler(0.3, journey_of=current_journey)
    reference = TraceIdRatioBased(0.3)
    trace_ids = [n * 0x9E3779B97F4A7C15F39CC0605CEDC835 % (1 << 128) for n in range(1, 300)]
    ours = [sampler.should_sample(None, t, "root").decision for t in trace_ids]
    theirs = [reference.should_sample(None, t, "root").decision for t in trace_ids]
    assert theirs == ours
    assert Decision.DROP in ours
    assert Decision.RECORD_AND_SAMPLE in ours


@pytest.mark.parametrize("remote", [True, False])
@pytest.mark.parametrize("sampled", [True, False])
def test_outside_a_journey_children_follow_their_parent(sampled: bool, remote: bool) -> None:
    """Outside journeys a child keeps its (local or remote) parent's decision, as ParentBased."""
    ratio = 0.0 if sampled else 1.0 - 1e-12
    sampler = JourneySampler(ratio, journey_of=current_journey)
    result = sampler.should_sample(_parent(sampled, remote=remote), 0x1234, "child")
    expected = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
    assert expected == result.decision
    assert TraceState([("vendor", "kept")]) == result.trace_state


def test_a_journey_decision_carries_the_parent_trace_state() -> None:
    """The parent's W3C tracestate survives the sampler's journey decision."""
    kept = BusinessContext(journey_id=JOURNEY_IDS[0], started_at=datetime.now(timezone.utc))
    sampler = JourneySampler(1.0 - 1e-12, journey_of=lambda _ctx: kept)
    result = sampler.should_sample(_parent(sampled=False), 0x1234, "span")
    assert result.decision == Decision.RECORD_AND_SAMPLE
    assert TraceState([("vendor", "kept")]) == result.trace_state


def test_it_works_as_the_sampler_of_an_app_provider() -> None:
    """An app's own TracerProvider with the sampler keeps whole journeys at its ratio."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=JourneySampler(0.5, journey_of=current_journey))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handle = leadtrace.configure(
        service_name="app", environment="test", local=True, tracer_provider=provider, environ={}
    )
    with handle.activate():
        for journey_id in JOURNEY_IDS[:50]:
            with leadtrace.journey(journey_id):
                leadtrace.emit("form_submitted", form_id="f-1")
    exported = {str(s.attributes[semconv.JOURNEY_ID]) for s in exporter.get_finished_spans()}
    assert {j for j in JOURNEY_IDS[:50] if journey_sampled(j, 0.5)} == exported
    provider.shutdown()


def test_journey_sampled_is_stable_and_monotonic_in_the_ratio() -> None:
    """A journey kept at 10 % is kept at every higher ratio; the hash never changes."""
    kept_10 = {j for j in JOURNEY_IDS if journey_sampled(j, 0.1)}
    kept_50 = {j for j in JOURNEY_IDS if journey_sampled(j, 0.5)}
    assert kept_10 < kept_50
    assert journey_sampled("00000000000000000000000000000000", 0.5) is False
    assert all(journey_sampled(j, 1.0) for j in JOURNEY_IDS)
    assert not any(journey_sampled(j, 0.0) for j in JOURNEY_IDS)


def test_the_sample_ratio_setting_installs_the_sampler() -> None:
    """configure(sample_ratio=0.25) gives the created provider a 25 % JourneySampler."""
    handle = _handle(0.25)
    sampler = handle.tracer_provider.sampler  # type: ignore[attr-defined]
    assert sampler.get_description() == "JourneySampler{0.25}"
    handle.shutdown()


def test_the_otel_ratio_sampler_selects_the_journey_sampler() -> None:
    """OTEL_TRACES_SAMPLER=parentbased_traceidratio with ARG 0.2 selects JourneySampler(0.2)."""
    handle = leadtrace.configure(
        service_name="s", environment="test", local=True,
        environ={"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                 "OTEL_TRACES_SAMPLER_ARG": "0.2"},
    )  # fmt: skip
    assert handle.tracer_provider.sampler.get_description() == "JourneySampler{0.2}"  # type: ignore[attr-defined]
    handle.shutdown()


def test_leadtrace_sample_ratio_wins_over_the_otel_sampler() -> None:
    """LEADTRACE_SAMPLE_RATIO=1 overrides OTEL_TRACES_SAMPLER: everything is kept."""
    environ = {
        "LEADTRACE_SAMPLE_RATIO": "1",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    handle = leadtrace.configure(service_name="s", environment="test", local=True, environ=environ)
    sampler = handle.tracer_provider.sampler  # type: ignore[attr-defined]
    assert isinstance(sampler, ParentBased)
    assert "ParentBased{root:AlwaysOnSampler" in sampler.get_description()
    handle.shutdown()


@pytest.mark.parametrize("name", ["always_off", "parentbased_always_on", "jaeger_remote", ""])
def test_other_otel_samplers_are_left_to_the_sdk(name: str) -> None:
    """Sampler names other than the trace-id ratios get no leadtrace sampler."""
    assert sampler_from_settings(None, {"OTEL_TRACES_SAMPLER": name}, current_journey) is None


def test_a_ratio_of_one_from_otel_installs_nothing() -> None:
    """traceidratio at 1.0 keeps everything, so the SDK's default is left alone."""
    environ = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.0"}
    assert sampler_from_settings(None, environ, current_journey) is None


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "ten percent", "nan"])
def test_a_bad_ratio_names_the_variable(raw: str) -> None:
    """LEADTRACE_SAMPLE_RATIO outside 0..1 raises ConfigError naming it and the range."""
    with pytest.raises(ConfigError, match=r"LEADTRACE_SAMPLE_RATIO.*between 0 and 1"):
        leadtrace.configure(service_name="s", local=True, environ={"LEADTRACE_SAMPLE_RATIO": raw})


def test_a_bad_otel_sampler_arg_names_the_variable() -> None:
    """A non-numeric OTEL_TRACES_SAMPLER_ARG raises ConfigError naming it."""
    environ = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG"):
        leadtrace.configure(service_name="s", local=True, environ=environ)


def test_a_float_argument_is_checked_too() -> None:
    """configure(sample_ratio=2.0) raises ConfigError; a bool is refused as a ratio."""
    with pytest.raises(ConfigError, match="sample_ratio"):
        _handle(2.0)
    with pytest.raises(ConfigError, match="sample_ratio"):
        _handle(True)


def test_the_sampler_makes_emit_pass_every_attribute_at_start(half: Leadtrace) -> None:
    """With the journey sampler installed, emit() gives the sampler all attributes up front."""
    assert half.attributes_after_start is False


# --- two processes ------------------------------------------------------------------------


JOURNEYS = 1000
RATIO = 0.1
WEB_SPANS = {"POST /lead", "form_submitted", "lead_created"}
WORKER_SPANS = {"journey", "lead_enriched", "lead_routed"}
"""The worker's journey spans (``journey`` is the span its continued journey opens); its
``lead consume`` span, started before the journey is attached, carries no journey and
follows its parent, the web request span."""


@pytest.fixture(scope="module")
def sampled_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[OTLPReceiver, list[dict[str, Any]]]]:
    """Run a web and a worker process at LEADTRACE_SAMPLE_RATIO=0.1, both exporting to one
    OTLP receiver; yields the receiver and the web process's journey list."""
    workdir = tmp_path_factory.mktemp("sampling")
    manifest = workdir / "journeys.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    with OTLPReceiver() as receiver, open(workdir / "err", "w+b") as err:
        env.update(LEADTRACE_OTLP_ENDPOINT=receiver.url, LEADTRACE_SAMPLE_RATIO=str(RATIO))
        env.update(LEADTRACE_LOCAL_DIR=str(workdir))  # their consent audit trails
        script = str(E2E / "sampled_journeys.py")
        web = subprocess.Popen(
            [sys.executable, script, "web", "--journeys", str(JOURNEYS), "--manifest",
             str(manifest)],
            stdout=subprocess.PIPE, stderr=err, env=env,
        )  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, script, "worker"], stdin=web.stdout, stderr=err, env=env
        )
        assert web.stdout is not None
        web.stdout.close()
        codes = (web.wait(timeout=120), worker.wait(timeout=120))
        err.seek(0)
        assert codes == (0, 0), err.read().decode("utf-8", "replace")
        listing = [json.loads(line) for line in manifest.read_text("utf-8").splitlines()]
        yield receiver, listing


def _spans_by_journey(receiver: OTLPReceiver) -> dict[str, list[Any]]:
    by_journey: dict[str, list[Any]] = defaultdict(list)
    for record in receiver.spans():
        if record.journey_id is not None:
            by_journey[record.journey_id].append(record)
    return by_journey


def _always_kept(span: Any) -> bool:
    attrs = span.attributes
    return semconv.FAILURE_LAYER in attrs or attrs.get(semconv.QUALITY_VALID) is False


@pytest.mark.slow
def test_two_processes_keep_only_whole_journeys(
    sampled_run: tuple[OTLPReceiver, list[dict[str, Any]]],
) -> None:
    """Every journey that arrived has all its spans from both processes, or only the
    always-kept failure and invalid spans."""
    receiver, _ = sampled_run
    partial = {}
    for journey_id, spans in _spans_by_journey(receiver).items():
        sampled = {s.name for s in spans if not _always_kept(s)}
        if sampled and sampled != WEB_SPANS | WORKER_SPANS:
            partial[journey_id] = sorted(sampled)
    assert partial == {}


@pytest.mark.slow
def test_two_processes_keep_the_journeys_the_hash_chose(
    sampled_run: tuple[OTLPReceiver, list[dict[str, Any]]],
) -> None:
    """The journeys kept whole are exactly the synthetic ones plus those journey_sampled()
    keeps at 10 %, and they are 10 % of all within three standard deviations."""
    receiver, listing = sampled_run
    whole = {
        journey_id
        for journey_id, spans in _spans_by_journey(receiver).items()
        if {s.name for s in spans} >= WEB_SPANS | WORKER_SPANS
    }
    expected = {
        j["journey"] for j in listing if j["synthetic"] or journey_sampled(j["journey"], RATIO)
    }
    assert expected == whole
    by_hash = sum(journey_sampled(j["journey"], RATIO) for j in listing)
    assert abs(by_hash - JOURNEYS * RATIO) <= 3 * (JOURNEYS * RATIO * (1 - RATIO)) ** 0.5
    assert {"sampled-web", "sampled-worker"} == {s.service_name for s in receiver.spans()}


@pytest.mark.slow
def test_spans_outside_the_journey_follow_their_journey_parent_across_processes(
    sampled_run: tuple[OTLPReceiver, list[dict[str, Any]]],
) -> None:
    """The worker's consume spans (no journey, remote parent) arrive exactly for the traces
    of the kept journeys' web requests."""
    receiver, _ = sampled_run
    kept_requests = {s.trace_id for s in receiver.spans("POST /lead")}
    assert kept_requests == {s.trace_id for s in receiver.spans("lead consume")}
    assert all(s.journey_id is None for s in receiver.spans("lead consume"))


@pytest.mark.slow
def test_two_processes_keep_failures_and_invalid_events_of_dropped_journeys(
    sampled_run: tuple[OTLPReceiver, list[dict[str, Any]]],
) -> None:
    """Every journey's failed CRM write and invalid lead_routed arrive, kept or not."""
    receiver, listing = sampled_run
    problems = {j["journey"] for j in listing if j["i"] % 40 == 1}
    failures = {s.journey_id for s in receiver.spans("crm write")}
    invalid = {
        s.journey_id
        for s in receiver.spans("lead_routed")
        if s.attributes.get(semconv.QUALITY_VALID) is False
    }
    assert (problems, problems) == (failures, invalid)
    dropped = problems - {j["journey"] for j in listing if journey_sampled(j["journey"], RATIO)}
    assert dropped, "some problem journeys fall outside the 10 % (the seed guarantees it)"
