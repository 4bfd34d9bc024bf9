"""A local stand-in for the vendors' APIs: pytest-httpserver on 127.0.0.1 with their documented
answers (HubSpot CRM v3, Salesforce REST, Segment / RudderStack batch), and span helpers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from leadtrace.testing import Capture, MetricPoint, SpanRecord

STAMP = "2026-01-01T09:00:00.000Z"
CORRELATION_ID = "aeb5f871-7f07-4993-9211-075dc63e7cbf"


def vendor_server() -> Iterator[HTTPServer]:
    """Start a server on 127.0.0.1 (free port); stop it when the generator resumes."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def json_response(status: int, body: Any, **headers: str) -> Response:
    """A JSON response with ``headers`` (underscores in names become dashes)."""
    return Response(
        json.dumps(body),
        status=status,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        content_type="application/json;charset=utf-8",
    )


def malformed(status: int = 201) -> Response:
    """A response that claims JSON but is not."""
    return Response("{not json", status=status, content_type="application/json")


def slow(seconds: float) -> Any:
    """A handler that answers 200 ``{}`` after ``seconds`` (longer than the client waits)."""

    def handler(_request: Request) -> Response:
        time.sleep(seconds)
        return json_response(200, {})

    return handler


# --- HubSpot CRM v3 -------------------------------------------------------------------------


def hubspot_object(record_id: str, new: bool | None = None, **properties: str) -> dict[str, Any]:
    """A ``SimplePublicObject`` (with ``new`` for batch upsert results)."""
    body: dict[str, Any] = {
        "id": record_id,
        "properties": properties,
        "createdAt": STAMP,
        "updatedAt": STAMP,
        "archived": False,
    }
    if new is not None:
        body["new"] = new
    return body


def hubspot_error(message: str, category: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's error body."""
    return {
        "status": "error",
        "message": message,
        "correlationId": CORRELATION_ID,
        "category": category,
        **extra,
    }


def hubspot_batch(*results: dict[str, Any]) -> dict[str, Any]:
    """A ``BatchResponseSimplePublicUpsertObject``."""
    return {
        "status": "COMPLETE",
        "results": list(results),
        "startedAt": STAMP,
        "completedAt": STAMP,
    }


HUBSPOT_RATE_HEADERS = {
    "X_HubSpot_RateLimit_Max": "190",
    "X_HubSpot_RateLimit_Remaining": "0",
    "X_HubSpot_RateLimit_Interval_Milliseconds": "10000",
}


# --- metric helpers -------------------------------------------------------------------------


def metric_points(capture: Capture, name: str) -> list[MetricPoint]:
    """Points of metric ``name`` once every series has reported its count.

    A new vendor counter series is reported at zero on its first collection (so Prometheus's
    rate() sees its first call): collect once, then read.
    """
    capture.metric_points(name)
    return capture.metric_points(name)


# --- span helpers ---------------------------------------------------------------------------


def vendor_spans(capture: Capture, vendor: str) -> list[SpanRecord]:
    """Spans of ``vendor``'s instrumentor, in start order."""
    return [r for r in capture.records() if r.attributes.get("martech.vendor.name") == vendor]


def named(capture: Capture, name: str) -> list[SpanRecord]:
    """Spans named ``name``, in start order."""
    return [r for r in capture.records() if r.name == name]


class SpySpan(NonRecordingSpan):
    """A non-recording span that remembers whether anyone tried to set attributes on it."""

    def __init__(self) -> None:
        super().__init__(SpanContext(0, 0, is_remote=False))
        self.attribute_calls = 0

    def set_attribute(self, key: str, value: Any) -> None:
        """Count the call."""
        self.attribute_calls += 1

    def set_attributes(self, attributes: Any) -> None:
        """Count the call."""
        self.attribute_calls += 1


class SpyTracerProvider(TracerProvider):
    """A provider whose tracer hands out :class:`SpySpan` objects."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[SpySpan] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        """A tracer whose spans are spies."""
        provider = self

        class _Tracer:
            def start_span(self, name: str, *a: Any, **k: Any) -> Span:
                span = SpySpan()
                provider.spans.append(span)
                return span

            def start_as_current_span(self, *a: Any, **k: Any) -> Any:
                raise NotImplementedError

        return _Tracer()


__all__ = [
    "CORRELATION_ID",
    "HUBSPOT_RATE_HEADERS",
    "SpanKind",
    "SpySpan",
    "SpyTracerProvider",
    "hubspot_batch",
    "hubspot_error",
    "hubspot_object",
    "json_response",
    "malformed",
    "metric_points",
    "named",
    "slow",
    "vendor_server",
    "vendor_spans",
]
