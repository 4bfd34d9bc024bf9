"""No raw e-mail or phone in any exported byte: a full journey over real OTLP/HTTP."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import leadtrace
from leadtrace import semconv
from leadtrace.consent import ConsentState

EMAIL = "Ada.Lovelace@Example.com"
PHONE = "+44 20 7946 0958"
KEY = "s" * 48


class _Collector(BaseHTTPRequestHandler):
    """Records the raw body of every OTLP request; answers like a collector."""

    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.bodies.append((self.path, self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def collector() -> Iterator[Any]:
    """An OTLP/HTTP endpoint on 127.0.0.1 that keeps every request body."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _forbidden() -> list[bytes]:
    """The raw values and the encodings they could leave in."""
    email = EMAIL.lower()
    variants = {
        EMAIL,
        email,
        EMAIL.upper(),
        urllib.parse.quote(email),
        urllib.parse.quote_plus(email),
        "ada.lovelace",
        PHONE,
        "+442079460958",
        "442079460958",
        "2079460958",
        "7946 0958",
        urllib.parse.quote(PHONE),
        urllib.parse.quote_plus(PHONE),
    }
    return [v.encode() for v in variants] + [v.encode("utf-16-le") for v in (email, PHONE)]


def _run_journeys(endpoint: str) -> tuple[str, str]:
    h = leadtrace.configure(
        service_name="landing-web",
        environment="staging",
        endpoint=endpoint,
        hash_key=KEY,
        validation="lenient",
        local=True,
        environ={},
    )
    granted = ConsentState(
        status="granted", purposes=frozenset({"analytics", "marketing"}), source="banner"
    )
    denied = ConsentState(status="denied", source="banner")
    tracer = h.tracer
    with h.activate():
        who = leadtrace.identity(email=EMAIL, phone=PHONE, contact_id="C-1")
        with leadtrace.journey(identity=who, consent=granted) as happy:
            leadtrace.emit("form_submitted", form_id="demo", field_names=["email", "phone"])
            leadtrace.emit("consent_captured", consent=granted)
            leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
            # A third-party HTTP client span: the vendor lookup puts the address in the URL.
            with tracer.start_as_current_span(
                "GET",
                attributes={
                    "url.full": "https://enrich.vendor.example/v2/person?email="
                    + urllib.parse.quote(EMAIL)
                    + "&phone="
                    + urllib.parse.quote(PHONE),
                    "http.request.method": "GET",
                },
            ):
                pass
            # A CRM call failing with the phone number in the exception message.
            with (
                pytest.raises(RuntimeError),
                tracer.start_as_current_span("POST /crm/v3/objects/contacts"),
            ):
                raise RuntimeError(f"INVALID_PHONE: {PHONE} rejected for {EMAIL}")
            leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="emea", owner_id="U-7")
            leadtrace.emit("crm_updated", crm_system="hubspot", crm_object="contact",
                           operation="upsert", record_id="51234567890")  # fmt: skip
            leadtrace.emit("sales_acknowledged", lead_id="L-1", owner_id="U-7")
            # An invalid event (lenient mode keeps it) so metrics carry a data point too.
            leadtrace.emit("lead_qualified", lead_id="L-1", qualification="maybe")
        with leadtrace.journey(identity=who, consent=denied, new=True) as refused:
            leadtrace.emit("form_submitted", form_id="demo")
            leadtrace.emit("consent_captured", consent=denied)
    h.shutdown()
    return happy.journey_id, refused.journey_id


def _spans(bodies: list[tuple[str, bytes]]) -> list[Any]:
    spans = []
    for path, body in bodies:
        if path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    spans.extend(ss.spans)
    return spans


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        field = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, field) if field else None
    return out


def test_no_raw_email_or_phone_in_any_exported_byte(collector: Any) -> None:
    """Every OTLP request body of a full journey is free of the raw e-mail and phone."""
    happy, _ = _run_journeys(f"http://127.0.0.1:{collector.server_address[1]}")
    bodies: list[tuple[str, bytes]] = collector.bodies
    paths = {path for path, _ in bodies}
    assert {"/v1/traces", "/v1/metrics"} <= paths
    traces = b"".join(body for path, body in bodies if path == "/v1/traces")
    assert happy.encode() in traces  # the journey really was exported
    assert semconv.REDACTED_MARKER.encode() in traces  # the vendor URL really was scrubbed
    everything = b"".join(body for _, body in bodies)
    leaks = [v for v in _forbidden() if v in everything]
    assert leaks == []


def test_granted_journey_exports_hashes_and_the_denied_one_none(collector: Any) -> None:
    """Spans of the granted journey carry the e-mail hash; the denied journey's carry none."""
    happy, refused = _run_journeys(f"http://127.0.0.1:{collector.server_address[1]}")
    spans = _spans(collector.bodies)
    expected = leadtrace.identity(email=EMAIL, key=KEY.encode()).email_hash
    by_journey: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        attrs = _attrs(span)
        by_journey.setdefault(attrs.get(semconv.JOURNEY_ID, ""), []).append(attrs)
    assert len(by_journey[happy]) == 10  # nine stages and the journey span
    assert all(a[semconv.IDENTITY_EMAIL_HASH] == expected for a in by_journey[happy])
    assert len(by_journey[refused]) == 3  # two stages and the journey span
    for attrs in by_journey[refused]:
        assert not [k for k in attrs if k.startswith("martech.identity.")]
        assert attrs[semconv.CONSENT_DROPPED_REASON] == (
            "analytics consent denied: identity keys dropped"
        )
