"""HubSpot instrumentor: the real hubspot-api-client against a local HubSpot stand-in."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import hubspot
import pytest
from _vendorserver import (
    CORRELATION_ID,
    HUBSPOT_RATE_HEADERS,
    SpyTracerProvider,
    hubspot_batch,
    hubspot_error,
    hubspot_object,
    json_response,
    malformed,
    metric_points,
    named,
    slow,
    vendor_server,
    vendor_spans,
)
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NoOpTracerProvider
from pytest_httpserver import HTTPServer
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.util.retry import Retry

import leadtrace
from _metrics import counter_points
from leadtrace import semconv
from leadtrace.integrations.hubspot import HubSpotInstrumentor
from leadtrace.metrics import recorder_of
from leadtrace.testing import Capture

CONTACTS = "/crm/v3/objects/contacts"
EMAIL = "ada@example.com"
CAMPAIGN = leadtrace.Campaign(id="spring-launch", source="google", medium="cpc")


REMAINING = "X_HubSpot_RateLimit_Remaining"
CREATE = {
    semconv.VENDOR_NAME: "hubspot",
    semconv.VENDOR_OPERATION: "crm.contacts create",
    semconv.CRM_OBJECT: "contact",
    semconv.JOURNEY_SYNTHETIC: "false",
}


def vendor_calls(capture: Capture) -> dict[tuple[tuple[str, object], ...], float]:
    """``martech.vendor.calls`` points keyed by their sorted attributes."""
    return {
        tuple(sorted(p.attributes.items())): p.value
        for p in metric_points(capture, "martech.vendor.calls")
    }


def key(**extra: str) -> tuple[tuple[str, object], ...]:
    """Sorted attributes of a contact create, with ``extra``."""
    return tuple(sorted({**CREATE, **extra}.items()))


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """One local HubSpot stand-in for the module."""
    yield from vendor_server()


@pytest.fixture
def api(server: HTTPServer) -> Iterator[HTTPServer]:
    """The stand-in with no expectations left from an earlier test."""
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def capture(leadtrace_capture: Capture) -> Iterator[Capture]:
    """A capture with the HubSpot instrumentor on (spans go to the active capture)."""
    HubSpotInstrumentor().instrument()
    yield leadtrace_capture
    HubSpotInstrumentor().uninstrument()


def client(server: HTTPServer, **options: object) -> hubspot.Client:
    """A real HubSpot client pointed at the stand-in."""
    return hubspot.Client.create(
        access_token="test-token", host=server.url_for("").rstrip("/"), **options
    )


def create_contact(server: HTTPServer, **options: object) -> object:
    """Create one contact through the real client."""
    body = SimplePublicObjectInputForCreate(properties={"email": EMAIL, "firstname": "Ada"})
    return client(server, **options).crm.contacts.basic_api.create(body)


def test_create_is_one_span_with_the_record_and_dedupe_outcome(
    api: HTTPServer, capture: Capture
) -> None:
    """A 201 create becomes `hubspot crm.contacts create` with record id and `created`."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512", email=EMAIL))
    )
    result = create_contact(api)
    assert result.id == "512"  # type: ignore[attr-defined]
    (span,) = vendor_spans(capture, "hubspot")
    assert span.name == "hubspot crm.contacts create"
    assert span.attributes[semconv.CRM_SYSTEM] == "hubspot"
    assert span.attributes[semconv.CRM_OBJECT] == "contact"
    assert span.attributes[semconv.CRM_OPERATION] == "create"
    assert span.attributes[semconv.CRM_RECORD_ID] == "512"
    assert span.attributes["http.response.status_code"] == 201
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    assert span.attributes[semconv.VENDOR_RETRY_COUNT] == 0
    assert span.attributes[semconv.VENDOR_PROPERTY_NAMES] == ("email", "firstname")
    assert len(span.attributes[semconv.IDENTITY_EMAIL_HASH]) == 64
    assert not span.error


