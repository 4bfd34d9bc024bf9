"""Round-robin timing with the cyclic GC off inside timed blocks, in several processes.

Each variant runs ``rounds`` times in turn (A, B, A, B, ...), each round ``iterations`` calls,
and reports the fastest round's per-call time (as ``timeit`` advises: slower rounds measure
interference from the rest of the machine, not the code). Interleaving puts machine noise on
every variant alike; GC off avoids charging one variant for collections triggered by spans
queued by the other (see the performance notes).

On a shared virtual machine one process can run a variant slower for its whole life (where
its objects landed in memory, its hash seed): up to half again as slow, whatever the code.
:func:`fastest_of_processes` therefore repeats the whole comparison in fresh interpreters and
keeps each variant's fastest time. Quote the ratios, not the absolute times.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = [
    "BATCH_ENV",
    "PROCESSES",
    "Discard",
    "Result",
    "compare",
    "fastest_of_processes",
    "machine",
    "print_table",
    "quiet_batches",
]

PROCESSES = 4
"""Fresh interpreters each comparison runs in (see the module docstring)."""

# The batch processor's export thread competes for the GIL whenever a batch fills up, which
# makes timings noisy, and a full queue drops spans (cheaper than keeping them). Timed blocks
# stay below these sizes and ``compare(between=...)`` flushes the queues outside the timing;
# every variant uses the same settings.
BATCH_ENV: dict[str, str] = {
    "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8192",
    "OTEL_BSP_SCHEDULE_DELAY": "60000",
}


def quiet_batches() -> None:
    """Apply :data:`BATCH_ENV` to this process (before any BatchSpanProcessor is built)."""
    os.environ.update(BATCH_ENV)


class Discard(SpanExporter):
    """Accepts every batch and drops it: measures the pipeline, not a network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@dataclass(frozen=True)
class Result:
    """Per-call time of one variant's fastest round, in microseconds."""

    name: str
    us: float


_SETTLE_S = 0.02


def _time_block(fn: Callable[[], object], iterations: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    gc.collect()
    return elapsed / iterations / 1000


def compare(
    variants: Mapping[str, Callable[[], object]],
    *,
    iterations: int = 200,
    rounds: int = 100,
    warmup: int = 500,
    between: Callable[[], object] | None = None,
) -> dict[str, Result]:
    """Time every variant round-robin; returns the fastest round per variant.

    ``between`` runs after every timed block, outside the timing (e.g. flush the span
    queues, so each block starts from an empty batch queue).
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    if between is not None:
        between()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    lead_in = max(1, iterations // 10)
    order = list(variants.items())
    for round_ in range(rounds):
        # Each round starts with another variant: no variant always runs right after the
        # same other one.
        shift = round_ % len(order)
        for name, fn in order[shift:] + order[:shift]:
            # A few untimed calls first: after the settle pause below the CPU is idle, and
            # whichever variant ran first would otherwise pay for waking it up.
            for _ in range(lead_in):
                fn()
            samples[name].append(_time_block(fn, iterations))
            if between is not None:
                between()
                # Let the export thread finish with what the flush handed it (freeing the
                # spans) before the next block: otherwise that work lands on whichever
                # variant runs next.
                time.sleep(_SETTLE_S)
    return {name: Result(name, min(v)) for name, v in samples.items()}


def fastest_of_processes(
    measure: Callable[[], Mapping[str, Result]], processes: int = PROCESSES
) -> dict[str, Result]:
    """Run ``measure`` (a module-level function) in ``processes`` fresh interpreters, one
    after the other; per variant, the fastest time any of them measured."""
    context = multiprocessing.get_context("spawn")
    best: dict[str, Result] = {}
    for _ in range(processes):
        with context.Pool(1) as pool:
            results = pool.apply(measure)
        for name, result in results.items():
            if name not in best or result.us < best[name].us:
                best[name] = result
    return best


def machine() -> str:
    """One line describing where the numbers come from."""
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
    )


def print_table(title: str, rows: list[tuple[str, Result, Result, float]]) -> None:
    """Print ``(label, ours, baseline, target)`` rows with the ratio and a verdict."""
    print(f"\n{title}")
    print(f"{'comparison':<48} {'ours µs':>9} {'base µs':>9} {'ratio':>7} {'target':>7}")
    for label, ours, base, target in rows:
        ratio = ours.us / base.us
        verdict = "ok" if ratio <= target else "OVER"
        print(
            f"{label:<48} {ours.us:>9.2f} {base.us:>9.2f} {ratio:>6.2f}x {target:>6.2f}x {verdict}"
        )
