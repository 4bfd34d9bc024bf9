"""Test cases shared by the Segment and RudderStack instrumentors (same client design).

``test_segment.py`` and ``test_rudderstack.py`` import these functions, so pytest runs each
against its own real client; each module provides the ``analytics`` fixture.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from _vendorserver import SpyTracerProvider, json_response, metric_points, named, vendor_spans
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.trace import NoOpTracerProvider
from pytest_httpserver import HTTPServer

import leadtrace
from leadtrace import semconv
from leadtrace.testing import Capture

CAMPAIGN = leadtrace.Campaign(id="spring-launch", source="google", medium="cpc")
EMAIL = "ada@example.com"
BATCH = "/v1/batch"


@dataclass
class Analytics:
    """One vendor's client and instrumentor, as the shared cases need them."""

    vendor: str
    make_client: Callable[..., Any]
    instrumentor: Any
    server: HTTPServer

    def client(self, **options: Any) -> Any:
        """A real client sending to the stand-in, quick to upload."""
        client = self.make_client(
            write_key="test-write-key",
            host=self.server.url_for("").rstrip("/"),
            upload_interval=0.02,
            timeout=2,
            **options,
        )
        self.clients.append(client)
        return client

    def __post_init__(self) -> None:
        self.clients: list[Any] = []

    def close(self) -> None:
        """Stop every consumer thread started by the test."""
        for client in self.clients:
            if getattr(client, "consumers", None) is None:
                client.consumers = []
            client.join()

    def messages(self) -> list[dict[str, Any]]:
        """Every message the stand-in received, in order."""
        bodies = [
            gzip.decompress(request.get_data())
            if request.headers.get("Content-Encoding") == "gzip"
            else request.get_data()
            for request, _ in self.server.log
        ]
        return [message for body in bodies for message in json.loads(body)["batch"]]


def analytics_fixture(
    vendor: str, make_client: Callable[..., Any], instrumentor: Any, server: HTTPServer
) -> Iterator[Analytics]:
    """Body of each module's ``analytics`` fixture."""
    server.clear()
    analytics = Analytics(vendor, make_client, instrumentor, server)
    yield analytics
    analytics.close()
    server.clear()


@pytest.fixture
def capture(leadtrace_capture: Capture, analytics: Analytics) -> Iterator[Capture]:
    """A capture with the vendor's instrumentor on, as ``instrument()`` sets it up."""
    analytics.instrumentor.instrument()
    yield leadtrace_capture
    analytics.instrumentor.uninstrument()


@pytest.fixture
def producers(leadtrace_capture: Capture, analytics: Analytics) -> Iterator[Capture]:
    """A capture with the vendor's instrumentor on, with a producer span per message."""
    analytics.instrumentor.instrument(producer_spans=True)
    yield leadtrace_capture
    analytics.instrumentor.uninstrument()


def stamp(message: dict[str, Any]) -> dict[str, Any]:
    """The ``leadtrace_*`` keys of a message's ``context``."""
    return {k: v for k, v in message["context"].items() if k.startswith("leadtrace")}


def track_once(analytics: Analytics, **options: Any) -> None:
    """Instrument with ``options``, track one message with a new client and upload it."""
    analytics.instrumentor.instrument(**options)
    try:
        client = analytics.client()
        client.track("user-1", "Demo Requested")
        client.flush()
    finally:
        analytics.instrumentor.uninstrument()


def ok(server: HTTPServer) -> None:
    """The stand-in accepts every batch."""
    server.expect_request(BATCH, method="POST").respond_with_response(
        json_response(200, {"success": True})
    )


def test_the_message_carries_the_callers_span(analytics: Analytics, capture: Capture) -> None:
    """By default no span per message: the stamp and the upload link name the caller's own
    span, and the journey and campaign ids reach the message."""
    ok(analytics.server)
    client = analytics.client()
    tracer = capture.handle.tracer_provider.get_tracer("checkout")
    with (
        leadtrace.journey(campaign=CAMPAIGN) as journey,
        tracer.start_as_current_span("POST /demo-request"),
    ):
        client.track("user-1", "Demo Requested", {"plan": "team", "email": EMAIL})
    client.flush()
    assert named(capture, f"{analytics.vendor} track") == []
    (caller,) = named(capture, "POST /demo-request")
    (message,) = analytics.messages()
    assert stamp(message) == {
        "leadtrace_trace_id": caller.trace_id,
        "leadtrace_span_id": caller.span_id,
        "leadtrace_journey_id": journey.journey_id,
        "leadtrace_campaign_id": "spring-launch",
    }
    (upload,) = named(capture, f"{analytics.vendor} upload")
    linked = [(link.trace_id, link.span_id) for link in upload_links(capture, upload.span_id)]
    assert linked == [(caller.trace_id, caller.span_id)]
    assert EMAIL not in repr([dict(r.attributes) for r in capture.records()])