def test_no_property_value_reaches_any_span(api: HTTPServer, capture: Capture) -> None:
    """Neither the e-mail address nor the first name is exported, only their names."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512", email=EMAIL))
    )
    create_contact(api)
    exported = repr([dict(r.attributes) for r in capture.records()])
    assert EMAIL not in exported
    assert "Ada" not in exported


def test_create_emits_crm_updated_inside_the_journey(api: HTTPServer, capture: Capture) -> None:
    """The landed create emits crm_updated with system, object, record and the journey."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    with leadtrace.journey(campaign=CAMPAIGN) as journey:
        create_contact(api)
    (event,) = capture.journey(journey.journey_id).events("crm_updated")
    assert event.attributes[semconv.CRM_SYSTEM] == "hubspot"
    assert event.attributes[semconv.CRM_OBJECT] == "contact"
    assert event.attributes[semconv.CRM_RECORD_ID] == "512"
    assert event.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    assert event.attributes[semconv.CAMPAIGN_ID] == "spring-launch"
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes[semconv.JOURNEY_ID] == journey.journey_id
    assert event.parent_span_id == span.span_id


def test_api_imported_after_instrument_is_traced(api: HTTPServer, capture: Capture) -> None:
    """A HubSpot API package first imported after instrument() gets its span too (deals)."""
    assert "hubspot.crm.deals.api_client" not in sys.modules  # only this test uses deals
    from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealInput

    api.expect_request("/crm/v3/objects/deals", method="POST").respond_with_response(
        json_response(201, hubspot_object("88", dealname="Expansion"))
    )
    client(api).crm.deals.basic_api.create(DealInput(properties={"dealname": "Expansion"}))
    (span,) = vendor_spans(capture, "hubspot")
    assert span.name == "hubspot crm.deals create"
    assert span.attributes[semconv.CRM_OBJECT] == "deal"
    assert named(capture, "crm_updated") == []  # deals are not leads


def test_emit_events_false_keeps_the_span_and_drops_the_event(
    api: HTTPServer, leadtrace_capture: Capture
) -> None:
    """instrument(emit_events=False) records the call but emits no crm_updated."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    HubSpotInstrumentor().instrument(emit_events=False)
    try:
        create_contact(api)
    finally:
        HubSpotInstrumentor().uninstrument()
    assert [s.name for s in leadtrace_capture.records()] == ["hubspot crm.contacts create"]


def test_conflict_records_the_existing_id_and_reraises(api: HTTPServer, capture: Capture) -> None:
    """409 `Existing ID` is a crm conflict with the existing id; the caller gets ApiException."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(
            409,
            hubspot_error("Contact already exists. Existing ID: 1201", "CONFLICT"),
        )
    )
    with pytest.raises(ApiException) as raised:
        create_contact(api)
    assert raised.value.status == 409
    (span,) = vendor_spans(capture, "hubspot")
    assert span.error
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "conflict"
    assert span.attributes[semconv.CRM_EXISTING_RECORD_ID] == "1201"
    assert span.attributes[semconv.FAILURE_LAYER] == "crm"
    assert span.attributes[semconv.FAILURE_REASON] == "conflict"
    assert span.attributes[semconv.VENDOR_REQUEST_ID] == CORRELATION_ID
    assert span.attributes["error.type"] == "ApiException"
    assert named(capture, "crm_updated") == []


