"""Segment (``segment-analytics-python``): trace-stamped messages, one upload span per batch.

::

    from leadtrace.integrations.segment import SegmentInstrumentor
    SegmentInstrumentor().instrument()

    analytics = segment.analytics.Client(write_key)
    analytics.track("user-1", "Demo Requested", {"plan": "team"})

Each ``track`` / ``identify`` / ``page`` / ``screen`` / ``group`` / ``alias`` call stamps the
message's ``context`` with ``leadtrace_trace_id`` and ``leadtrace_span_id`` (the span current
when you call it: your request or stage span), ``leadtrace_journey_id`` and
``leadtrace_campaign_id``, so a warehouse row (``context_leadtrace_trace_id``, ...) joins back to
its trace and journey. The consumer thread's ``segment upload`` span links to those spans and
reports batch size, retries and messages dropped or re-queued. With ``sync_mode=True`` the
client posts inside ``track``, and the upload span is a child of the caller's span.

``instrument(producer_spans=True)`` (or ``LEADTRACE_PRODUCER_SPANS=true``) also makes a
``segment <type>`` PRODUCER span per call (``segment track``) with the ``messageId``, the event
name and the property / trait names (never values; the keyed hash of an ``email`` trait); the
stamp then names that span. It costs about half the CPU of the call (docs/performance.md).

Needs the ``segment`` extra: ``pip install 'leadtrace[segment]'``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

try:
    import segment.analytics.client
    import segment.analytics.consumer
except ImportError as exc:  # pragma: no cover - exercised in a subprocess-free import test
    from leadtrace.integrations._vendor import missing_client

    raise missing_client(__name__, "segment-analytics-python", "segment", exc) from exc

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # mypy cannot see it
    BaseInstrumentor,
)

from leadtrace import semconv
from leadtrace.integrations._analytics import AnalyticsClient, producer_spans_option
from leadtrace.integrations._vendor import VendorTracer

__all__ = ["SegmentInstrumentor"]

_INSTRUMENTS = ("segment-analytics-python >= 2.4, < 3",)
_SCOPE = "leadtrace.integrations.segment"


class SegmentInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Instruments ``segment.analytics.Client`` and its consumer threads.

    ``instrument()`` options:
        tracer_provider: provider for the spans; default: leadtrace's current handle.
        producer_spans: ``True`` makes a PRODUCER span per message. Default: the
            ``LEADTRACE_PRODUCER_SPANS`` environment variable, else ``False`` (the message is
            stamped with the caller's current span, and the upload span links to that span).
        http_spans: keep the spans of OpenTelemetry's requests instrumentation under the
            upload span. Default ``False``: the upload span is the HTTP client span.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """The client versions this instrumentor is tested with."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._client = AnalyticsClient(
            semconv.VENDOR_SEGMENT,
            segment.analytics.client.Client,
            segment.analytics.client,
            segment.analytics.consumer.Consumer,
            segment.analytics.consumer,
            VendorTracer(_SCOPE, kwargs.get("tracer_provider")),
            producer_spans=producer_spans_option(kwargs),
            http_spans=bool(kwargs.get("http_spans", False)),
            default_host="https://api.segment.io",
        )
        self._client.wrap()

    def _uninstrument(self, **kwargs: Any) -> None:
        self._client.unwrap()
