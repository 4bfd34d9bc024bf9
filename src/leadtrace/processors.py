"""Span processors leadtrace adds to the tracer provider."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from leadtrace import semconv
from leadtrace._guard import internal_error
from leadtrace.context import current_journey

__all__ = ["BusinessContextSpanProcessor"]


class BusinessContextSpanProcessor(SpanProcessor):
    """Copies the current journey's business attributes onto every span started inside it.

    Works for spans of any instrumentation (HTTP clients, databases, vendor SDKs). Only keys
    the span does not already have are filled, so explicit attributes win.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Fill the span's missing business attributes from the journey in ``parent_context``."""
        try:
            existing = span.attributes
            # BoundedAttributes goes through Mapping.__contains__; its dict is much faster.
            present = getattr(existing, "_dict", existing) if existing else None
            if present and semconv.JOURNEY_ID in present:
                return  # built by leadtrace from the journey already (emit, integrations)
            journey = current_journey(parent_context)
            if journey is None or not span.is_recording():
                return
            if not present:
                span.set_attributes(journey.attributes)
                return
            missing = {k: v for k, v in journey.attributes.items() if k not in present}
            if missing:
                span.set_attributes(missing)
        except Exception as exc:
            internal_error(exc, "BusinessContextSpanProcessor.on_start")

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at the end of a span."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing buffered."""
        return True