def test_batch_upsert_counts_new_and_existing_records(api: HTTPServer, capture: Capture) -> None:
    """Batch upsert results with new true / false give one created and one updated event."""
    api.expect_request(f"{CONTACTS}/batch/upsert", method="POST").respond_with_response(
        json_response(
            200, hubspot_batch(hubspot_object("1", new=True), hubspot_object("2", new=False))
        )
    )
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id=email, id_property="email", properties={"email": email}
            )
            for email in ("a@example.com", "b@example.com")
        ]
    )
    client(api).crm.contacts.batch_api.upsert(batch)
    (span,) = vendor_spans(capture, "hubspot")
    assert span.name == "hubspot crm.contacts batch.upsert"
    assert span.attributes[semconv.CRM_OPERATION] == "upsert"
    assert span.attributes[semconv.VENDOR_BATCH_SIZE] == 2
    assert span.attributes[semconv.VENDOR_BATCH_CREATED] == 1
    assert span.attributes[semconv.VENDOR_BATCH_UPDATED] == 1
    assert semconv.LEAD_DEDUPE_OUTCOME not in span.attributes
    outcomes = {
        e.attributes[semconv.CRM_RECORD_ID]: e.attributes[semconv.LEAD_DEDUPE_OUTCOME]
        for e in named(capture, "crm_updated")
    }
    assert outcomes == {"1": "created", "2": "updated"}
    assert "a@example.com" not in repr([dict(r.attributes) for r in capture.records()])


def test_update_by_id_names_the_record(api: HTTPServer, capture: Capture) -> None:
    """PATCH /contacts/{id} is an update of that record, outcome `updated`."""
    api.expect_request(f"{CONTACTS}/77", method="PATCH").respond_with_response(
        json_response(200, hubspot_object("77"))
    )
    client(api).crm.contacts.basic_api.update("77", SimplePublicObjectInput(properties={"x": "1"}))
    (span,) = vendor_spans(capture, "hubspot")
    assert span.name == "hubspot crm.contacts update"
    assert span.attributes[semconv.CRM_RECORD_ID] == "77"
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "updated"


def test_rate_limit_without_retry_records_the_headers(api: HTTPServer, capture: Capture) -> None:
    """429 is rate_limited with HubSpot's rate-limit headers and Retry-After on the span."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(
            429,
            hubspot_error("You have reached your secondly limit.", "RATE_LIMITS"),
            Retry_After="1",
            **HUBSPOT_RATE_HEADERS,
        )
    )
    with pytest.raises(ApiException):
        create_contact(api)
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes[semconv.FAILURE_REASON] == "rate_limited"
    assert span.attributes[semconv.VENDOR_RATE_LIMIT_REMAINING] == 0
    assert span.attributes[semconv.VENDOR_RATE_LIMIT_LIMIT] == 190
    assert span.attributes[semconv.VENDOR_RETRY_AFTER] == 1.0
    assert span.attributes["http.response.status_code"] == 429


def test_urllib3_retries_are_counted(api: HTTPServer, capture: Capture) -> None:
    """A 429 retried by urllib3 and then created shows retry_count 1 and status 201."""
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(429, hubspot_error("slow down", "RATE_LIMITS"), Retry_After="0")
    )
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("9"))
    )
    retry = Retry(total=2, status_forcelist=[429], allowed_methods=None, backoff_factor=0)
    create_contact(api, retry=retry)
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes[semconv.VENDOR_RETRY_COUNT] == 1
    assert span.attributes["http.response.status_code"] == 201
    # martech.vendor.retries gets the retry; the call lands once
    (retries,) = metric_points(capture, "martech.vendor.retries")
    assert (retries.attributes, retries.value) == ({semconv.VENDOR_NAME: "hubspot"}, 1)
    assert vendor_calls(capture) == {key(): 1}


def test_server_error_is_a_crm_server_error(api: HTTPServer, capture: Capture) -> None:
    """5xx is server_error in the crm layer."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(502, hubspot_error("bad gateway", "INTERNAL_ERROR"))
    )
    with pytest.raises(ApiException):
        create_contact(api)
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes[semconv.FAILURE_REASON] == "server_error"
    assert span.attributes[semconv.FAILURE_LAYER] == "crm"


