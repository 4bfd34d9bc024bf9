"""structlog processors: trace ids and journey context on every log line, values scrubbed."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog

import leadtrace
from leadtrace._runtime import Leadtrace
from leadtrace.logging import add_journey_context, add_trace_context, processors, scrub_event_dict


def _render(chain: list[Any], **event: Any) -> dict[str, Any]:
    event_dict: dict[str, Any] = dict(event)
    for proc in chain:
        event_dict = proc(None, "info", event_dict)
    return event_dict


def test_lines_inside_a_journey_carry_ids(handle: Leadtrace) -> None:
    """Inside a span and a journey, a line gets trace_id, span_id, journey_id, campaign_id."""
    with (
        leadtrace.journey(campaign=leadtrace.Campaign(id="spring")) as j,
        handle.tracer.start_as_current_span("work") as span,
    ):
        line = _render(processors(), event="routed")
    ctx = span.get_span_context()
    assert line == {
        "event": "routed",
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "journey_id": j.journey_id,
        "campaign_id": "spring",
    }


def test_lines_outside_add_nothing() -> None:
    """Outside spans and journeys the processors leave the line alone."""
    assert _render([add_trace_context, add_journey_context], event="x") == {"event": "x"}


def test_scrub_processor_redacts_email_and_phone() -> None:
    """E-mail and phone values are replaced; the redacted keys are listed."""
    line = scrub_event_dict(
        None, "info", {"event": "mail to jane.doe@example.com", "phone": "+44 20 7946 0958"}
    )
    assert line == {
        "event": "mail to [redacted]",
        "phone": "[redacted]",
        "redacted": ["event", "phone"],
    }


def test_structlog_over_stdlib_setup_from_docs(
    handle: Leadtrace, caplog: pytest.LogCaptureFixture
) -> None:
    """The documented structlog-over-stdlib setup writes JSON lines joined to the journey."""
    structlog.configure(
        processors=[
            *processors(),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("app")
        with caplog.at_level(logging.INFO, logger="app"), leadtrace.journey() as j:
            log.info("lead routed", lead_id="L-1")
        line = json.loads(caplog.records[-1].getMessage())
        assert line["journey_id"] == j.journey_id
        assert line["lead_id"] == "L-1"
    finally:
        structlog.reset_defaults()
