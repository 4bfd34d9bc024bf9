"""Django middleware with OpenTelemetry's Django instrumentation, via Django's test Client."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import django
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
from django.conf import settings
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _handles import active_handle
from leadtrace import semconv
from leadtrace._runtime import Leadtrace

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="leadtrace-tests-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["leadtrace.integrations.django.LeadtraceMiddleware"],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()

from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.urls import path

COOKIE = "leadtrace_touch"
_vendor: list[VendorServer] = []


def index(request: HttpRequest) -> JsonResponse:
    """Landing page: a handler span, returns the journey id."""
    tracer = _tracer()
    with tracer.start_as_current_span("render-landing"):
        current = leadtrace.current_journey()
    return JsonResponse({"journey_id": current.journey_id if current else None})


def demo(request: HttpRequest) -> JsonResponse:
    """Form endpoint: reads the posted form."""
    return JsonResponse({"fields": len(request.POST)})


def call(request: HttpRequest) -> JsonResponse:
    """Calls a vendor and an internal service."""
    call_out(_vendor[-1].vendor_url)
    call_out(_vendor[-1].internal_url)
    return JsonResponse({"ok": "yes"})


urlpatterns = [path("", index), path("demo", demo), path("call", call)]


def _tracer() -> Any:
    from leadtrace._runtime import current

    return current().tracer_provider.get_tracer("landing-app")


@pytest.fixture
def instrumented(web: Leadtrace) -> Iterator[None]:
    """OpenTelemetry's Django middleware (inserted first) against the test handle."""
    instrumentor = DjangoInstrumentor()
    instrumentor.instrument(tracer_provider=web.tracer_provider, meter_provider=web.meter_provider)
    yield
    instrumentor.uninstrument()


def client_for(addr: str = "127.0.0.1") -> Client:
    """A test Client whose requests come from ``addr`` (middleware loaded on first use)."""
    return Client(REMOTE_ADDR=addr)


def test_middleware_order_puts_leadtrace_after_opentelemetry(instrumented: None) -> None:
    """DjangoInstrumentor puts its middleware first, leadtrace's runs inside it."""
    assert settings.MIDDLEWARE[0].startswith("opentelemetry.")
    assert settings.MIDDLEWARE[-1] == "leadtrace.integrations.django.LeadtraceMiddleware"


def test_server_and_handler_spans_carry_campaign_and_journey(
    web: Leadtrace, instrumented: None
) -> None:
    """The OTel server span and a handler span both carry campaign and journey attributes."""
    response = client_for().get(f"/?{CAMPAIGN_QUERY}")
    journey_id = response.json()["journey_id"]
    (server,) = server_spans(web)
    (handler,) = spans_named(web, "render-landing")
    for span in (server, handler):
        assert span.attributes[semconv.JOURNEY_ID] == journey_id
        assert span.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"
        assert span.attributes[semconv.CAMPAIGN_SOURCE] == "google"
    assert handler.parent.span_id == server.context.span_id


def test_first_touch_survives_a_second_visit_with_other_utms(
    web: Leadtrace, instrumented: None
) -> None:
    """A later e-mail visit keeps the first touch and records e-mail as last touch."""
    client = client_for()
    first = client.get(f"/?{CAMPAIGN_QUERY}").json()["journey_id"]
    second = client.get(f"/?{EMAIL_QUERY}").json()["journey_id"]
    assert second == first
    later = server_spans(web)[-1].attributes
    assert later[semconv.CAMPAIGN_NAME] == "spring-launch"
    assert later[semconv.CAMPAIGN_LAST_NAME] == "november-digest"
    assert spans_named(web, "render-landing")[-1].attributes[semconv.CAMPAIGN_MEDIUM] == "cpc"


def test_tampered_cookie_is_rejected_and_counted(
    web: Leadtrace, instrumented: None, metric_reader: InMemoryMetricReader
) -> None:
    """An edited cookie starts a new journey and is counted as forged."""
    client = client_for()
    original = client.get(f"/?{CAMPAIGN_QUERY}").json()["journey_id"]
    client.cookies[COOKIE] = tamper(client.cookies[COOKIE].value)
    response = client.get(f"/?{EMAIL_QUERY}")
    assert response.json()["journey_id"] != original
    assert server_spans(web)[-1].attributes[semconv.CAMPAIGN_COOKIE] == "rejected"
    assert counter_value(metric_reader, "leadtrace.web.rejected", reason="cookie_forged") == 1


