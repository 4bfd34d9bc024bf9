"""Span processors leadtrace adds to the tracer provider.

Owns: the business-context span processor that stamps journey attributes on every span.

May import: ``_guard``, ``_sdk``, ``context``, ``scrubbing`` and ``semconv``.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from leadtrace import semconv
from leadtrace._guard import internal_error
from leadtrace._sdk import add_attributes, attribute_dict
from leadtrace.context import current_journey
from leadtrace.scrubbing import ScrubbingSpanProcessor

__all__ = ["ASGI_SCOPES", "BusinessContextSpanProcessor", "LeadtraceSpanProcessor"]

ASGI_SCOPES: Final = frozenset(
    {
        "opentelemetry.instrumentation.asgi",
        "opentelemetry.instrumentation.fastapi",
        "opentelemetry.instrumentation.starlette",
    }
)
"""Instrumentation scopes of OpenTelemetry's ASGI middleware (as used directly, by FastAPI and
by Starlette); their INTERNAL spans are the per-message ``http send`` / ``http receive`` spans
of a request."""


class BusinessContextSpanProcessor(SpanProcessor):
    """Copies the current journey's business attributes onto every span started inside it.

    Works for spans of any instrumentation (HTTP clients, databases, vendor SDKs). Only keys
    the span does not already have are filled, so explicit attributes win.

    Args:
        asgi_event_context: ``journey_id`` (default): OpenTelemetry's per-message ASGI spans
            (``GET / http send``, ``http receive``; two or more per request) get only
            ``martech.journey.id``; ``full``: every journey attribute, like any other span.
    """

    def __init__(self, *, asgi_event_context: str = "journey_id") -> None:
        self.asgi_journey_id_only = asgi_event_context != "full"

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Fill the span's missing business attributes from the journey in ``parent_context``.

        The SDK only starts recording spans, so there is no need to ask.
        """
        try:
            journey = current_journey(parent_context)
            if journey is None:
                return  # most spans outside a journey: one lookup
            if (
                self.asgi_journey_id_only
                and span.kind is SpanKind.INTERNAL
                and span.instrumentation_scope is not None
                and span.instrumentation_scope.name in ASGI_SCOPES
            ):
                add_attributes(span, {semconv.JOURNEY_ID: journey.journey_id})
                return
            # The public property wraps the attributes in a new proxy on every call.
            present = attribute_dict(span)
            values = journey.attributes
            if not present:  # usual: another library's span with nothing set at its start
                add_attributes(span, values)
                return
            if semconv.JOURNEY_ID in present:
                return  # built by leadtrace from the journey already (emit, integrations)
            if present.keys().isdisjoint(values):
                add_attributes(span, values)
                return
            missing = {k: v for k, v in values.items() if k not in present}
            if missing:
                add_attributes(span, missing)
        except Exception as exc:
            internal_error(exc, "BusinessContextSpanProcessor.on_start")

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at the end of a span."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing buffered."""
        return True


class LeadtraceSpanProcessor(BusinessContextSpanProcessor):
    """The one processor ``configure()`` installs: business context at start, scrubbing at end.

    One processor instead of two halves the per-span processor calls the SDK makes (it calls
    ``on_start``, ``_on_ending`` and ``on_end`` of every processor on every span).

    Args:
        scrubber: processor whose ``on_end`` redacts personal data; None disables scrubbing.
        asgi_event_context: see :class:`BusinessContextSpanProcessor`.
    """

    def __init__(
        self,
        scrubber: ScrubbingSpanProcessor | None = None,
        *,
        asgi_event_context: str = "journey_id",
    ) -> None:
        super().__init__(asgi_event_context=asgi_event_context)
        self.scrubber = scrubber
        if scrubber is not None:
            # Bound straight to the scrubber: no extra Python frame per span.
            self.on_end = scrubber.on_end  # type: ignore[method-assign]

    def shutdown(self) -> None:
        """Shut the scrubber down too."""
        if self.scrubber is not None:
            self.scrubber.shutdown()
