"""SLI counting: emit() with the SLI recorder against the same emit() without it.

Both handles are built the same way (SDK + BatchSpanProcessor to a discarding exporter, a
metric reader); the second one has the SLI hook removed. The event (a routed lead inside a
journey) counts toward three built-in SLIs and the journey latency histogram. The timed
blocks measure what the caller pays (predicates, bounded labels, one queue append); the
queue is folded into the counters when the reader collects, outside the timing, and that
collection-side cost per event is printed on its own. Target: <= 1.05x.

Prints the median ratio over fresh processes and its spread (min-max).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from benchmarks._harness import PROCESSES, Discard, compare, machine, quiet_batches
from benchmarks.bench_core import EVENT, _journey
from leadtrace.metrics import SliRecorder, recorder_of

ROUNDS = 60
TARGET = 1.05


def _handle(*, sli: bool) -> leadtrace.Leadtrace:
    handle = leadtrace.configure(
        service_name="bench",
        local=True,
        span_exporters=[Discard()],
        metric_readers=[InMemoryMetricReader()],
        environ={},
    )
    if not sli:
        handle.event_hooks[:] = [h for h in handle.event_hooks if not isinstance(h, SliRecorder)]
    return handle


def measure() -> dict[str, float]:
    """One process: per-call µs of both variants and the fold cost per event."""
    quiet_batches()
    with_sli, without_sli = _handle(sli=True), _handle(sli=False)

    def emit_with() -> None:
        with with_sli.activate():
            leadtrace.emit(EVENT)

    def emit_without() -> None:
        with without_sli.activate():
            leadtrace.emit(EVENT)

    def flush() -> None:
        with_sli.force_flush()
        without_sli.force_flush()

    # The journey's own span goes to the handle with the recorder; both variants' events
    # are its children (the same context for both).
    with with_sli.activate(), _journey():
        results = compare(
            {"emit_sli": emit_with, "emit": emit_without}, rounds=ROUNDS, between=flush
        )
        recorder = recorder_of(with_sli)
        recorder.fold()
        events = 20_000
        for index in range(events):
            emit_with()
            if index % 1000 == 999:
                with_sli.tracer_provider.force_flush()  # no span queue overflow (untimed)
        start = time.perf_counter_ns()
        recorder.fold()
        fold_us = (time.perf_counter_ns() - start) / events / 1000
    with_sli.shutdown()
    without_sli.shutdown()
    return {
        "emit_sli": results["emit_sli"].us,
        "emit": results["emit"].us,
        "fold": fold_us,
    }


def main() -> dict[str, float]:
    """Measure in fresh processes; print the median ratio and its spread."""
    context = multiprocessing.get_context("spawn")
    runs: list[dict[str, float]] = []
    for _ in range(PROCESSES):
        with context.Pool(1) as pool:
            runs.append(pool.apply(measure))
    ratios = sorted(r["emit_sli"] / r["emit"] for r in runs)
    median = statistics.median(ratios)
    print(f"SLI counting cost ({machine()}; a routed lead counting toward 3 SLIs + latency)")
    print(
        f"emit() with SLI recorder vs without: median {median:.3f}x, "
        f"spread {ratios[0]:.3f}x-{ratios[-1]:.3f}x over {len(ratios)} processes "
        f"(target {TARGET:.2f}x: {'ok' if median <= TARGET else 'OVER'})"
    )
    print(
        "per call: "
        + ", ".join(f"{r['emit_sli']:.2f} vs {r['emit']:.2f} µs" for r in runs)
        + "; fold on collection, per event: "
        + ", ".join(f"{r['fold']:.2f} µs" for r in runs)
    )
    return {"sli": median}


if __name__ == "__main__":
    main()
