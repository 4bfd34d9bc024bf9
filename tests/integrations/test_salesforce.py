"""Salesforce instrumentor: the real simple-salesforce against a local Salesforce stand-in."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from _vendorserver import (
    SpyTracerProvider,
    json_response,
    malformed,
    metric_points,
    named,
    slow,
    vendor_server,
    vendor_spans,
)
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.trace import NoOpTracerProvider
from pytest_httpserver import HTTPServer
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
)
from werkzeug import Request, Response

import leadtrace
from leadtrace import semconv
from leadtrace.integrations.salesforce import SalesforceInstrumentor
from leadtrace.metrics import recorder_of
from leadtrace.testing import Capture

LEAD_ID = "00Q5e000001AbcDEAZ"
MATCHED_ID = "00Q5e000001XyZ1EAK"
EMAIL = "ada@example.com"
LEAD = {"LastName": "Lovelace", "Company": "Analytical Engines", "Email": EMAIL}
CAMPAIGN = leadtrace.Campaign(id="spring-launch", source="google", medium="cpc")
LIMIT_INFO = {"Sforce_Limit_Info": "api-usage=25/15000"}

DUPLICATES = [
    {
        "message": "Use one of these records?",
        "errorCode": "DUPLICATES_DETECTED",
        "fields": [],
        "duplicateResult": {
            "allowSave": False,
            "duplicateRule": "Standard_Lead_Duplicate_Rule",
            "duplicateRuleEntityType": "Lead",
            "errorMessage": "Use one of these records?",
            "matchResults": [
                {
                    "entityType": "Lead",
                    "errors": [],
                    "matchEngine": "FuzzyMatchEngine",
                    "matchRecords": [
                        {
                            "additionalInformation": [],
                            "fieldDiffs": [],
                            "matchConfidence": 100.0,
                            "record": {
                                "attributes": {
                                    "type": "Lead",
                                    "url": f"/services/data/v59.0/sobjects/Lead/{MATCHED_ID}",
                                },
                                "Id": MATCHED_ID,
                            },
                        }
                    ],
                    "rule": "Standard_Lead_Match_Rule_v1_0",
                    "size": 1,
                    "success": True,
                }
            ],
        },
    }
]


class PlainHTTP(HTTPAdapter):
    """Sends the client's https:// URLs to the local stand-in over plain HTTP, with a timeout."""

    def __init__(self, timeout: float = 2.0) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Rewrite the scheme and bound the wait."""
        request.url = "http://" + request.url.removeprefix("https://")
        kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """One local Salesforce stand-in for the module."""
    yield from vendor_server()


@pytest.fixture
def api(server: HTTPServer) -> Iterator[HTTPServer]:
    """The stand-in with no expectations left from an earlier test."""
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def capture(leadtrace_capture: Capture) -> Iterator[Capture]:
    """A capture with the Salesforce instrumentor on."""
    SalesforceInstrumentor().instrument()
    yield leadtrace_capture
    SalesforceInstrumentor().uninstrument()


def salesforce(server: HTTPServer, timeout: float = 2.0) -> Salesforce:
    """A real client for the stand-in (session id given, so no login call)."""
    session = requests.Session()
    session.mount("https://127.0.0.1", PlainHTTP(timeout))
    return Salesforce(
        instance_url=server.url_for("").rstrip("/"), session_id="test-session", session=session
    )


def lead_path(server: HTTPServer, suffix: str = "") -> str:
    """Path of the Lead sobject resource (plus ``suffix``)."""
    return urlsplit(salesforce(server).Lead.base_url).path + suffix


def test_create_is_one_span_with_record_and_limits(api: HTTPServer, capture: Capture) -> None:
    """A 201 create is `salesforce Lead create` with the new id, created and API usage."""
    api.expect_request(lead_path(api), method="POST").respond_with_response(
        json_response(201, {"id": LEAD_ID, "success": True, "errors": []}, **LIMIT_INFO)
    )
    assert salesforce(api).Lead.create(LEAD)["id"] == LEAD_ID
    (span,) = vendor_spans(capture, "salesforce")
    assert span.name == "salesforce Lead create"
    assert span.attributes[semconv.CRM_OBJECT] == "lead"
    assert span.attributes[semconv.CRM_OPERATION] == "create"
    assert span.attributes[semconv.CRM_RECORD_ID] == LEAD_ID
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    assert span.attributes["http.response.status_code"] == 201
    assert span.attributes[semconv.VENDOR_RATE_LIMIT_REMAINING] == 14975
    assert span.attributes[semconv.VENDOR_RATE_LIMIT_LIMIT] == 15000
    assert span.attributes[semconv.VENDOR_PROPERTY_NAMES] == ("Company", "Email", "LastName")
    assert EMAIL not in repr([dict(r.attributes) for r in capture.records()])


def test_upsert_201_then_204_is_created_then_updated(api: HTTPServer, capture: Capture) -> None:
    """Upsert by external id: 201 created (id from the body), then 204 updated."""
    path = lead_path(api, "Email_Key__c/k-123")
    api.expect_ordered_request(path, method="PATCH").respond_with_response(
        json_response(201, {"id": LEAD_ID, "success": True, "errors": [], "created": True})
    )
    api.expect_ordered_request(path, method="PATCH").respond_with_response(Response(status=204))
    client = salesforce(api)
    with leadtrace.journey(campaign=CAMPAIGN) as journey:
        assert client.Lead.upsert("Email_Key__c/k-123", LEAD) == 201
        assert client.Lead.upsert("Email_Key__c/k-123", LEAD) == 204
    first, second = vendor_spans(capture, "salesforce")
    assert first.name == second.name == "salesforce Lead upsert"
    assert first.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    assert first.attributes[semconv.CRM_RECORD_ID] == LEAD_ID
    assert second.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "updated"
    assert second.attributes[semconv.CRM_EXTERNAL_ID_FIELD] == "Email_Key__c"
    assert semconv.CRM_RECORD_ID not in second.attributes
    assert "k-123" not in repr([dict(r.attributes) for r in capture.records()])
    events = capture.journey(journey.journey_id).events("crm_updated")
    assert [e.attributes[semconv.LEAD_DEDUPE_OUTCOME] for e in events] == ["created", "updated"]
    assert events[0].attributes[semconv.CRM_SYSTEM] == "salesforce"
    assert events[0].attributes[semconv.CAMPAIGN_ID] == "spring-launch"


def test_duplicates_detected_is_an_identity_failure(api: HTTPServer, capture: Capture) -> None:
    """DUPLICATES_DETECTED: duplicate outcome, identity layer, matched id; exception unchanged."""
    api.expect_request(lead_path(api), method="POST").respond_with_response(
        json_response(400, DUPLICATES)
    )
    with pytest.raises(SalesforceMalformedRequest) as raised:
        salesforce(api).Lead.create(LEAD)
    assert raised.value.status == 400
    (span,) = vendor_spans(capture, "salesforce")
    assert span.error
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "duplicate"
    assert span.attributes[semconv.FAILURE_LAYER] == "identity"
    assert span.attributes[semconv.FAILURE_REASON] == "duplicate"
    assert span.attributes[semconv.CRM_EXISTING_RECORD_ID] == MATCHED_ID
    assert named(capture, "crm_updated") == []


def test_multiple_matches_are_ambiguous(api: HTTPServer, capture: Capture) -> None:
    """300 on an upsert is an ambiguous identity failure."""
    path = lead_path(api, "Email_Key__c/k-123")
    api.expect_request(path, method="PATCH").respond_with_response(
        json_response(
            300,
            [
                "/services/data/v59.0/sobjects/Lead/00Q000000000001",
                "/services/data/v59.0/sobjects/Lead/00Q000000000002",
            ],
        )
    )
    with pytest.raises(SalesforceMoreThanOneRecord):
        salesforce(api).Lead.upsert("Email_Key__c/k-123", LEAD)
    (span,) = vendor_spans(capture, "salesforce")
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "ambiguous"
    assert span.attributes[semconv.FAILURE_LAYER] == "identity"
    assert span.attributes[semconv.FAILURE_REASON] == "ambiguous"


@pytest.mark.parametrize(
    ("status", "body", "exception", "reason"),
    [
        (
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            SalesforceRefusedRequest,
            "rate_limited",
        ),
        (
            429,
            [{"message": "slow down", "errorCode": "TOO_MANY"}],
            SalesforceGeneralError,
            "rate_limited",
        ),
        (
            400,
            [
                {
                    "message": "Required fields are missing: [LastName]",
                    "errorCode": "REQUIRED_FIELD_MISSING",
                }
            ],
            SalesforceMalformedRequest,
            "validation",
        ),
        (
            503,
            [{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}],
            SalesforceGeneralError,
            "server_error",
        ),
    ],
)
def test_error_statuses_classify(
    api: HTTPServer, capture: Capture, status: int, body: Any, exception: type, reason: str
) -> None:
    """Each documented error answer gives its failure reason in the crm layer."""
    api.expect_request(lead_path(api), method="POST").respond_with_response(
        json_response(status, body, Retry_After="2")
    )
    with pytest.raises(exception):
        salesforce(api).Lead.create(LEAD)
    (span,) = vendor_spans(capture, "salesforce")
    assert span.attributes[semconv.FAILURE_REASON] == reason
    assert span.attributes[semconv.FAILURE_LAYER] == "crm"
    assert span.attributes["http.response.status_code"] == status
    (point,) = metric_points(capture, "martech.vendor.calls")
    assert point.attributes == {
        semconv.VENDOR_NAME: "salesforce",
        semconv.VENDOR_OPERATION: "Lead create",
        semconv.CRM_OBJECT: "lead",
        semconv.FAILURE_LAYER: "crm",
        semconv.FAILURE_REASON: reason,
        semconv.JOURNEY_SYNTHETIC: "false",
    }
    assert recorder_of(capture.handle).counts()["crm_write_success"] == (0, 1)


def test_duplicate_counts_as_identity_failure_and_a_bad_write(
    api: HTTPServer, capture: Capture
) -> None:
    """DUPLICATES_DETECTED then a landed create: one good write of two, one duplicate."""
    api.expect_ordered_request(lead_path(api), method="POST").respond_with_response(
        json_response(400, DUPLICATES)
    )
    api.expect_ordered_request(lead_path(api), method="POST").respond_with_response(
        json_response(201, {"id": LEAD_ID, "success": True, "errors": []}, **LIMIT_INFO)
    )
    client = salesforce(api)
    with leadtrace.journey(campaign=CAMPAIGN):
        with pytest.raises(SalesforceMalformedRequest):
            client.Lead.create(LEAD)
        client.Lead.create(LEAD)
    reasons = {
        (p.attributes.get(semconv.FAILURE_LAYER), p.attributes.get(semconv.FAILURE_REASON)): p.value
        for p in metric_points(capture, "martech.vendor.calls")
    }
    assert reasons == {("identity", "duplicate"): 1, (None, None): 1}
    assert recorder_of(capture.handle).counts()["crm_write_success"] == (1, 2)
    dedupe = {
        p.attributes["martech.outcome.value"]: p.value
        for p in capture.metric_points("martech.outcomes")
        if p.attributes["martech.outcome.kind"] == "dedupe"
    }
    assert dedupe == {"duplicate": 1, "created": 1}
    (gauge,) = capture.metric_points("martech.vendor.rate_limit.remaining")
    assert gauge.value == 14975


def test_timeout_is_a_timeout(api: HTTPServer, capture: Capture) -> None:
    """A request that outlives the session's timeout fails with reason timeout."""
    api.expect_request(lead_path(api), method="POST").respond_with_handler(slow(0.5))
    with pytest.raises(requests.exceptions.Timeout):
        salesforce(api, timeout=0.05).Lead.create(LEAD)
    (span,) = vendor_spans(capture, "salesforce")
    assert span.attributes[semconv.FAILURE_REASON] == "timeout"