def test_a_steady_returning_visit_is_decided_once(
    web: Leadtrace, instrumented: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeated visits with the same cookie and query are served from the remembered
    decision, and their server spans say what the decision in full said."""
    decided = count_full_decisions(monkeypatch)
    assert_steady_visits_remembered(web, client_for().get, decided)


def test_form_post_records_field_names_never_values(web: Leadtrace, instrumented: None) -> None:
    """A form post puts its field names, not values, on the server span."""
    client_for().post("/demo", data={"email": "ada@example.com", "company": "Initech"})
    attrs = server_spans(web)[-1].attributes
    assert sorted(attrs[semconv.FORM_FIELD_NAMES]) == ["company", "email"]
    assert not any("ada@example.com" in str(v) for v in attrs.values())


def test_vendor_call_gets_no_business_context_internal_call_does(
    web: Leadtrace, instrumented: None, vendor: VendorServer, traced_requests: None
) -> None:
    """A vendor call from the view gets no leadtrace header or martech baggage."""
    _vendor.append(vendor)
    response = client_for(UNTRUSTED).get(
        f"/call?{CAMPAIGN_QUERY}", headers={"baggage": "martech.campaign.id=evil,tenant=t1"}
    )
    assert response.status_code == 200
    journey_id = server_spans(web)[-1].attributes[semconv.JOURNEY_ID]
    assert_no_business_context(vendor.last("/vendor"), journey_id)
    assert vendor.last("/vendor").headers.get("baggage") == "tenant=t1"
    assert f"j={journey_id}" in vendor.last("/internal").headers["leadtrace-journey"]


@pytest.mark.parametrize(("query", "headers"), BAD_REQUESTS)
def test_bad_input_never_reaches_the_app(
    web: Leadtrace, instrumented: None, query: str, headers: dict[str, str]
) -> None:
    """Hostile query strings, cookies and headers still give 200 (strict mode)."""
    response = client_for().get(f"/?{query}", headers=headers)
    assert response.status_code == 200
    assert server_spans(web)[-1].attributes[semconv.JOURNEY_ID] == response.json()["journey_id"]


def test_invalid_options_setting_is_a_config_error(web: Leadtrace, settings_override: None) -> None:
    """A LEADTRACE_WEB setting with an unknown option fails loudly at middleware load."""
    with pytest.raises(leadtrace.ConfigError, match="LEADTRACE_WEB"):
        client_for().get("/")


@pytest.fixture
def settings_override() -> Iterator[None]:
    """Set LEADTRACE_WEB to a dict with an unknown option for one test."""
    settings.LEADTRACE_WEB = {"no_such_option": True}
    yield
    del settings.LEADTRACE_WEB


def test_missing_django_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing the integration without Django raises an ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "django.conf", None)
    monkeypatch.delitem(sys.modules, "leadtrace.integrations.django", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'leadtrace\[django\]'"):
        importlib.import_module("leadtrace.integrations.django")


def test_server_span_keeps_no_click_id_address_or_full_user_agent(
    web: Leadtrace, instrumented: None
) -> None:
    """OpenTelemetry's server span exports redacted query values, a /24 and a reduced agent."""
    client_for(VISITOR_ADDRESS).get(f"/?{CLICK_IDS_QUERY}", HTTP_USER_AGENT=VISITOR_USER_AGENT)
    server = assert_visitor_not_exported(web)
    assert "gclid=REDACTED" in server.attributes["http.url"]
    assert server.attributes["net.peer.ip"] == "203.0.113.0"
    assert server.attributes["http.user_agent"] == "Chrome 120 / macOS"


def consent(request: HttpRequest, choice: str) -> JsonResponse:
    """Banner endpoint: reports the visitor's choice to leadtrace."""
    status = "granted" if choice == "accept" else "denied"
    leadtrace.annotate(consent=leadtrace.ConsentState(status=status, source="banner"))
    return JsonResponse({"status": status})


urlpatterns.append(path("consent/<str:choice>", consent))


def test_opt_in_cookie_waits_for_consent_and_reject_deletes_it(
    metric_reader: InMemoryMetricReader,
) -> None:
    """Under ``opt_in``: no cookie on a first visit, one once granted, deleted on a denial."""
    for handle in active_handle(metric_reader, service_name="landing-web"):
        instrumentor = DjangoInstrumentor()
        instrumentor.instrument(tracer_provider=handle.tracer_provider)
        try:
            client = client_for()
            assert COOKIE not in client.get(f"/?{CAMPAIGN_QUERY}").cookies
            assert client.post("/consent/accept").cookies[COOKIE].value.startswith("v1.")
            rejected = client.post("/consent/reject").cookies[COOKIE]
            assert (rejected.value, rejected["max-age"]) == ("", 0)
        finally:
            instrumentor.uninstrument()
