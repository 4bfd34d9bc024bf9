"""The scrubbing span processor against the same span without it, in one run.

Both variants run on SDK + BatchSpanProcessor to a discarding exporter; the only difference
is the ScrubbingSpanProcessor in front, in its documented form for a provider you set up
yourself: ``ScrubbingSpanProcessor(forward_to=BatchSpanProcessor(...))``. The span is a
routed-lead span with 20 attributes (business context, an HTTP client part with a full URL
and a query string); every span has its own numbered lead id (in an attribute and in the
URL), and none carries personal data, which is the common case the net must keep cheap.
Target: <= 1.10x.

Three informational rows follow: the processor added on its own in front of the exporting
one (the SDK then calls two processors per span); the same span with a hex lead id, so that
no two spans share a text template (the processor remembers clean text by template, digits
as 0, so numbered ids share one; see leadtrace.scrubbing) and every span takes the full
pattern pass; and the rare case, an e-mail address in the URL, where the processor rewrites
the attributes.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from benchmarks._harness import (
    PROCESSES,
    Discard,
    Result,
    compare,
    fastest_of_processes,
    machine,
    print_table,
    quiet_batches,
)
from leadtrace.scrubbing import ScrubbingSpanProcessor

TARGET = 1.10
_DISTINCT = 30_000  # more spans than one variant runs: every lead id is new to the processor
ROUNDS = 120 // PROCESSES

ATTRIBUTES: dict[str, Any] = {
    "martech.event.name": "lead_routed",
    "martech.event.id": "9c1f6a0e2b7d4c1e8f3a5b6c7d8e9f01",
    "martech.event.schema_version": "1-0-0",
    "martech.event.layer": "routing",
    "martech.journey.id": "7f3c2a9e4b1d4e6f8a0b1c2d3e4f5a6b",
    "martech.journey.stage": "lead_routed",
    "martech.journey.started_at": "2026-03-02T10:00:00.000Z",
    "martech.campaign.id": "spring-launch",
    "martech.campaign.source": "google",
    "martech.campaign.medium": "cpc",
    "martech.campaign.channel": "paid_search",
    "martech.consent.status": "granted",
    "martech.identity.email_hash": "ab" * 32,
    "martech.lead.id": "L-20260302-0001",
    "martech.routing.rule_id": "emea-smb",
    "martech.routing.owner_id": "U-7",
    "martech.routing.territory": "EMEA",
    "http.request.method": "POST",
    "url.full": "https://router.internal/api/v2/assign?lead=L-20260302-0001&rule=emea-smb",
    "http.response.status_code": 200,
}
WITH_EMAIL = {
    **ATTRIBUTES,
    "url.full": "https://router.internal/api/v2/assign?email=jane.doe%40example.org&lead=L-20260302-0001",
}


def _variants(
    template: dict[str, Any], count: int, *, hex_ids: bool = False
) -> list[dict[str, Any]]:
    """``count`` copies of ``template`` with a different lead id (and so URL) in each.

    Real traffic repeats sources and channels but not lead ids. Numbered ids share a
    template (digits as 0) that the processor remembers as clean; ``hex_ids`` gives every
    span a new template as well, so each one takes the full pattern pass.
    """
    out = []
    for i in range(count):
        lead = (
            f"L-{hashlib.sha256(str(i).encode()).hexdigest()[:16]}"
            if hex_ids
            else f"L-20260302-{i:06d}"
        )
        attrs = dict(template)
        attrs["martech.lead.id"] = lead
        attrs["url.full"] = template["url.full"].replace("L-20260302-0001", lead)
        out.append(attrs)
    return out


def _span_fn(provider: TracerProvider, attributes: list[dict[str, Any]]) -> Callable[[], None]:
    tracer = provider.get_tracer("bench")
    cycle = itertools.cycle(attributes)

    def run() -> None:
        tracer.start_span("lead_routed", attributes=next(cycle)).end()

    return run


def _provider(scrubbing: str) -> TracerProvider:
    """SDK + BatchSpanProcessor to a discarding exporter; ``scrubbing`` is ``none``,
    ``wrapped`` (the scrubber wraps the batch processor) or ``alone`` (added before it)."""
    provider = TracerProvider()
    batch = BatchSpanProcessor(Discard())
    if scrubbing == "wrapped":
        provider.add_span_processor(ScrubbingSpanProcessor(forward_to=batch))
        return provider
    if scrubbing == "alone":
        provider.add_span_processor(ScrubbingSpanProcessor())
    provider.add_span_processor(batch)
    return provider


def measure() -> dict[str, Result]:
    """Time the span with and without scrubbing side by side, in this process.

    Every variant has its own provider and processor, as separate services would: the
    scrubber's plan for a span shape learns from the spans it sees, so the hex-id row's
    spans must not change what the numbered-id row measures.
    """
    quiet_batches()
    clean, dirty = _variants(ATTRIBUTES, _DISTINCT), _variants(WITH_EMAIL, _DISTINCT)
    hex_ids = _variants(ATTRIBUTES, _DISTINCT, hex_ids=True)
    setups = {
        "bare": ("none", clean),
        "scrubbed": ("wrapped", clean),
        "alone": ("alone", clean),
        "bare_email": ("none", dirty),
        "scrubbed_email": ("wrapped", dirty),
        "bare_hex": ("none", hex_ids),
        "scrubbed_hex": ("wrapped", hex_ids),
    }
    providers = {name: _provider(scrubbing) for name, (scrubbing, _) in setups.items()}
    try:
        return compare(
            {name: _span_fn(providers[name], data) for name, (_, data) in setups.items()},
            rounds=ROUNDS,
            between=lambda: [provider.force_flush() for provider in providers.values()],
        )
    finally:
        for provider in providers.values():
            provider.shutdown()


def main() -> dict[str, float]:
    """Measure in fresh processes; print and return the ratios."""
    results = fastest_of_processes(measure)
    print(machine())
    print_table(
        "scrubbing processor vs the same span without it (SDK + BatchSpanProcessor)",
        [
            ("20-attribute span, no personal data", results["scrubbed"], results["bare"], TARGET),
            (
                "same, processor added on its own (info)",
                results["alone"],
                results["bare"],
                float("inf"),
            ),
            (
                "same span, hex lead id: new text shape (info)",
                results["scrubbed_hex"],
                results["bare_hex"],
                float("inf"),
            ),
            (
                "same span, e-mail in url.full (rewritten; info)",
                results["scrubbed_email"],
                results["bare_email"],
                float("inf"),
            ),
        ],
    )
    return {
        "scrubbing": results["scrubbed"].us / results["bare"].us,
        "scrubbing_with_email": results["scrubbed_email"].us / results["bare_email"].us,
        "scrubbing_hex_ids": results["scrubbed_hex"].us / results["bare_hex"].us,
    }


if __name__ == "__main__":
    main()
