"""structlog processors that join logs to traces and journeys, and leadtrace's own log.

Add :func:`add_trace_context` and :func:`add_journey_context` to your structlog chain and
every line written inside a journey carries ``trace_id``, ``span_id``, ``journey_id`` and
``campaign_id``, so logs, traces and metrics join. :func:`scrub_event_dict` redacts e-mail
addresses and phone numbers. See ``docs/logging.md`` for plain structlog and structlog over
stdlib logging.

Owns: the structlog processors (trace/journey context, scrubbing) and leadtrace's own log.

May import: ``_pii`` and ``context``.
"""

from __future__ import annotations

import logging as stdlib_logging
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from leadtrace._pii import scrub_value
from leadtrace.context import current_journey

__all__ = [
    "add_journey_context",
    "add_trace_context",
    "failed_event_log",
    "processors",
    "scrub_event_dict",
]

EventDict = MutableMapping[str, Any]


def add_trace_context(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``trace_id`` and ``span_id`` (hex) of the current span, when there is one."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def add_journey_context(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Add ``journey_id``, ``campaign_id`` (and ``synthetic`` when true) of the current journey."""
    journey = current_journey()
    if journey is not None:
        event_dict.setdefault("journey_id", journey.journey_id)
        if journey.campaign is not None and journey.campaign.id:
            event_dict.setdefault("campaign_id", journey.campaign.id)
        if journey.synthetic:
            event_dict.setdefault("synthetic", True)
    return event_dict


def scrub_event_dict(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Redact e-mail addresses and phone numbers anywhere in the line; list what changed.

    Looks at every key and value: strings, bytes, lists, tuples, sets, mappings (their keys
    too) at any depth, and the ``repr`` of any other object (what a renderer would print).
    A value that cannot be checked (its ``repr`` raises) is replaced by a placeholder naming
    its type. Keys whose value (or the key itself) changed are listed in ``redacted``.
    """
    redacted = []
    for key, value in list(event_dict.items()):
        try:
            new_key = scrub_value(key)
            cleaned = scrub_value(value)
        except Exception:  # a repr that raises: unchecked, so it does not leave
            new_key, cleaned = key, f"<{type(value).__name__}: not scrubbable>"
        if new_key is not key or cleaned is not value:
            del event_dict[key]
            event_dict[new_key] = cleaned
            redacted.append(str(new_key))
    if redacted:
        event_dict["redacted"] = sorted(redacted)
    return event_dict


def processors() -> list[Any]:
    """leadtrace's processors in the order to put them before your renderer."""
    return [add_trace_context, add_journey_context, scrub_event_dict]


_failed_event_log: Any = None


def failed_event_log() -> Any:
    """The structured log failed-event records are written to (stdlib ``leadtrace.events``).

    One JSON line per failed event: name, id, violation locations and types, failure time,
    trace and journey ids. Never the input values.
    """
    global _failed_event_log
    if _failed_event_log is None:
        _failed_event_log = structlog.wrap_logger(
            stdlib_logging.getLogger("leadtrace.events"),
            processors=[
                *processors(),
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="failure_time"),
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
        )
    return _failed_event_log