def test_malformed_json_is_a_server_error(api: HTTPServer, capture: Capture) -> None:
    """A 201 whose body is not JSON fails in the client; the span keeps the 201."""
    api.expect_request(lead_path(api), method="POST").respond_with_response(malformed(201))
    with pytest.raises(ValueError, match="Expecting"):
        salesforce(api).Lead.create(LEAD)
    (span,) = vendor_spans(capture, "salesforce")
    assert span.attributes[semconv.FAILURE_REASON] == "server_error"
    assert span.attributes["http.response.status_code"] == 201
    assert named(capture, "crm_updated") == []


BULK_JOB = {"id": "750x0000000001", "state": "Open", "object": "Lead", "operation": "upsert"}
BULK_BATCH = {"id": "751x0000000001", "jobId": "750x0000000001", "state": "Queued"}
BULK_RESULTS = [
    {"success": True, "created": True, "id": "00Q000000000001", "errors": []},
    {"success": True, "created": False, "id": "00Q000000000002", "errors": []},
]


def test_bulk_workers_run_inside_the_jobs_trace(api: HTTPServer, capture: Capture) -> None:
    """Bulk upsert is one span; the worker threads' HTTP calls are its children."""
    client = salesforce(api)
    bulk = urlsplit(client.bulk_url).path
    job, batch = f"{bulk}job/{BULK_JOB['id']}", f"{bulk}job/{BULK_JOB['id']}/batch"
    api.expect_request(f"{bulk}job", method="POST").respond_with_json(BULK_JOB)
    api.expect_request(batch, method="POST").respond_with_json(BULK_BATCH)
    api.expect_request(f"{batch}/{BULK_BATCH['id']}", method="GET").respond_with_json(
        {**BULK_BATCH, "state": "Completed"}
    )
    api.expect_request(f"{batch}/{BULK_BATCH['id']}/result", method="GET").respond_with_json(
        BULK_RESULTS
    )
    api.expect_request(job, method="POST").respond_with_json({**BULK_JOB, "state": "Closed"})
    requests_instrumentor = RequestsInstrumentor()
    requests_instrumentor.instrument(tracer_provider=capture.handle.tracer_provider)
    try:
        rows = [{"Email_Key__c": f"k-{i}", "LastName": "L"} for i in range(2)]
        client.bulk.Lead.upsert(rows, external_id_field="Email_Key__c", batch_size=2)
    finally:
        requests_instrumentor.uninstrument()
    (span,) = vendor_spans(capture, "salesforce")
    assert span.name == "salesforce Lead bulk.upsert"
    assert span.attributes[semconv.VENDOR_BATCH_SIZE] == 2
    assert span.attributes[semconv.VENDOR_BATCH_CREATED] == 1
    assert span.attributes[semconv.VENDOR_BATCH_UPDATED] == 1
    assert span.attributes[semconv.CRM_EXTERNAL_ID_FIELD] == "Email_Key__c"
    http = [r for r in capture.records() if r.name in ("GET", "POST")]
    assert len(http) == 5
    assert {r.trace_id for r in http} == {span.trace_id}
    assert {r.parent_span_id for r in http} == {span.span_id}


