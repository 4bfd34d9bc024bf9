"""emit() and @stage against bare OpenTelemetry spans carrying the same attributes.

Three ratios (targets from the core issue):
1. emit() of a canonical event inside a full journey vs a bare SDK span with the same
   attributes, both on SDK + BatchSpanProcessor: <= 1.25x; measured for an event instance
   built once and for the keyword form users write (``emit("lead_routed", lead_id=...)``,
   validated on every call).
2. a @stage-decorated function vs ``tracer.start_as_current_span`` around the same function,
   the bare span given the same two attributes (stage and layer): <= 1.1x.
3. with no SDK installed, emit() vs a span from the NoOp tracer with the same attributes:
   <= 1.5x.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import leadtrace
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
from leadtrace import _active, semconv
from leadtrace.events import LeadRouted


def _journey() -> leadtrace.journey:
    return leadtrace.journey(
        campaign=leadtrace.Campaign(
            id="spring-launch", source="google", medium="cpc", name="spring", channel="paid_search"
        ),
        consent=leadtrace.ConsentState(
            status="granted", purposes=frozenset({"analytics", "marketing"}), source="banner"
        ),
        identity=leadtrace.IdentityKeys(email_hash="ab" * 32, anonymous_id="anon-1"),
    )


EVENT = LeadRouted(
    lead_id="L-1",
    routing_rule_id="emea-smb",
    routing_rule_version="42",
    owner_id="U-7",
    territory="EMEA",
    queue="smb",
)


FIELDS: dict[str, Any] = {
    "lead_id": "L-1",
    "routing_rule_id": "emea-smb",
    "routing_rule_version": "42",
    "owner_id": "U-7",
    "territory": "EMEA",
    "queue": "smb",
}
"""The same event as keyword fields: ``leadtrace.emit("lead_routed", **FIELDS)``."""

ROUNDS = 100 // PROCESSES


def measure() -> dict[str, Result]:
    """Run the three comparisons in this process."""
    quiet_batches()
    handle = leadtrace.configure(
        service_name="bench", local=True, span_exporters=[Discard()], environ={}
    )
    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(Discard()))
    bare = bare_provider.get_tracer("bare")

    with handle.activate(), _journey():
        leadtrace.emit(EVENT)
    handle.force_flush()
    captured: dict[str, Any] = {}

    def grab(event: Any, attrs: Any) -> None:
        captured.update(attrs)

    handle.on_event(grab)
    with handle.activate(), _journey():
        leadtrace.emit(EVENT)
    handle.event_hooks.clear()
    attrs = dict(captured)

    @leadtrace.stage("lead_routed")
    def staged() -> int:
        return 1

    def plain() -> int:
        return 1

    def bare_emit() -> None:
        bare.start_span("lead_routed", attributes=attrs).end()

    stage_attrs = {semconv.JOURNEY_STAGE: "lead_routed", semconv.EVENT_LAYER: "routing"}

    def bare_stage() -> int:
        with bare.start_as_current_span("lead_routed", attributes=stage_attrs):
            return plain()

    def flush() -> None:
        handle.force_flush()
        bare_provider.force_flush()

    with handle.activate(), _journey():
        sdk = compare(
            {
                "bare_emit": bare_emit,
                "emit": lambda: leadtrace.emit(EVENT),
                "emit_fields": lambda: leadtrace.emit("lead_routed", **FIELDS),
            },
            rounds=ROUNDS,
            between=flush,
        )
    with handle.activate():
        stage = compare({"stage": staged, "bare_stage": bare_stage}, rounds=ROUNDS, between=flush)

    assert _active.global_handle() is None, "run the benchmark in a process without configure()"
    logging.getLogger("leadtrace").setLevel(logging.ERROR)  # "recorded nowhere" is the point
    noop_tracer = trace.NoOpTracer()

    def noop_span() -> None:
        noop_tracer.start_span("lead_routed", attributes=attrs).end()

    with _journey():
        noop = compare(
            {"emit_nosdk": lambda: leadtrace.emit(EVENT), "noop_span": noop_span},
            rounds=ROUNDS,
        )
    handle.shutdown()
    bare_provider.shutdown()
    return {**sdk, **stage, **noop}


def main() -> dict[str, float]:
    """Measure in fresh processes; print and return the ratios."""
    results = fastest_of_processes(measure)
    print(f"leadtrace core overhead ({machine()}; emit spans carry 26 attributes)")
    print_table(
        "ratios (lower is better)",
        [
            (
                "emit() vs bare SDK span, same attributes",
                results["emit"],
                results["bare_emit"],
                1.25,
            ),
            (
                "emit() with keyword fields vs bare SDK span",
                results["emit_fields"],
                results["bare_emit"],
                1.25,
            ),
            ("@stage vs start_as_current_span", results["stage"], results["bare_stage"], 1.10),
            (
                "emit() without SDK vs NoOp-tracer span",
                results["emit_nosdk"],
                results["noop_span"],
                1.5,
            ),
        ],
    )
    return {
        "emit": results["emit"].us / results["bare_emit"].us,
        "emit_fields": results["emit_fields"].us / results["bare_emit"].us,
        "stage": results["stage"].us / results["bare_stage"].us,
        "emit_nosdk": results["emit_nosdk"].us / results["noop_span"].us,
    }


if __name__ == "__main__":
    main()