def test_timeout_is_a_timeout(api: HTTPServer, capture: Capture) -> None:
    """A request that outlives `_request_timeout` fails with reason timeout."""
    api.expect_request(CONTACTS, method="POST").respond_with_handler(slow(0.5))
    body = SimplePublicObjectInputForCreate(properties={"email": EMAIL})
    api_client = client(api, retry=Retry(total=0, read=0)).crm.contacts.basic_api
    with pytest.raises((MaxRetryError, ReadTimeoutError)) as raised:
        api_client.create(body, _request_timeout=0.05)
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes[semconv.FAILURE_REASON] == "timeout"
    assert span.attributes["error.type"] == type(raised.value).__name__


def test_malformed_json_is_a_server_error(api: HTTPServer, capture: Capture) -> None:
    """An error answer that is not JSON still classifies by status and re-raises."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(malformed(503))
    with pytest.raises(ApiException):
        create_contact(api)
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes[semconv.FAILURE_REASON] == "server_error"
    assert semconv.VENDOR_REQUEST_ID not in span.attributes


def test_unreadable_success_is_flagged_not_counted(api: HTTPServer, capture: Capture) -> None:
    """A 201 whose body is not JSON returns an empty model; the span says so, no event."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(malformed(201))
    assert create_contact(api).id is None  # type: ignore[attr-defined]
    (span,) = vendor_spans(capture, "hubspot")
    assert span.error
    assert span.attributes[semconv.FAILURE_REASON] == "server_error"
    assert semconv.LEAD_DEDUPE_OUTCOME not in span.attributes
    assert named(capture, "crm_updated") == []


def test_raw_response_reports_only_the_transport(api: HTTPServer, capture: Capture) -> None:
    """With _preload_content=False the span has the status but claims no outcome."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    body = SimplePublicObjectInputForCreate(properties={"email": EMAIL})
    raw = client(api).crm.contacts.basic_api.create(body, _preload_content=False)
    assert raw.status == 201
    (span,) = vendor_spans(capture, "hubspot")
    assert span.attributes["http.response.status_code"] == 201
    assert semconv.LEAD_DEDUPE_OUTCOME not in span.attributes
    assert not span.error
    assert named(capture, "crm_updated") == []


def test_async_req_stays_in_the_callers_trace(api: HTTPServer, capture: Capture) -> None:
    """An async_req call runs on the client's pool but under the caller's span."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    body = SimplePublicObjectInputForCreate(properties={"email": EMAIL})
    tracer = capture.handle.tracer_provider.get_tracer("app")
    with leadtrace.journey(campaign=CAMPAIGN) as journey, tracer.start_as_current_span("signup"):
        pending = client(api).crm.contacts.basic_api.create(body, async_req=True)
        assert pending.get(timeout=5).id == "512"
    (parent,) = named(capture, "signup")
    (span,) = vendor_spans(capture, "hubspot")
    assert span.trace_id == parent.trace_id
    assert span.parent_span_id == parent.span_id
    assert span.attributes[semconv.JOURNEY_ID] == journey.journey_id