BULK2_JOB = "750R0000000zlh9IAA"


def bulk2_answer(request: Request) -> Response:
    """Bulk 2.0 ingest: create (Open), upload (201), close, then the job is complete."""
    if request.method == "POST":
        return json_response(200, {"id": BULK2_JOB, "state": "Open"})
    if request.method == "PUT":
        return Response(status=201)
    if request.method == "PATCH":
        return json_response(200, {"id": BULK2_JOB, "state": "UploadComplete"})
    return json_response(
        200,
        {
            "id": BULK2_JOB,
            "state": "JobComplete",
            "numberRecordsFailed": 0,
            "numberRecordsProcessed": 1,
        },
    )


def test_bulk2_workers_run_inside_the_jobs_trace(api: HTTPServer, capture: Capture) -> None:
    """Bulk 2.0 insert with two worker threads: one span, every HTTP call a child of it."""
    api.expect_request(re.compile(r".*/jobs/ingest.*")).respond_with_handler(bulk2_answer)
    client = salesforce(api)
    requests_instrumentor = RequestsInstrumentor()
    requests_instrumentor.instrument(tracer_provider=capture.handle.tracer_provider)
    try:
        rows = [{"LastName": "Lovelace", "Company": f"C{i}"} for i in range(2)]
        results = client.bulk2.Lead.insert(records=rows, batch_size=1, concurrency=2, wait=0)
    finally:
        requests_instrumentor.uninstrument()
    assert len(results) == 2
    (span,) = vendor_spans(capture, "salesforce")
    assert span.name == "salesforce Lead bulk2.insert"
    assert span.attributes[semconv.CRM_OPERATION] == "create"
    assert span.attributes[semconv.VENDOR_BATCH_SIZE] == 2
    http = [r for r in capture.records() if r.name in ("GET", "POST", "PUT", "PATCH")]
    assert len(http) >= 8  # per job: create, upload, close, poll, read
    assert {r.parent_span_id for r in http} == {span.span_id}