def test_the_callers_own_context_keys_are_kept(analytics: Analytics, capture: Capture) -> None:
    """A ``context`` the caller passes keeps its keys; outside any span and journey the
    message gets no stamp and the upload span no link."""
    ok(analytics.server)
    client = analytics.client()
    client.track("user-1", "Demo Requested", context={"ip": "203.0.113.7", "locale": "de-DE"})
    client.flush()
    (message,) = analytics.messages()
    assert message["context"]["ip"] == "203.0.113.7"
    assert message["context"]["locale"] == "de-DE"
    assert stamp(message) == {}
    (upload,) = named(capture, f"{analytics.vendor} upload")
    assert upload_links(capture, upload.span_id) == []


def test_personal_data_in_an_id_never_reaches_the_vendor(
    analytics: Analytics, capture: Capture
) -> None:
    """An e-mail address used as a journey id and a phone number as a campaign id are
    scrubbed in the message as on the spans, so the two still match."""
    ok(analytics.server)
    client = analytics.client()
    campaign = leadtrace.Campaign(id="call +1 415 555 0100", source="google")
    with leadtrace.journey(campaign=campaign, journey_id=EMAIL):
        client.track("user-1", "Demo Requested", {"plan": "team"})
    client.flush()
    ((request, _response),) = analytics.server.log
    body = request.get_data(as_text=True)
    assert EMAIL not in body
    assert "555 0100" not in body
    (message,) = analytics.messages()
    upload = f"{analytics.vendor} upload"
    (journey_span,) = [r for r in capture.records() if not r.parent_span_id and r.name != upload]
    ids = stamp(message)
    assert ids["leadtrace_journey_id"] == journey_span.attributes[semconv.JOURNEY_ID]
    assert ids["leadtrace_campaign_id"] == journey_span.attributes[semconv.CAMPAIGN_ID]
    assert ids["leadtrace_trace_id"] == journey_span.trace_id


def test_track_span_stamps_the_message(analytics: Analytics, producers: Capture) -> None:
    """producer_spans=True: the producer span has the messageId; the message carries its
    trace and journey ids."""
    ok(analytics.server)
    client = analytics.client()
    with leadtrace.journey(campaign=CAMPAIGN) as journey:
        client.track("user-1", "Demo Requested", {"plan": "team", "email": EMAIL})
    client.flush()
    (producer,) = named(producers, f"{analytics.vendor} track")
    (message,) = analytics.messages()
    assert producer.attributes[semconv.VENDOR_MESSAGE_ID] == message["messageId"]
    assert producer.attributes[semconv.VENDOR_EVENT] == "Demo Requested"
    assert producer.attributes[semconv.VENDOR_PROPERTY_NAMES] == ("email", "plan")
    assert producer.attributes[semconv.JOURNEY_ID] == journey.journey_id
    assert stamp(message) == {
        "leadtrace_trace_id": producer.trace_id,
        "leadtrace_span_id": producer.span_id,
        "leadtrace_journey_id": journey.journey_id,
        "leadtrace_campaign_id": "spring-launch",
    }
    assert EMAIL not in repr([dict(r.attributes) for r in producers.records()])


def test_upload_span_links_to_its_producers(analytics: Analytics, producers: Capture) -> None:
    """The consumer's upload span is a root that links to both producing spans."""
    ok(analytics.server)
    client = analytics.client()
    client.track("user-1", "Demo Requested")
    client.identify("user-1", {"email": EMAIL, "plan": "team"})
    client.flush()
    spans = vendor_spans(producers, analytics.vendor)[:2]
    (upload,) = named(producers, f"{analytics.vendor} upload")
    assert upload.parent_span_id is None
    assert upload.attributes[semconv.VENDOR_BATCH_SIZE] == 2
    assert upload.attributes[semconv.VENDOR_BATCH_DROPPED] == 0
    assert upload.attributes[semconv.VENDOR_RETRY_COUNT] == 0
    assert upload.attributes["http.response.status_code"] == 200
    linked = {(link.trace_id, link.span_id) for link in upload_links(producers, upload.span_id)}
    assert linked == {(p.trace_id, p.span_id) for p in spans}
    identify = named(producers, f"{analytics.vendor} identify")[0]
    assert len(identify.attributes[semconv.IDENTITY_EMAIL_HASH]) == 64