def test_instrumentation_fault_never_reaches_the_caller(
    api: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In lenient mode a fault inside the instrumentor is counted and the call goes on."""
    from leadtrace.integrations import hubspot as module

    def broken(_body: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(module, "_properties", broken)
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    with Capture(validation="lenient") as lenient:
        HubSpotInstrumentor().instrument()
        try:
            assert create_contact(api).id == "512"  # type: ignore[attr-defined]
        finally:
            HubSpotInstrumentor().uninstrument()
        (point,) = lenient.metric_points("leadtrace.internal_errors")
    assert point.attributes["where"] == "hubspot.start"
    assert point.value == 1


@pytest.mark.parametrize("http_spans", [False, True])
def test_the_hubspot_span_is_the_http_client_span(
    api: HTTPServer, leadtrace_capture: Capture, http_spans: bool
) -> None:
    """With urllib3 instrumented too: by default no second HTTP span under the HubSpot span
    and no trace header to HubSpot; ``http_spans=True`` keeps both."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    urllib3_instrumentor = URLLib3Instrumentor()
    urllib3_instrumentor.instrument(tracer_provider=leadtrace_capture.handle.tracer_provider)
    HubSpotInstrumentor().instrument(http_spans=http_spans, emit_events=False)
    try:
        create_contact(api)
    finally:
        HubSpotInstrumentor().uninstrument()
        urllib3_instrumentor.uninstrument()
    (span,) = vendor_spans(leadtrace_capture, "hubspot")
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["server.address"] == api.host
    assert span.attributes["server.port"] == api.port
    assert span.attributes["http.response.status_code"] == 201
    children = [r.name for r in leadtrace_capture.records() if r.parent_span_id == span.span_id]
    assert children == (["POST"] if http_spans else [])
    ((request, _response),) = api.log
    assert ("traceparent" in request.headers) is http_spans


def test_uninstrument_restores_the_client(api: HTTPServer, leadtrace_capture: Capture) -> None:
    """After uninstrument() calls work as before and produce no span."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    HubSpotInstrumentor().instrument()
    HubSpotInstrumentor().uninstrument()
    assert create_contact(api).id == "512"  # type: ignore[attr-defined]
    assert leadtrace_capture.records() == []


def test_noop_tracer_provider_works(api: HTTPServer, leadtrace_capture: Capture) -> None:
    """With a NoOp provider the call returns its result and nothing is recorded."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    HubSpotInstrumentor().instrument(tracer_provider=NoOpTracerProvider(), emit_events=False)
    try:
        assert create_contact(api).id == "512"  # type: ignore[attr-defined]
    finally:
        HubSpotInstrumentor().uninstrument()
    assert leadtrace_capture.records() == []


def test_non_recording_span_gets_no_attributes(api: HTTPServer) -> None:
    """A span that does not record is never handed attributes."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    provider = SpyTracerProvider()
    HubSpotInstrumentor().instrument(tracer_provider=provider, emit_events=False)
    try:
        create_contact(api)
    finally:
        HubSpotInstrumentor().uninstrument()
    (spy,) = provider.spans
    assert spy.attribute_calls == 0


def test_missing_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the module without hubspot-api-client says which extra to install."""
    monkeypatch.setitem(sys.modules, "hubspot", None)
    monkeypatch.delitem(sys.modules, "leadtrace.integrations.hubspot")
    with pytest.raises(ImportError, match=r"leadtrace\[hubspot\]"):
        importlib.import_module("leadtrace.integrations.hubspot")


# --- vendor metrics and SLIs ---------------------------------------------------------------


def test_calls_are_counted_by_failure_reason(api: HTTPServer, capture: Capture) -> None:
    """Each call is one count: landed, rate limited, conflict; the last quota is a gauge."""
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(
            201,
            hubspot_object("512"),
            **{**HUBSPOT_RATE_HEADERS, "X_HubSpot_RateLimit_Remaining": "7"},
        )
    )
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(
            429, hubspot_error("limit", "RATE_LIMITS"), Retry_After="1", **HUBSPOT_RATE_HEADERS
        )
    )
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(409, hubspot_error("Contact already exists. Existing ID: 77", "CONFLICT"))
    )
    create_contact(api)
    for _ in range(2):
        with pytest.raises(ApiException):
            create_contact(api)
    layer = semconv.FAILURE_LAYER
    reason = semconv.FAILURE_REASON
    assert vendor_calls(capture) == {
        key(): 1,
        key(**{layer: "crm", reason: "rate_limited"}): 1,
        key(**{layer: "crm", reason: "conflict"}): 1,
    }
    (gauge,) = capture.metric_points("martech.vendor.rate_limit.remaining")
    assert (gauge.attributes, gauge.value) == ({semconv.VENDOR_NAME: "hubspot"}, 0)