@pytest.mark.parametrize("http_spans", [False, True])
def test_the_record_span_is_the_http_client_span(
    api: HTTPServer, leadtrace_capture: Capture, http_spans: bool
) -> None:
    """With requests instrumented too: by default no second HTTP span under a record
    operation's span and no trace header to Salesforce; ``http_spans=True`` keeps both."""
    api.expect_request(lead_path(api), method="POST").respond_with_json(
        {"id": LEAD_ID, "success": True, "errors": []}, status=201
    )
    client = salesforce(api)
    requests_instrumentor = RequestsInstrumentor()
    requests_instrumentor.instrument(tracer_provider=leadtrace_capture.handle.tracer_provider)
    SalesforceInstrumentor().instrument(http_spans=http_spans, emit_events=False)
    try:
        client.Lead.create(LEAD)
    finally:
        SalesforceInstrumentor().uninstrument()
        requests_instrumentor.uninstrument()
    (span,) = vendor_spans(leadtrace_capture, "salesforce")
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["server.address"] == urlsplit(client.Lead.base_url).hostname
    assert span.attributes["server.port"] == api.port
    children = [r.name for r in leadtrace_capture.records() if r.parent_span_id == span.span_id]
    assert children == (["POST"] if http_spans else [])
    ((request, _response),) = api.log
    assert ("traceparent" in request.headers) is http_spans


