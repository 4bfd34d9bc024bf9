"""One side of the sampling test: a web or a worker process under ``LEADTRACE_SAMPLE_RATIO``.

``web`` starts ``--journeys`` journeys (ids from a seeded generator, every 100th synthetic),
emits ``form_submitted`` and ``lead_created`` inside a request span, and writes one JSON line
per journey (leadtrace and W3C trace headers) to stdout, plus the journey list to
``--manifest``. ``worker`` reads those lines, continues each journey and its trace, and emits
``lead_enriched`` and ``lead_routed``; every 40th journey also has a CRM write that failed
(``martech.failure.layer`` known at start) and an invalid ``lead_routed`` (lenient mode).
Both export over OTLP/HTTP to ``LEADTRACE_OTLP_ENDPOINT``; sampling comes from the
environment alone, as in production.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

import leadtrace
from leadtrace import semconv

SEED = 20261203
PROBLEM_EVERY = 40
SYNTHETIC_EVERY = 100


def web(journeys: int, manifest: str) -> None:
    """Start the journeys and hand each to the worker on stdout."""
    rng = random.Random(SEED)
    tracer = trace.get_tracer("sampled-web")
    with open(manifest, "w", encoding="utf-8") as listing:
        for i in range(journeys):
            journey_id = f"{rng.getrandbits(128):032x}"
            synthetic = i % SYNTHETIC_EVERY == 0
            listing.write(json.dumps({"journey": journey_id, "i": i, "synthetic": synthetic}))
            listing.write("\n")
            with (
                leadtrace.journey(journey_id, synthetic=synthetic or None),
                tracer.start_as_current_span("POST /lead", kind=SpanKind.SERVER),
            ):
                leadtrace.emit("form_submitted", form_id="demo-form")
                leadtrace.emit("lead_created", lead_id=f"L-{i}", dedupe_outcome="created")
                headers: dict[str, str] = {}
                leadtrace.inject(headers)
                propagate.inject(headers)
            print(json.dumps({"i": i, "headers": headers}), flush=False)
    sys.stdout.flush()


def worker() -> None:
    """Continue every journey read from stdin, in a span of the web request's trace."""
    tracer = trace.get_tracer("sampled-worker")
    for line in sys.stdin:
        message = json.loads(line)
        i = message["i"]
        parent = leadtrace.extract(message["headers"])
        # The consume span continues the web request's trace and follows its decision
        # (outside a journey the sampler is parent-based); the journey decides the rest.
        with (
            tracer.start_as_current_span(
                "lead consume",
                context=propagate.extract(message["headers"]),
                kind=SpanKind.CONSUMER,
            ),
            leadtrace.journey(parent=parent),
        ):
            leadtrace.emit("lead_enriched", lead_id=f"L-{i}")
            leadtrace.emit("lead_routed", lead_id=f"L-{i}", routing_rule_id="dach-v2")
            if i % PROBLEM_EVERY == 1:
                tracer.start_span(
                    "crm write",
                    attributes={
                        semconv.FAILURE_LAYER: semconv.LAYER_CRM,
                        semconv.FAILURE_REASON: "http_409",
                    },
                ).end()
                leadtrace.emit(
                    "lead_routed", lead_id=f"L-{i}", routing_rule_id="dach-v2", owner_id=7
                )


def main() -> None:
    """Run one role, then flush its exports."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["web", "worker"])
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--manifest", default="")
    args = parser.parse_args()
    handle = leadtrace.configure(service_name=f"sampled-{args.role}", validation="lenient")
    if args.role == "web":
        web(args.journeys, args.manifest)
    else:
        worker()
    handle.shutdown()


if __name__ == "__main__":
    main()