def test_producer_spans_from_the_environment(
    analytics: Analytics, leadtrace_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LEADTRACE_PRODUCER_SPANS=true`` turns producer spans on where ``instrument()`` has no
    option (``opentelemetry-instrument``); a value that is not a boolean is refused by name."""
    ok(analytics.server)
    monkeypatch.setenv("LEADTRACE_PRODUCER_SPANS", "true")
    track_once(analytics)
    assert len(named(leadtrace_capture, f"{analytics.vendor} track")) == 1
    monkeypatch.setenv("LEADTRACE_PRODUCER_SPANS", "sometimes")
    with pytest.raises(leadtrace.ConfigError, match=r"LEADTRACE_PRODUCER_SPANS.*true or false"):
        analytics.instrumentor.instrument()
    analytics.instrumentor.uninstrument()


@pytest.mark.parametrize("http_spans", [False, True])
def test_the_upload_span_is_the_http_client_span(
    analytics: Analytics, leadtrace_capture: Capture, http_spans: bool
) -> None:
    """With requests instrumented too: by default no second HTTP span under the upload span
    and no trace header to the vendor; ``http_spans=True`` keeps both."""
    ok(analytics.server)
    client = analytics.client()
    requests_instrumentor = RequestsInstrumentor()
    requests_instrumentor.instrument(tracer_provider=leadtrace_capture.handle.tracer_provider)
    analytics.instrumentor.instrument(http_spans=http_spans)
    try:
        client.track("user-1", "Demo Requested")
        client.flush()
    finally:
        analytics.instrumentor.uninstrument()
        requests_instrumentor.uninstrument()
    (upload,) = named(leadtrace_capture, f"{analytics.vendor} upload")
    assert upload.attributes["http.request.method"] == "POST"
    assert upload.attributes["server.address"] == analytics.server.host
    assert upload.attributes["server.port"] == analytics.server.port
    children = [r.name for r in leadtrace_capture.records() if r.parent_span_id == upload.span_id]
    assert children == (["POST"] if http_spans else [])
    ((request, _response),) = analytics.server.log
    assert ("traceparent" in request.headers) is http_spans


@pytest.mark.parametrize("producer_spans", [False, True])
def test_sync_mode_upload_is_a_child_span(
    analytics: Analytics, leadtrace_capture: Capture, producer_spans: bool
) -> None:
    """``sync_mode=True`` posts inside ``track()``: the upload span is a child of the span that
    produced the message, with no HTTP span under it and no trace header to the vendor."""
    ok(analytics.server)
    provider = leadtrace_capture.handle.tracer_provider
    requests_instrumentor = RequestsInstrumentor()
    requests_instrumentor.instrument(tracer_provider=provider)
    analytics.instrumentor.instrument(producer_spans=producer_spans)
    try:
        client = analytics.client(sync_mode=True)
        with (
            leadtrace.journey(campaign=CAMPAIGN),
            provider.get_tracer("checkout").start_as_current_span("POST /demo-request"),
        ):
            client.track("user-1", "Demo Requested")
    finally:
        analytics.instrumentor.uninstrument()
        requests_instrumentor.uninstrument()
    (caller,) = named(leadtrace_capture, "POST /demo-request")
    producer = named(leadtrace_capture, f"{analytics.vendor} track")
    parent = producer[0] if producer_spans else caller
    (upload,) = named(leadtrace_capture, f"{analytics.vendor} upload")
    assert upload.parent_span_id == parent.span_id
    assert upload.attributes[semconv.VENDOR_BATCH_SIZE] == 1
    assert upload.attributes[semconv.VENDOR_RETRY_COUNT] == 0
    assert upload.attributes["http.response.status_code"] == 200
    records = leadtrace_capture.records()
    assert [r.name for r in records if r.parent_span_id == upload.span_id] == []
    ((request, _response),) = analytics.server.log
    assert "traceparent" not in request.headers
    (message,) = analytics.messages()
    assert stamp(message)["leadtrace_span_id"] == parent.span_id


def test_sync_mode_failure_reaches_the_caller_counted_once(
    analytics: Analytics, capture: Capture
) -> None:
    """A rejected ``sync_mode`` post raises the client's own error from ``track()`` and is
    counted once, as an upload failure."""
    analytics.server.expect_request(BATCH, method="POST").respond_with_response(
        json_response(400, {"code": "invalid_request", "message": "bad batch"})
    )
    client = analytics.client(sync_mode=True)
    with pytest.raises(Exception) as raised:  # noqa: PT011  # the vendor's own class, unchanged
        client.track("user-1", "Demo Requested")
    assert type(raised.value).__name__ == "APIError"
    (upload,) = named(capture, f"{analytics.vendor} upload")
    assert upload.error
    assert upload.attributes[semconv.FAILURE_REASON] == "validation"
    assert upload.attributes[semconv.VENDOR_BATCH_DROPPED] == 1
    failed = {semconv.FAILURE_LAYER: "capture", semconv.FAILURE_REASON: "validation"}
    assert _points(capture, "martech.vendor.calls") == [
        ({**_upload_labels(analytics), **failed}, 1)
    ]


def test_server_error_is_retried_and_counted(analytics: Analytics, capture: Capture) -> None:
    """A 500 then a 200 gives one upload span with retry_count 1 and nothing dropped."""
    analytics.server.expect_ordered_request(BATCH, method="POST").respond_with_response(
        json_response(500, {"code": "internal", "message": "try again"})
    )
    analytics.server.expect_ordered_request(BATCH, method="POST").respond_with_response(
        json_response(200, {"success": True})
    )
    client = analytics.client(max_retries=2)
    client.track("user-1", "Demo Requested")
    client.flush()
    (upload,) = named(capture, f"{analytics.vendor} upload")
    assert upload.attributes[semconv.VENDOR_RETRY_COUNT] == 1
    assert upload.attributes[semconv.VENDOR_BATCH_DROPPED] == 0
    assert not upload.error
    assert _points(capture, "martech.vendor.calls") == [(_upload_labels(analytics), 1)]
    assert _points(capture, "martech.vendor.retries") == [
        ({semconv.VENDOR_NAME: analytics.vendor}, 1)
    ]


def test_rejected_batch_is_dropped(analytics: Analytics, capture: Capture) -> None:
    """A non-retryable 400 drops the batch: the upload span says how many messages were lost."""
    analytics.server.expect_request(BATCH, method="POST").respond_with_response(
        json_response(400, {"code": "invalid_request", "message": "bad batch"})
    )
    client = analytics.client(max_retries=0)
    client.track("user-1", "Demo Requested")
    client.track("user-2", "Demo Requested")
    client.flush()
    (upload,) = named(capture, f"{analytics.vendor} upload")
    assert upload.error
    assert upload.attributes[semconv.VENDOR_BATCH_DROPPED] == 2
    assert upload.attributes[semconv.FAILURE_LAYER] == "capture"
    assert upload.attributes[semconv.FAILURE_REASON] == "validation"
    assert upload.attributes["http.response.status_code"] == 400
    failed = {semconv.FAILURE_LAYER: "capture", semconv.FAILURE_REASON: "validation"}
    assert _points(capture, "martech.vendor.calls") == [
        ({**_upload_labels(analytics), **failed}, 1)
    ]


def _upload_labels(analytics: Analytics) -> dict[str, str]:
    """Metric attributes of an upload (sent from the consumer thread: no journey)."""
    return {
        semconv.VENDOR_NAME: analytics.vendor,
        semconv.VENDOR_OPERATION: "upload",
        semconv.JOURNEY_SYNTHETIC: "false",
    }


def _points(capture: Capture, name: str) -> list[tuple[dict[str, Any], float]]:
    """``(attributes, value)`` of each point of metric ``name``."""
    return [(p.attributes, p.value) for p in metric_points(capture, name)]


def test_full_queue_drop_is_recorded(analytics: Analytics, producers: Capture) -> None:
    """A message refused by a full queue marks its producer span queued=false, queue_full."""
    client = analytics.client(max_queue_size=1, thread=0)
    client.track("user-1", "Demo Requested")
    client.track("user-2", "Demo Requested")
    first, second = named(producers, f"{analytics.vendor} track")
    assert semconv.VENDOR_QUEUED not in first.attributes
    assert second.attributes[semconv.VENDOR_QUEUED] is False
    assert second.attributes[semconv.FAILURE_REASON] == "queue_full"
    assert second.error
    ((labels, value),) = _points(producers, "martech.vendor.calls")
    assert (labels[semconv.VENDOR_OPERATION], labels[semconv.FAILURE_REASON], value) == (
        "track",
        "queue_full",
        1,
    )


def test_a_full_queue_drop_is_counted(analytics: Analytics, capture: Capture) -> None:
    """With no producer span to mark, a message refused by a full queue is still counted."""
    client = analytics.client(max_queue_size=1, thread=0)
    client.track("user-1", "Demo Requested")
    client.track("user-2", "Demo Requested")
    assert _points(capture, "martech.vendor.calls") == [
        (
            {
                semconv.VENDOR_NAME: analytics.vendor,
                semconv.VENDOR_OPERATION: "track",
                semconv.JOURNEY_SYNTHETIC: "false",
                semconv.FAILURE_LAYER: "capture",
                semconv.FAILURE_REASON: "queue_full",
            },
            1,
        )
    ]


@pytest.mark.parametrize(
    ("producer_spans", "broken_part"), [(False, "current_journey"), (True, "property_names")]
)
def test_instrumentation_fault_never_reaches_the_caller(
    analytics: Analytics, monkeypatch: pytest.MonkeyPatch, producer_spans: bool, broken_part: str
) -> None:
    """In lenient mode a fault in the producer wrapper is counted and the message still goes."""
    from leadtrace.integrations import _analytics

    def broken(*_args: object) -> Any:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(_analytics, broken_part, broken)
    ok(analytics.server)
    with Capture(validation="lenient") as lenient:
        analytics.instrumentor.instrument(producer_spans=producer_spans)
        try:
            client = analytics.client()
            client.track("user-1", "Demo Requested", {"plan": "team"})
            client.flush()
        finally:
            analytics.instrumentor.uninstrument()
        (point,) = lenient.metric_points("leadtrace.internal_errors")
    assert point.attributes["where"] == f"{analytics.vendor}.enqueue"
    assert len(analytics.messages()) == 1


def test_uninstrument_restores_the_client(analytics: Analytics, leadtrace_capture: Capture) -> None:
    """After uninstrument() messages are sent unstamped and no span is recorded."""
    ok(analytics.server)
    analytics.instrumentor.instrument()
    analytics.instrumentor.uninstrument()
    client = analytics.client()
    client.track("user-1", "Demo Requested")
    client.flush()
    (message,) = analytics.messages()
    assert stamp(message) == {}
    assert leadtrace_capture.records() == []


def test_noop_tracer_provider_works(analytics: Analytics, leadtrace_capture: Capture) -> None:
    """With a NoOp provider messages still go out and nothing is recorded."""
    ok(analytics.server)
    track_once(analytics, tracer_provider=NoOpTracerProvider())
    assert len(analytics.messages()) == 1
    assert leadtrace_capture.records() == []


@pytest.mark.parametrize("producer_spans", [False, True])
def test_non_recording_span_gets_no_attributes(analytics: Analytics, producer_spans: bool) -> None:
    """Neither the producer nor the upload span is handed attributes when not recording."""
    ok(analytics.server)
    provider = SpyTracerProvider()
    track_once(analytics, tracer_provider=provider, producer_spans=producer_spans)
    assert len(provider.spans) == (2 if producer_spans else 1)
    assert [spy.attribute_calls for spy in provider.spans] == [0] * len(provider.spans)


def upload_links(capture: Capture, span_id: str) -> list[Any]:
    """Links of the finished span ``span_id`` (trace and span ids as hex)."""

    @dataclass
    class LinkIds:
        trace_id: str
        span_id: str

    for span in capture.handle.finished_spans():
        if f"{span.context.span_id:016x}" == span_id:
            return [
                LinkIds(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}")
                for link in span.links
            ]
    return []


CASES = [
    capture,
    producers,
    test_sync_mode_upload_is_a_child_span,
    test_sync_mode_failure_reaches_the_caller_counted_once,
    test_personal_data_in_an_id_never_reaches_the_vendor,
    test_the_message_carries_the_callers_span,
    test_the_callers_own_context_keys_are_kept,
    test_producer_spans_from_the_environment,
    test_a_full_queue_drop_is_counted,
    test_track_span_stamps_the_message,
    test_upload_span_links_to_its_producers,
    test_server_error_is_retried_and_counted,
    test_rejected_batch_is_dropped,
    test_full_queue_drop_is_recorded,
    test_instrumentation_fault_never_reaches_the_caller,
    test_uninstrument_restores_the_client,
    test_noop_tracer_provider_works,
    test_non_recording_span_gets_no_attributes,
]
