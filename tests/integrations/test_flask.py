"""Flask integration with OpenTelemetry's Flask instrumentation, via Flask's test client."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import flask
import pytest
from _webtest import (
    BAD_REQUESTS,
    CAMPAIGN_QUERY,
    CLICK_IDS_QUERY,
    EMAIL_QUERY,
    UNTRUSTED,
    VISITOR_ADDRESS,
    VISITOR_USER_AGENT,
    VendorServer,
    assert_no_business_context,
    assert_steady_visits_remembered,
    assert_visitor_not_exported,
    call_out,
    count_full_decisions,
    counter_value,
    server_spans,
    spans_named,
    tamper,
)
from flask.testing import FlaskClient
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _handles import active_handle
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.integrations.flask import EXTENSION_KEY, init_app

COOKIE = "leadtrace_touch"


def make_app(handle: Leadtrace, vendor: VendorServer | None = None, **options: Any) -> flask.Flask:
    """A landing app instrumented by OpenTelemetry first, then leadtrace."""
    app = flask.Flask("landing")
    tracer = handle.tracer_provider.get_tracer("landing-app")

    @app.get("/")
    def index() -> dict[str, Any]:
        with tracer.start_as_current_span("render-landing"):
            current = leadtrace.current_journey()
        return {"journey_id": current.journey_id if current else None}

    @app.post("/demo")
    def demo() -> dict[str, int]:
        return {"fields": len(flask.request.form)}

    @app.get("/call")
    def call() -> dict[str, str]:
        assert vendor is not None
        call_out(vendor.vendor_url)
        call_out(vendor.internal_url)
        return {"ok": "yes"}

    FlaskInstrumentor().instrument_app(
        app, tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider
    )
    init_app(app, **options)
    return app


def client_for(app: flask.Flask, addr: str = "127.0.0.1") -> FlaskClient:
    """A Flask test client whose requests come from ``addr``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    return client


def test_server_and_handler_spans_carry_campaign_and_journey(web: Leadtrace) -> None:
    """The OTel server span and a handler span both carry campaign and journey attributes."""
    response = client_for(make_app(web)).get(f"/?{CAMPAIGN_QUERY}")
    journey_id = response.get_json()["journey_id"]
    (server,) = server_spans(web)
    (handler,) = spans_named(web, "render-landing")
    for span in (server, handler):
        assert span.attributes[semconv.JOURNEY_ID] == journey_id
        assert span.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"
        assert span.attributes[semconv.CAMPAIGN_CHANNEL] == "paid_search"
    assert handler.parent.span_id == server.context.span_id


def test_first_touch_survives_a_second_visit_with_other_utms(web: Leadtrace) -> None:
    """A later e-mail visit keeps the first touch and records e-mail as last touch."""
    client = client_for(make_app(web))
    first = client.get(f"/?{CAMPAIGN_QUERY}").get_json()["journey_id"]
    second = client.get(f"/?{EMAIL_QUERY}").get_json()["journey_id"]
    assert second == first
    later = server_spans(web)[-1].attributes
    assert later[semconv.CAMPAIGN_NAME] == "spring-launch"
    assert later[semconv.CAMPAIGN_LAST_NAME] == "november-digest"
    assert spans_named(web, "render-landing")[-1].attributes[semconv.CAMPAIGN_ID] == "sl-26"


