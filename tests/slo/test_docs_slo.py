"""docs/slo.md stays in step with the built-in SLIs and the exported metric names."""

from __future__ import annotations

from pathlib import Path

from leadtrace.metrics import DEFAULT_LATENCY_BUCKETS, JOURNEY_LATENCY, SLI_EVENTS, SLI_GOOD_EVENTS
from leadtrace.slo import load_slis

DOC = (Path(__file__).parents[2] / "docs" / "slo.md").read_text()


def test_every_built_in_sli_is_documented() -> None:
    """Each built-in SLI's name appears in docs/slo.md."""
    assert [s.name for s in load_slis().slis if f"`{s.name}`" not in DOC] == []


def test_instrument_names_and_buckets_are_documented() -> None:
    """The instrument names and the default latency buckets are the ones the doc lists."""
    assert all(f"`{name}`" in DOC for name in (SLI_EVENTS, SLI_GOOD_EVENTS, JOURNEY_LATENCY))
    assert ", ".join(f"{b:g}" for b in DEFAULT_LATENCY_BUCKETS) in DOC