def test_emit_events_false_keeps_the_span_and_drops_the_event(
    api: HTTPServer, leadtrace_capture: Capture
) -> None:
    """instrument(emit_events=False) records the call but emits no crm_updated."""
    api.expect_request(lead_path(api), method="POST").respond_with_json(
        {"id": LEAD_ID, "success": True, "errors": []}, status=201
    )
    SalesforceInstrumentor().instrument(emit_events=False)
    try:
        salesforce(api).Lead.create(LEAD)
    finally:
        SalesforceInstrumentor().uninstrument()
    assert [s.name for s in leadtrace_capture.records()] == ["salesforce Lead create"]


def test_instrumentation_fault_never_reaches_the_caller(
    api: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In lenient mode a fault inside the instrumentor is counted and the call goes on."""
    from leadtrace.integrations import salesforce as module

    def broken(*_args: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(module, "_success", broken)
    api.expect_request(lead_path(api), method="POST").respond_with_json(
        {"id": LEAD_ID, "success": True, "errors": []}, status=201
    )
    with Capture(validation="lenient") as lenient:
        SalesforceInstrumentor().instrument()
        try:
            assert salesforce(api).Lead.create(LEAD)["id"] == LEAD_ID
        finally:
            SalesforceInstrumentor().uninstrument()
        (point,) = lenient.metric_points("leadtrace.internal_errors")
    assert point.attributes["where"] == "salesforce.finish"


def test_uninstrument_restores_the_client(api: HTTPServer, leadtrace_capture: Capture) -> None:
    """After uninstrument() calls work as before and produce no span."""
    api.expect_request(lead_path(api), method="POST").respond_with_json(
        {"id": LEAD_ID, "success": True, "errors": []}, status=201
    )
    SalesforceInstrumentor().instrument()
    SalesforceInstrumentor().uninstrument()
    assert salesforce(api).Lead.create(LEAD)["id"] == LEAD_ID
    assert leadtrace_capture.records() == []


def test_noop_tracer_provider_works(api: HTTPServer, leadtrace_capture: Capture) -> None:
    """With a NoOp provider the call returns its result and nothing is recorded."""
    api.expect_request(lead_path(api), method="POST").respond_with_json(
        {"id": LEAD_ID, "success": True, "errors": []}, status=201
    )
    SalesforceInstrumentor().instrument(tracer_provider=NoOpTracerProvider(), emit_events=False)
    try:
        assert salesforce(api).Lead.create(LEAD)["id"] == LEAD_ID
    finally:
        SalesforceInstrumentor().uninstrument()
    assert leadtrace_capture.records() == []


def test_non_recording_span_gets_no_attributes(api: HTTPServer) -> None:
    """A span that does not record is never handed attributes."""
    api.expect_request(lead_path(api), method="POST").respond_with_json(
        {"id": LEAD_ID, "success": True, "errors": []}, status=201
    )
    provider = SpyTracerProvider()
    SalesforceInstrumentor().instrument(tracer_provider=provider, emit_events=False)
    try:
        salesforce(api).Lead.create(LEAD)
    finally:
        SalesforceInstrumentor().uninstrument()
    (spy,) = provider.spans
    assert spy.attribute_calls == 0


def test_missing_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the module without simple-salesforce says which extra to install."""
    monkeypatch.setitem(sys.modules, "simple_salesforce.api", None)
    monkeypatch.delitem(sys.modules, "leadtrace.integrations.salesforce", raising=False)
    with pytest.raises(ImportError, match=r"leadtrace\[salesforce\]"):
        importlib.import_module("leadtrace.integrations.salesforce")