def test_tampered_cookie_is_rejected_and_counted(
    web: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """An edited cookie starts a new journey and is counted as forged."""
    client = client_for(make_app(web))
    original = client.get(f"/?{CAMPAIGN_QUERY}").get_json()["journey_id"]
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    client.set_cookie(COOKIE, tamper(cookie.value))
    response = client.get(f"/?{EMAIL_QUERY}")
    assert response.get_json()["journey_id"] != original
    assert server_spans(web)[-1].attributes[semconv.CAMPAIGN_COOKIE] == "rejected"
    assert counter_value(metric_reader, "leadtrace.web.rejected", reason="cookie_forged") == 1


def test_a_steady_returning_visit_is_decided_once(
    web: Leadtrace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeated visits with the same cookie and query are served from the remembered
    decision, and their server spans say what the decision in full said."""
    decided = count_full_decisions(monkeypatch)
    assert_steady_visits_remembered(web, client_for(make_app(web)).get, decided)


def test_form_post_records_field_names_never_values(web: Leadtrace) -> None:
    """A form post puts its field names, not values, on the server span."""
    client = client_for(make_app(web))
    client.post("/demo", data={"email": "ada@example.com", "company": "Initech"})
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.FORM_FIELD_NAMES] == ("email", "company")
    assert not any("ada@example.com" in str(v) for v in attrs.values())


def test_vendor_call_gets_no_business_context_internal_call_does(
    web: Leadtrace, vendor: VendorServer, traced_requests: None
) -> None:
    """A vendor call from the handler gets no leadtrace header or martech baggage."""
    client = client_for(make_app(web, vendor), UNTRUSTED)
    response = client.get(
        f"/call?{CAMPAIGN_QUERY}", headers={"baggage": "martech.journey.id=evil,tenant=t1"}
    )
    assert response.status_code == 200
    journey_id = server_spans(web)[-1].attributes[semconv.JOURNEY_ID]
    assert_no_business_context(vendor.last("/vendor"), journey_id)
    assert vendor.last("/vendor").headers.get("baggage") == "tenant=t1"
    assert f"j={journey_id}" in vendor.last("/internal").headers["leadtrace-journey"]


def test_trusted_journey_header_is_continued(web: Leadtrace) -> None:
    """A leadtrace-journey header from 127.0.0.1 continues that journey."""
    header = "v=1;j=upstream-journey-2;t=1764151200000;cs=granted;s=0"
    response = client_for(make_app(web)).get("/", headers={"LeadTrace-Journey": header})
    assert response.get_json()["journey_id"] == "upstream-journey-2"


@pytest.mark.parametrize(("query", "headers"), BAD_REQUESTS)
def test_bad_input_never_reaches_the_app(
    web: Leadtrace, query: str, headers: dict[str, str]
) -> None:
    """Hostile query strings, cookies and headers still give 200 (strict mode)."""
    response = client_for(make_app(web)).get(f"/?{query}", headers=headers)
    assert response.status_code == 200
    assert server_spans(web)[-1].attributes[semconv.JOURNEY_ID] == response.get_json()["journey_id"]


def test_init_app_before_instrumentation_warns(
    web: Leadtrace, caplog: pytest.LogCaptureFixture
) -> None:
    """init_app on an app OpenTelemetry has not instrumented yet logs how to fix the order."""
    app = flask.Flask("unordered")
    with caplog.at_level(logging.WARNING, logger="leadtrace"):
        init_app(app)
    assert "FlaskInstrumentor().instrument_app(app) before init_app" in caplog.text
    assert EXTENSION_KEY in app.extensions


def test_missing_flask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the integration without Flask raises an ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "flask", None)
    monkeypatch.delitem(sys.modules, "leadtrace.integrations.flask")
    with pytest.raises(ImportError, match=r"pip install 'leadtrace\[flask\]'"):
        importlib.import_module("leadtrace.integrations.flask")


def test_server_span_keeps_no_click_id_address_or_full_user_agent(web: Leadtrace) -> None:
    """OpenTelemetry's server span exports redacted query values, a /24 and a reduced agent."""
    client = client_for(make_app(web), VISITOR_ADDRESS)
    client.get(f"/?{CLICK_IDS_QUERY}", headers={"User-Agent": VISITOR_USER_AGENT})
    server = assert_visitor_not_exported(web)
    assert server.attributes["http.target"].startswith("/?utm_source=google&")
    assert "gclid=REDACTED" in server.attributes["http.target"]
    assert server.attributes["net.peer.ip"] == "203.0.113.0"
    assert server.attributes["http.user_agent"] == "Chrome 120 / macOS"


def test_opt_in_cookie_waits_for_consent_and_reject_deletes_it(
    metric_reader: InMemoryMetricReader,
) -> None:
    """Under ``opt_in``: no cookie on a first visit, one once granted, deleted on a denial."""
    for handle in active_handle(metric_reader, service_name="landing-web"):
        app = make_app(handle)

        @app.post("/consent/<choice>")
        def consent(choice: str) -> dict[str, str]:
            status = "granted" if choice == "accept" else "denied"
            leadtrace.annotate(consent=leadtrace.ConsentState(status=status, source="banner"))
            return {"status": status}

        client = client_for(app)
        assert "Set-Cookie" not in client.get(f"/?{CAMPAIGN_QUERY}").headers
        assert client.post("/consent/accept").headers["Set-Cookie"].startswith(f"{COOKIE}=v1.")
        rejected = client.post("/consent/reject").headers["Set-Cookie"]
        assert rejected.startswith(f"{COOKIE}=;")
        assert "Max-Age=0" in rejected
