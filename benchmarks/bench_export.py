"""End to end: process CPU per exported event through BatchSpanProcessor + OTLP/HTTP.

What a deployment is sized with (collector-config/README.md): how much CPU one exported
event costs the application process, counting every thread (the caller building the span and
the batch processor's thread encoding and posting it), and so how many events per second one
core sustains. The receiver is leadtrace's OTLP test receiver in another process on 127.0.0.1,
so its decoding is not counted.

Variants, each run alternately in fresh interpreters, ``ROUNDS`` times:

1. bare OpenTelemetry: an SDK span carrying exactly the attributes leadtrace's ``lead_routed``
   span carries, exported by the stock OTLP/HTTP exporter;
2. leadtrace: ``emit("lead_routed", ...)`` inside journeys of five events;
3. leadtrace with ``sample_ratio=0.1``: the same, one journey in ten kept whole.

Reported: median and spread (min-max) of CPU µs per event and per exported span, events per
second per core at the median, and each variant's median against bare OpenTelemetry's.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._harness import machine

EVENTS = 10_000
JOURNEY_EVENTS = 5
ROUNDS = 5
VARIANTS = ("bare OpenTelemetry span", "leadtrace emit", "leadtrace emit, 10 % journeys")

_RECEIVER = """
import sys
from leadtrace.testing import OTLPReceiver
with OTLPReceiver(max_spans=1) as receiver:
    print(receiver.url, flush=True)
    sys.stdin.read()
"""


@dataclass(frozen=True)
class Run:
    """One variant's run: process CPU seconds, events emitted, spans the exporter sent."""

    cpu_s: float
    events: int
    exported: int


def _counting(exporter: Any) -> Any:
    """Wrap ``exporter`` to count the spans it sent successfully."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Counting(SpanExporter):
        sent = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            result = exporter.export(spans)
            if result is SpanExportResult.SUCCESS:
                Counting.sent += len(spans)
            return result

        def shutdown(self) -> None:
            exporter.shutdown()

    return Counting()


def _lead_routed(i: int) -> dict[str, Any]:
    return {
        "lead_id": f"L-{i}",
        "routing_rule_id": "dach-v2",
        "routing_rule_version": "7",
        "owner_id": "U-DE",
        "territory": "DE",
        "queue": "inbound",
    }


def _leadtrace_attributes() -> dict[str, Any]:
    """The attributes of one leadtrace ``lead_routed`` span (captured in memory)."""
    import leadtrace

    handle = leadtrace.configure(
        service_name="bench", environment="test", local=True, environ={}, scrub=True
    )
    with handle.activate(), leadtrace.journey():
        leadtrace.emit("lead_routed", **_lead_routed(0))
    # the journey opens its own `journey` span too (docs/journeys.md, trace model)
    (span,) = [s for s in handle.finished_spans() if s.name == "lead_routed"]
    handle.shutdown()
    return dict(span.attributes or {})


def _run(variant: str, url: str) -> Run:
    """Emit ``EVENTS`` events in this (fresh) process and flush; measure process CPU."""
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = str(EVENTS * 2)  # nothing dropped: all is counted
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    import leadtrace

    exporter = _counting(OTLPSpanExporter(endpoint=f"{url}/v1/traces"))
    if variant == VARIANTS[0]:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        attributes = _leadtrace_attributes()
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("bench")
        start = time.process_time()
        for _ in range(EVENTS):
            tracer.start_span("lead_routed", attributes=attributes).end()
        provider.force_flush()
        cpu = time.process_time() - start
        provider.shutdown()
    else:
        ratio = 0.1 if variant == VARIANTS[2] else None
        handle = leadtrace.configure(
            service_name="bench",
            environment="test",
            local=True,
            environ={},
            span_exporters=[exporter],
            sample_ratio=ratio,
        )
        with handle.activate():
            start = time.process_time()
            for j in range(EVENTS // JOURNEY_EVENTS):
                with leadtrace.journey():
                    for k in range(JOURNEY_EVENTS):
                        leadtrace.emit("lead_routed", **_lead_routed(j * JOURNEY_EVENTS + k))
            handle.force_flush()
            cpu = time.process_time() - start
        handle.shutdown()
    return Run(cpu, EVENTS, type(exporter).sent)


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}"


def main() -> None:
    """Run every variant ``ROUNDS`` times in fresh interpreters and print the table."""
    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    assert receiver.stdin is not None
    url = receiver.stdout.readline().strip()
    runs: dict[str, list[Run]] = {v: [] for v in VARIANTS}
    context = multiprocessing.get_context("spawn")
    try:
        for round_ in range(ROUNDS):
            shift = round_ % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                with context.Pool(1) as pool:
                    runs[variant].append(pool.apply(_run, (variant, url)))
    finally:
        receiver.stdin.close()
        receiver.wait(timeout=30)

    print(f"\nEnd to end: {EVENTS:,} events per run, {ROUNDS} runs each; {machine()}")
    print("process CPU (all threads) through BatchSpanProcessor + OTLP/HTTP to 127.0.0.1")
    header = (
        f"{'variant':<32} {'µs/event':>9} {'spread':>13} {'µs/span':>8} "
        f"{'events/s/core':>14} {'ratio':>6}"
    )
    print(header)
    base = statistics.median(r.cpu_s / r.events for r in runs[VARIANTS[0]])
    for variant in VARIANTS:
        per_event = [r.cpu_s / r.events * 1e6 for r in runs[variant]]
        per_span = [r.cpu_s / max(r.exported, 1) * 1e6 for r in runs[variant]]
        median = statistics.median(per_event)
        print(
            f"{variant:<32} {median:>9.1f} {_spread(per_event):>13} "
            f"{statistics.median(per_span):>8.1f} {1e6 / median:>14,.0f} "
            f"{median / (base * 1e6):>5.2f}x"
        )
    exported = {v: sorted({r.exported for r in rs}) for v, rs in runs.items()}
    print(f"spans exported per run: {exported}")


if __name__ == "__main__":
    main()
