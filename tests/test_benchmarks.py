"""The benchmarks' own setup still matches the library (``make bench`` is not run in CI)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_export_benchmark_copies_the_attributes_of_a_lead_routed_span() -> None:
    """bench_export's bare-OTel variant takes its attributes from one emitted event span,
    not from the journey span that comes with it."""
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.bench_export import _leadtrace_attributes
    finally:
        sys.path.remove(str(ROOT))
    attributes = _leadtrace_attributes()
    assert attributes["martech.event.name"] == "lead_routed"
    assert attributes["martech.routing.owner_id"] == "U-DE"
