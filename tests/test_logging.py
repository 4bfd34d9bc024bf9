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


class _Contact:
    """An application object whose repr shows the address (as dataclasses' reprs do)."""

    def __repr__(self) -> str:
        return "Contact(email='jane.doe@example.com')"


class _Unprintable:
    """An object whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"level": [value]}
    return value


def _rendered_line(**event: Any) -> str:
    """The line as structlog's JSON renderer writes it after leadtrace's processors."""
    chain = [*processors(), structlog.processors.JSONRenderer()]
    out: Any = dict(event)
    for proc in chain:
        out = proc(None, "info", out)
    return str(out)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("in_a_set", {"jane.doe@example.com", "other"}),
        ("in_a_frozenset", frozenset({"+44 20 7946 0958"})),
        ("in_bytes", b"to=jane.doe@example.com"),
        ("in_a_repr", _Contact()),
        ("as_a_dict_key", {"jane.doe@example.com": "lead"}),
        ("six_levels_deep", _nested(6, "jane.doe@example.com")),
        ("forty_levels_deep", _nested(40, "+44 20 7946 0958")),
        ("jane.doe@example.com", "the key itself"),
        ("encoded", "q=jane.doe%40example.com"),
    ],
)
def test_scrub_processor_reaches_every_shape_of_value(key: str, value: Any) -> None:
    """E-mail and phone in a set, bytes, an object's repr, a dict key, deep nesting or the
    line's own key: none of it reaches the rendered JSON line."""
    line = _rendered_line(event="lead", **{key: value})
    assert "jane.doe" not in line
    assert "7946" not in line
    assert "[redacted]" in line
    assert '"redacted": [' in line


def test_scrub_processor_keeps_clean_values_as_they_are() -> None:
    """Clean sets, bytes, objects and nesting come back as the very same objects."""
    clean: dict[str, Any] = {
        "tags": {"a", "b"},
        "raw": b"L-20260302-0001",
        "when": "2024-05-01 10:00:00",
        "deep": _nested(8, "ok"),
        "n": 51234567890,
    }
    line = scrub_event_dict(None, "info", dict(clean))
    assert all(line[k] is clean[k] for k in clean)
    assert "redacted" not in line


def test_scrub_processor_never_raises_on_a_broken_repr() -> None:
    """An object whose repr raises is replaced by a placeholder, never passed on unchecked."""
    line = scrub_event_dict(None, "info", {"event": "x", "obj": _Unprintable()})
    assert line == {
        "event": "x",
        "obj": "<_Unprintable: not scrubbable>",
        "redacted": ["obj"],
    }