def test_failed_lead_writes_count_against_crm_write_success(
    api: HTTPServer, capture: Capture
) -> None:
    """A landed create is good; a 5xx and a 409 conflict are not (the SLI's own rule)."""
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(502, hubspot_error("bad gateway", "INTERNAL_ERROR"))
    )
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(409, hubspot_error("Contact already exists. Existing ID: 77", "CONFLICT"))
    )
    with leadtrace.journey(campaign=CAMPAIGN):
        create_contact(api)
        for _ in range(2):
            with pytest.raises(ApiException):
                create_contact(api)
    assert recorder_of(capture.handle).counts()["crm_write_success"] == (1, 3)
    # only the landed write is an event on the trace; the failures are on the vendor spans
    assert len(named(capture, "crm_updated")) == 1
    dedupe = {
        p.attributes["martech.outcome.value"]: p.value
        for p in capture.metric_points("martech.outcomes")
        if p.attributes["martech.outcome.kind"] == "dedupe"
    }
    assert dedupe == {"created": 1, "conflict": 1}


def test_no_count_against_the_sli_when_events_are_off(
    api: HTTPServer, leadtrace_capture: Capture
) -> None:
    """emit_events=False leaves crm_updated (landed or failed) to the caller's own code."""
    api.expect_request(CONTACTS, method="POST").respond_with_response(
        json_response(502, hubspot_error("bad gateway", "INTERNAL_ERROR"))
    )
    HubSpotInstrumentor().instrument(emit_events=False)
    try:
        with pytest.raises(ApiException):
            create_contact(api)
    finally:
        HubSpotInstrumentor().uninstrument()
    assert recorder_of(leadtrace_capture.handle).counts().get("crm_write_success", (0, 0)) == (0, 0)
    assert sum(vendor_calls(leadtrace_capture).values()) == 1


def test_calls_are_counted_when_the_span_is_not_sampled(
    api: HTTPServer, metric_reader: InMemoryMetricReader
) -> None:
    """Sampling hides neither the vendor call counts nor the failed write from the SLIs."""
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(201, hubspot_object("512"))
    )
    api.expect_ordered_request(CONTACTS, method="POST").respond_with_response(
        json_response(503, hubspot_error("unavailable", "INTERNAL_ERROR"))
    )
    unsampled = leadtrace.configure(
        service_name="t",
        local=True,
        metric_readers=[metric_reader],
        tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
        environ={},
    )
    HubSpotInstrumentor().instrument()
    try:
        with unsampled.activate(), leadtrace.journey(campaign=CAMPAIGN, synthetic=True):
            create_contact(api)
            with pytest.raises(ApiException):
                create_contact(api)
        counts = recorder_of(unsampled).counts()
        counter_points(metric_reader, "martech.vendor.calls")  # new series: zero once
        points = counter_points(metric_reader, "martech.vendor.calls")
    finally:
        HubSpotInstrumentor().uninstrument()
        unsampled.shutdown()
    synthetic = {semconv.JOURNEY_SYNTHETIC: "true"}
    failed = {semconv.FAILURE_LAYER: "crm", semconv.FAILURE_REASON: "server_error"}
    assert counts["crm_write_success"] == (1, 2)
    assert points == {key(**synthetic): 1, key(**synthetic, **failed): 1}


def test_an_address_in_an_object_type_never_reaches_a_metric(
    api: HTTPServer, capture: Capture
) -> None:
    """Metrics do not pass the span scrubber: an e-mail address a caller put where an object
    type belongs is replaced in the metric attributes as on the span."""
    from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectInput

    api.expect_request(f"/crm/v3/objects/{EMAIL}", method="POST").respond_with_response(
        json_response(201, hubspot_object("88"))
    )
    client(api).crm.objects.basic_api.create(EMAIL, ObjectInput(properties={"name": "x"}))
    points = metric_points(capture, "martech.vendor.calls")
    assert len(points) == 1
    assert EMAIL not in repr([p.attributes for p in points])
    assert EMAIL not in repr([(r.name, dict(r.attributes)) for r in capture.records()])
    assert points[0].attributes[semconv.VENDOR_OPERATION] == "[redacted] create"
