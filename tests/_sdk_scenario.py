"""What a user's spans look like at the exporter: run by tests/test_sdk_adapter.py in-process
(the SDK fields in use) and in a subprocess with ``LEADTRACE_SDK_PRIVATES=off`` (the public
API only); both runs must export the same thing.

Prints one JSON document: ``privates`` and the exported spans (name, attributes, status
description, event names and attributes, link attributes), sorted by name.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

import leadtrace
from leadtrace import _sdk
from leadtrace.scrubbing import ScrubbingSpanProcessor

EMAIL = "ada@example.com"
PHONE = "+44 20 7946 0958"


def _spans(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    out = []
    for span in exporter.get_finished_spans():
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in span.attributes.items()}
        for volatile in (
            "martech.journey.id",
            "martech.event.id",
            "martech.journey.elapsed",
            "martech.journey.started_at",
        ):
            if volatile in attrs:
                attrs[volatile] = "<set>"
        out.append(
            {
                "name": span.name,
                "attributes": dict(sorted(attrs.items())),
                "status": span.status.description,
                "events": [
                    [e.name, dict(sorted((e.attributes or {}).items()))]
                    for e in span.events
                    if e.name != "exception"  # its stack trace holds file paths
                ],
                "exception": [
                    (e.attributes or {}).get("exception.message")
                    for e in span.events
                    if e.name == "exception"
                ],
                "links": [dict(link.attributes or {}) for link in span.links],
            }
        )
    return sorted(out, key=lambda s: (s["name"], json.dumps(s["attributes"], sort_keys=True)))


def _configured() -> list[dict[str, Any]]:
    """configure() with an exporter: third-party spans, emit() and @stage in a journey."""
    exporter = InMemorySpanExporter()
    handle = leadtrace.configure(
        service_name="scenario", local=True, environ={}, span_exporters=[exporter]
    )

    @leadtrace.stage("lead_routed", capture=["lead_id"])
    def route(lead_id: str) -> None:
        raise LookupError(f"no owner for {EMAIL}")

    with handle.activate():
        tracer = handle.tracer_provider.get_tracer("app")
        campaign = leadtrace.Campaign(id="spring", source="google", medium="cpc")
        with leadtrace.journey(campaign=campaign):
            with tracer.start_as_current_span(
                f"lookup {EMAIL}", attributes={"url.query": f"email={EMAIL}&x=1"}
            ) as span:
                span.add_event("called", {"note": f"tel {PHONE}"})
                span.set_status(Status(StatusCode.ERROR, f"rejected {EMAIL}"))
            linked = tracer.start_span(
                "batch", links=[Link(span.get_span_context(), {"to": EMAIL})]
            )
            linked.end()
            leadtrace.emit("form_submitted", form_id=EMAIL)
            with contextlib.suppress(LookupError):
                route(EMAIL)
            tracer.start_span("clean", attributes={"order.id": "A-1"}).end()
    handle.shutdown()
    return _spans(exporter)


def _wrapped() -> list[dict[str, Any]]:
    """A provider set up by hand with the documented wrapped form."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor(forward_to=SimpleSpanProcessor(exporter)))
    provider.get_tracer("app").start_span("hand", attributes={"who": EMAIL}).end()
    return _spans(exporter)


def main() -> None:
    """Print the scenario's exported spans as JSON."""
    logging.basicConfig(level=logging.WARNING)
    print(
        json.dumps(
            {"privates": _sdk.PRIVATES, "configured": _configured(), "wrapped": _wrapped()},
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
