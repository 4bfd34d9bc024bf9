"""Delivery against the SDK's BatchSpanProcessor + OTLP encoding, side by side in one run.

Two ratios, each measured in several fresh processes (median and spread reported):
1. ending a span with 15 attributes on a provider exporting through leadtrace's
   ``DeliveryProcessor`` vs through the SDK's ``BatchSpanProcessor`` (the application's
   cost; both queues drained outside the timing): target <= 1.05x.
2. preparing a batch of 512 such spans for the wire: leadtrace's ``encode`` (repair scan +
   OTLP encoding) vs the stock exporter's ``encode_spans(...).SerializeToString()``, per span
   (the export thread's cost): target <= 1.10x.
"""

from __future__ import annotations

import multiprocessing
import statistics
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from benchmarks._harness import PROCESSES, Discard, Result, compare, machine, quiet_batches
from leadtrace.delivery import DeliveryProcessor, Drops, Outcome, Sent, encode

ATTRIBUTES: dict[str, Any] = {f"martech.bench.key_{n}": f"value-{n}-" * 3 for n in range(15)}
ROUNDS = 40


class DiscardTransport:
    """Accepts every request and drops it: measures the pipeline, not a network."""

    def send(self, data: bytes, timeout: float) -> Sent:
        return Sent(Outcome.SENT)

    def close(self) -> None:
        """Nothing to close."""


def measure() -> dict[str, Result]:
    """Run both comparisons in this process."""
    quiet_batches()
    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(Discard()))
    ours_provider = TracerProvider()
    delivery = DeliveryProcessor(
        Drops(NoOpMeterProvider().get_meter("bench")),
        transport=DiscardTransport(),
        max_queue_size=8192,
        max_batch_size=8192,
        schedule_delay=60.0,
    )
    ours_provider.add_span_processor(delivery)
    bare = bare_provider.get_tracer("bench")
    ours = ours_provider.get_tracer("bench")

    def flush() -> None:
        bare_provider.force_flush()
        delivery.force_flush()

    ending = compare(
        {
            "bare_end": lambda: bare.start_span("lead_routed", attributes=ATTRIBUTES).end(),
            "ours_end": lambda: ours.start_span("lead_routed", attributes=ATTRIBUTES).end(),
        },
        rounds=ROUNDS,
        between=flush,
    )
    batch = []
    for _ in range(512):
        span = bare.start_span("lead_routed", attributes=ATTRIBUTES)
        span.end()
        batch.append(span)
    encoding = compare(
        {
            "bare_encode": lambda: encode_spans(batch).SerializeToString(),
            "ours_encode": lambda: encode(batch, 4096),
        },
        iterations=2,
        rounds=ROUNDS // 2,
        warmup=4,
    )
    per_span = {k: Result(k, v.us / len(batch)) for k, v in encoding.items()}
    bare_provider.shutdown()
    ours_provider.shutdown()
    return {**ending, **per_span}


def main() -> dict[str, float]:
    """Measure in fresh processes; print the median ratio and its spread, and return them."""
    context = multiprocessing.get_context("spawn")
    runs: list[dict[str, Result]] = []
    for _ in range(PROCESSES):
        with context.Pool(1) as pool:
            runs.append(pool.apply(measure))
    rows = [
        ("end a span: DeliveryProcessor vs BatchSpanProcessor", "ours_end", "bare_end", 1.05),
        ("encode per span: repair + encode vs encode_spans", "ours_encode", "bare_encode", 1.10),
    ]
    print(f"leadtrace delivery overhead ({machine()}; spans carry 15 attributes)")
    print(f"\n{'comparison':<52} {'ours µs':>8} {'base µs':>8} {'median':>7} {'spread':>13} target")
    ratios: dict[str, float] = {}
    for label, ours, base, target in rows:
        per_run = sorted(run[ours].us / run[base].us for run in runs)
        median = statistics.median(per_run)
        ours_us = min(run[ours].us for run in runs)
        base_us = min(run[base].us for run in runs)
        verdict = "ok" if median <= target else "OVER"
        spread = f"{per_run[0]:.2f}-{per_run[-1]:.2f}x"
        print(
            f"{label:<52} {ours_us:>8.2f} {base_us:>8.2f} {median:>6.2f}x {spread:>13} "
            f"{target:.2f}x {verdict}"
        )
        ratios[ours] = median
    return ratios


if __name__ == "__main__":
    main()
