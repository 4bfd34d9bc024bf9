"""ASGI middleware under FastAPI with OpenTelemetry's FastAPI instrumentation, via httpx."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from _webtest import (
    CAMPAIGN_QUERY,
    CLICK_IDS_QUERY,
    EMAIL_QUERY,
    UNTRUSTED,
    VISITOR_ADDRESS,
    VISITOR_USER_AGENT,
    VendorServer,
    assert_no_business_context,
    assert_visitor_not_exported,
    call_out,
    counter_value,
    journey_attributes,
    server_spans,
    spans_named,
    tamper,
)
from fastapi import FastAPI, Request
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import leadtrace
from _handles import active_handle
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.integrations.asgi import LeadtraceMiddleware, instrument_fastapi

COOKIE = "leadtrace_touch"


def make_app(handle: Leadtrace, vendor: VendorServer | None = None, **options: Any) -> FastAPI:
    """A landing app with a traced handler, a form endpoint and an outbound call."""
    app = FastAPI()
    tracer = handle.tracer_provider.get_tracer("landing-app")

    @app.get("/")
    async def index() -> dict[str, Any]:
        with tracer.start_as_current_span("render-landing"):
            current = leadtrace.current_journey()
        return {"journey_id": current.journey_id if current else None}

    @app.post("/demo")
    async def demo(request: Request) -> dict[str, int]:
        body = await request.body()
        return {"bytes": len(body)}

    @app.get("/call")
    def call() -> dict[str, str]:
        assert vendor is not None
        call_out(vendor.vendor_url)
        call_out(vendor.internal_url)
        return {"ok": "yes"}

    app.add_middleware(LeadtraceMiddleware, **options)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider
    )
    return app


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def clients() -> AsyncIterator[ClientFactory]:
    """Build httpx clients bound to an ASGI app; all are closed after the test."""
    made: list[httpx.AsyncClient] = []

    def build(app: Any, client_addr: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(client_addr, 51000))
        c = httpx.AsyncClient(transport=transport, base_url="http://landing.test")
        made.append(c)
        return c

    yield build
    for c in made:
        await c.aclose()


async def test_server_and_handler_spans_carry_campaign_and_journey(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """The OTel server span and a span started in the handler both carry campaign + journey."""
    client = clients(make_app(web))
    response = await client.get(f"/?{CAMPAIGN_QUERY}")
    journey_id = response.json()["journey_id"]
    (server,) = server_spans(web)
    (handler,) = spans_named(web, "render-landing")
    for span in (server, handler):
        assert span.attributes[semconv.JOURNEY_ID] == journey_id
        assert span.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"
        assert span.attributes[semconv.CAMPAIGN_CHANNEL] == "paid_search"
        assert span.attributes[semconv.CAMPAIGN_CLICK_ID_TYPE] == "gclid"
        assert span.attributes[semconv.CONSENT_STATUS] == "unknown"
    assert handler.parent.span_id == server.context.span_id


async def test_first_touch_survives_a_second_visit_with_other_utms(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """A later e-mail visit keeps the paid-search first touch and records e-mail as last touch."""
    client = clients(make_app(web))
    first = (await client.get(f"/?{CAMPAIGN_QUERY}")).json()["journey_id"]
    second = (await client.get(f"/?{EMAIL_QUERY}")).json()["journey_id"]
    assert second == first
    later = server_spans(web)[-1].attributes
    assert later[semconv.JOURNEY_ORIGIN] == "cookie"
    assert later[semconv.CAMPAIGN_NAME] == "spring-launch"
    assert later[semconv.CAMPAIGN_TOUCH] == "first"
    assert later[semconv.CAMPAIGN_LAST_NAME] == "november-digest"
    assert later[semconv.CAMPAIGN_LAST_CHANNEL] == "email"
    (handler,) = spans_named(web, "render-landing")[-1:]
    assert handler.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"


async def test_direct_revisit_keeps_last_touch_and_sets_no_cookie(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """A direct revisit continues the journey, keeps the last touch, rewrites no cookie."""
    client = clients(make_app(web))
    await client.get(f"/?{CAMPAIGN_QUERY}")
    response = await client.get("/")
    assert "set-cookie" not in response.headers
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.JOURNEY_ORIGIN] == "cookie"
    assert semconv.CAMPAIGN_LAST_CHANNEL not in attrs  # last touch == first touch


async def test_tampered_cookie_is_rejected_and_counted(
    web: Leadtrace, clients: ClientFactory, metric_reader: InMemoryMetricReader
) -> None:
    """A cookie whose payload was edited starts a new journey and counts as forged."""
    client = clients(make_app(web))
    original = (await client.get(f"/?{CAMPAIGN_QUERY}")).json()["journey_id"]
    forged = tamper(client.cookies[COOKIE])
    client.cookies.clear()
    client.cookies.set(COOKIE, forged, domain="landing.test")
    response = await client.get(f"/?{EMAIL_QUERY}")
    assert response.json()["journey_id"] != original
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.CAMPAIGN_COOKIE] == "rejected"
    assert attrs[semconv.CAMPAIGN_NAME] == "november-digest"
    assert counter_value(metric_reader, "leadtrace.web.rejected", reason="cookie_forged") == 1


async def test_new_journey_emits_session_events_once(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """session_started and campaign_attributed are emitted for the new journey only."""
    client = clients(make_app(web))
    await client.get(f"/?{CAMPAIGN_QUERY}")
    await client.get(f"/?{EMAIL_QUERY}")
    (session,) = spans_named(web, "session_started")
    (attributed,) = spans_named(web, "campaign_attributed")
    assert session.attributes[semconv.SESSION_LANDING_PATH] == "/"
    assert attributed.attributes[semconv.CAMPAIGN_ATTRIBUTION_MODEL] == "first_touch"
    assert attributed.attributes[semconv.CAMPAIGN_RULE_VERSION] == "1"
    assert attributed.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"


async def test_session_events_can_be_switched_off(web: Leadtrace, clients: ClientFactory) -> None:
    """session_events=False emits no session spans."""
    client = clients(make_app(web, session_events=False))
    await client.get(f"/?{CAMPAIGN_QUERY}")
    assert spans_named(web, "session_started") == []


async def test_form_post_records_field_names_never_values(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """A urlencoded form post puts its field names on the server span and no value."""
    client = clients(make_app(web))
    await client.post("/demo", data={"email": "ada@example.com", "company": "Initech"})
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.FORM_FIELD_NAMES] == ("email", "company")
    assert not any("ada@example.com" in str(v) for v in attrs.values())


async def test_multipart_form_post_records_field_names(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """A multipart form post (with a file) records both field names."""
    client = clients(make_app(web))
    await client.post("/demo", data={"email": "ada@example.com"}, files={"cv": ("cv.txt", b"hi")})
    assert server_spans(web)[-1].attributes[semconv.FORM_FIELD_NAMES] == ("email", "cv")


async def test_vendor_call_gets_no_business_context_internal_call_does(
    web: Leadtrace, clients: ClientFactory, vendor: VendorServer, traced_requests: None
) -> None:
    """A vendor call from the handler gets no leadtrace header; an internal service gets it."""
    client = clients(make_app(web, vendor), client_addr=UNTRUSTED)
    response = await client.get(
        f"/call?{CAMPAIGN_QUERY}", headers={"baggage": "martech.campaign.id=evil,tenant=t1"}
    )
    assert response.status_code == 200
    journey_id = server_spans(web)[-1].attributes[semconv.JOURNEY_ID]
    vendor_call = vendor.last("/vendor")
    assert_no_business_context(vendor_call, journey_id)
    assert "traceparent" in vendor_call.headers
    assert vendor_call.headers.get("baggage") == "tenant=t1"
    internal = vendor.last("/internal")
    assert f"j={journey_id}" in internal.headers["leadtrace-journey"]
    client_span = next(s for s in spans_named(web, "GET") if "/vendor" in str(s.attributes))
    assert client_span.attributes[semconv.JOURNEY_ID] == journey_id


async def test_journey_header_from_trusted_client_is_continued(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """A leadtrace-journey header from 127.0.0.1 continues that journey."""
    client = clients(make_app(web))
    header = "v=1;j=upstream-journey-1;t=1764151200000;c=spring-launch;ch=email;cs=granted;s=1"
    response = await client.get("/", headers={"leadtrace-journey": header})
    assert response.json()["journey_id"] == "upstream-journey-1"
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.JOURNEY_ORIGIN] == "header"
    assert attrs[semconv.JOURNEY_SYNTHETIC] is True
    assert "set-cookie" not in response.headers


async def test_journey_header_from_public_client_is_ignored_and_counted(
    web: Leadtrace, clients: ClientFactory, metric_reader: InMemoryMetricReader
) -> None:
    """A leadtrace-journey header from a public address is ignored and counted."""
    client = clients(make_app(web), client_addr=UNTRUSTED)
    header = "v=1;j=forged-journey;t=1764151200000;cs=granted;s=1"
    response = await client.get("/", headers={"leadtrace-journey": header})
    assert response.json()["journey_id"] != "forged-journey"
    assert semconv.JOURNEY_SYNTHETIC not in server_spans(web)[-1].attributes
    reason = "untrusted_journey_header"
    assert counter_value(metric_reader, "leadtrace.web.rejected", reason=reason) == 1


async def test_gpc_request_sets_no_cookie(web: Leadtrace, clients: ClientFactory) -> None:
    """With Sec-GPC: 1 no attribution cookie is written and the span says so."""
    client = clients(make_app(web))
    response = await client.get(f"/?{CAMPAIGN_QUERY}", headers={"SEC-gpc": "1"})
    assert "set-cookie" not in response.headers
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.CAMPAIGN_COOKIE] == "none"
    assert attrs[semconv.CONSENT_GPC] is True


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/?" + "utm_source=" + "x" * 60_000, {}),
        ("/?utm_source=a&utm_source=b&utm_source=c&" + "&".join(["k=v"] * 5000), {}),
        ("/?utm_source=%FF%FE%00bad&utm_campaign=%E2%82", {}),
        ("/", {"cookie": f"{COOKIE}=" + "A" * 10_000}),
        ("/", {"cookie": f'{COOKIE}="v1..."; ;;=; euconsent-v2=%%%'}),
        ("/", {"cookie": "euconsent-v2=CPc3eAAPc3eAAAHABBENC-not-a-tcf-string"}),
        ("/", {"ReFeReR": "http://[::1/broken", "SEC-GPC": "yes"}),
        ("/", {"leadtrace-journey": "v=1;j=" + "x" * 5000}),
    ],
)
async def test_bad_input_never_reaches_the_app(
    web: Leadtrace, clients: ClientFactory, path: str, headers: dict[str, str]
) -> None:
    """Hostile query strings, cookies and headers still give 200 and a bounded journey (strict)."""
    client = clients(make_app(web))
    response = await client.get(path, headers=headers)
    assert response.status_code == 200
    attrs = server_spans(web)[-1].attributes
    assert attrs[semconv.JOURNEY_ID] == response.json()["journey_id"]
    assert all(len(str(v)) <= 1024 for k, v in attrs.items() if k.startswith("martech."))


async def test_non_utf8_query_bytes_are_replaced(web: Leadtrace, clients: ClientFactory) -> None:
    """Raw non-UTF-8 bytes in a UTM value become replacement characters, not errors.

    OpenTelemetry's ASGI middleware (0.66b1) itself raises UnicodeDecodeError on such a
    scope, so the bytes are injected between it and leadtrace's middleware.
    """
    tracer = web.tracer_provider.get_tracer("landing-app")

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        current = leadtrace.current_journey()
        assert current is not None
        assert current.campaign is not None
        body = (current.campaign.source or "").encode("utf-8")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    middleware = LeadtraceMiddleware(inner)

    async def raw_query(scope: dict[str, Any], receive: Any, send: Any) -> None:
        with tracer.start_as_current_span("server"):
            scope = {**scope, "query_string": b"utm_source=caf\xe9&utm_medium=cpc"}
            await middleware(scope, receive, send)

    response = await clients(raw_query).get("/")
    assert response.text == "caf\ufffd"
    assert spans_named(web, "server")[0].attributes[semconv.CAMPAIGN_SOURCE] == "caf\ufffd"


async def test_non_recording_server_span_still_gets_a_journey(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """With sampling off the handler still runs inside a journey and the cookie is set."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    app = FastAPI()

    @app.get("/")
    async def index() -> dict[str, Any]:
        current = leadtrace.current_journey()
        return {"journey_id": current.journey_id if current else None}

    app.add_middleware(LeadtraceMiddleware)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    response = await clients(app).get(f"/?{CAMPAIGN_QUERY}")
    assert response.json()["journey_id"] is not None
    assert COOKIE in response.headers["set-cookie"]


async def test_without_opentelemetry_the_middleware_still_works(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """Without any OTel instrumentation, handler spans and emits still carry the journey."""
    app = FastAPI()
    tracer = web.tracer_provider.get_tracer("landing-app")

    @app.get("/")
    async def index() -> dict[str, str]:
        with tracer.start_as_current_span("render-landing"):
            return {"ok": "yes"}

    app.add_middleware(LeadtraceMiddleware)
    await clients(app).get(f"/?{CAMPAIGN_QUERY}")
    (handler,) = spans_named(web, "render-landing")
    assert handler.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"


async def test_instrument_fastapi_does_both_steps(web: Leadtrace, clients: ClientFactory) -> None:
    """instrument_fastapi() gives a server span carrying the journey."""
    app = FastAPI()

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"ok": "yes"}

    instrument_fastapi(app, session_events=False)
    await clients(app).get(f"/?{CAMPAIGN_QUERY}")
    (server,) = server_spans(web)
    assert server.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"


async def test_lenient_internal_failure_lets_the_request_through(
    lenient: Leadtrace,
    clients: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If leadtrace itself fails in lenient mode, the app answers and the error is counted."""
    app = make_app(lenient)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("leadtrace.integrations._web.touches", broken)
    with caplog.at_level(logging.WARNING, logger="leadtrace"):
        response = await clients(app).get(f"/?{CAMPAIGN_QUERY}")
    assert response.status_code == 200
    assert response.json()["journey_id"] is None
    assert "web.begin" in caplog.text


async def test_consent_given_in_the_handler_reaches_the_server_span(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """annotate(consent=...) in the handler replaces the request's initial 'unknown'."""
    app = FastAPI()

    @app.post("/consent")
    async def give_consent() -> dict[str, str]:
        leadtrace.annotate(
            consent=leadtrace.ConsentState(status="granted", purposes=frozenset({"analytics"}))
        )
        return {"ok": "yes"}

    app.add_middleware(LeadtraceMiddleware)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=web.tracer_provider)
    await clients(app).post(f"/consent?{CAMPAIGN_QUERY}")
    (server,) = server_spans(web)
    assert server.attributes[semconv.CONSENT_STATUS] == "granted"
    assert server.attributes[semconv.CAMPAIGN_CHANNEL] == "paid_search"


def _steady(app: FastAPI) -> dict[Any, Any]:
    """The decisions the app's LeadtraceMiddleware remembered."""
    middleware: Any = app.middleware_stack
    while not isinstance(middleware, LeadtraceMiddleware):
        middleware = middleware.app
    return middleware.journeys._steady


async def test_a_steady_returning_visit_is_decided_once_and_described_the_same(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """A returning visitor's repeated request is served from the remembered decision: its
    server span says exactly what the first computed; a changed input is decided afresh."""
    app = make_app(web)
    client = clients(app)
    first = (await client.get(f"/?{CAMPAIGN_QUERY}")).json()["journey_id"]
    assert not _steady(app)  # a new journey is never remembered
    await client.get(f"/?{CAMPAIGN_QUERY}")  # decided in full, remembered
    assert len(_steady(app)) == 1
    await client.get(f"/?{CAMPAIGN_QUERY}")  # remembered
    computed, remembered = (journey_attributes(s) for s in server_spans(web)[1:])
    assert remembered == computed
    assert remembered[semconv.JOURNEY_ID] == first
    assert remembered[semconv.JOURNEY_ORIGIN] == "cookie"

    response = await client.get(f"/?{EMAIL_QUERY}")  # a new last touch: not remembered
    assert "set-cookie" in response.headers
    assert server_spans(web)[-1].attributes[semconv.CAMPAIGN_LAST_NAME] == "november-digest"


async def test_a_visit_with_personal_data_in_its_referrer_is_not_remembered(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """The remembered decisions are keyed by raw inputs, so one whose referrer URL holds an
    e-mail address is never remembered (the memory never keeps personal data)."""
    app = make_app(web)
    client = clients(app)
    referrer = {"referer": "https://mail.example.net/read?from=jane.doe%40example.org"}
    for _ in range(3):
        await client.get(f"/?{CAMPAIGN_QUERY}", headers=referrer)
    assert server_spans(web)[-1].attributes[semconv.JOURNEY_ORIGIN] == "cookie"
    assert not _steady(app)
    await client.get(f"/?{CAMPAIGN_QUERY}")
    await client.get(f"/?{CAMPAIGN_QUERY}")
    assert len(_steady(app)) == 1


async def test_rejected_input_is_decided_and_counted_on_every_request(
    web: Leadtrace, clients: ClientFactory, metric_reader: InMemoryMetricReader
) -> None:
    """A forged cookie is never remembered: each request with it is rejected and counted."""
    client = clients(make_app(web))
    await client.get(f"/?{CAMPAIGN_QUERY}")
    forged = tamper(client.cookies[COOKIE])
    for _ in range(3):
        client.cookies.clear()
        client.cookies.set(COOKIE, forged, domain="landing.test")
        await client.get(f"/?{CAMPAIGN_QUERY}")
    assert counter_value(metric_reader, "leadtrace.web.rejected", reason="cookie_forged") == 3


async def test_a_visit_with_personal_data_in_its_query_is_not_remembered(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """The remembered decisions never hold an e-mail address a visitor put in a UTM value."""
    app = make_app(web)
    client = clients(app)
    query = "utm_source=jane.doe%40example.org&utm_medium=email&utm_campaign=x"
    for _ in range(3):
        await client.get(f"/?{query}")
    assert server_spans(web)[-1].attributes[semconv.JOURNEY_ORIGIN] == "cookie"
    assert not _steady(app)


async def test_server_span_keeps_no_click_id_address_or_full_user_agent(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """OpenTelemetry's server span exports redacted query values, a /24 and a reduced agent."""
    client = clients(make_app(web), client_addr=VISITOR_ADDRESS)
    await client.get(f"/?{CLICK_IDS_QUERY}", headers={"user-agent": VISITOR_USER_AGENT})
    server = assert_visitor_not_exported(web)
    assert server.attributes["http.url"] == (
        "http://landing.test/?utm_source=google&utm_campaign=spring-launch&gclid=REDACTED"
        "&fbclid=REDACTED&msclkid=REDACTED&li_fat_id=REDACTED&gbraid=REDACTED"
        "&wbraid=REDACTED&ttclid=REDACTED&ref=REDACTED"
    )
    assert server.attributes["net.peer.ip"] == "203.0.113.0"
    assert server.attributes["http.user_agent"] == "Chrome 120 / macOS"


async def test_visitor_attributes_kept_when_configured(
    metric_reader: InMemoryMetricReader, clients: ClientFactory
) -> None:
    """``url_query=keep``, ``client_address=keep``, ``user_agent=keep`` leave them as sent."""
    for handle in active_handle(
        metric_reader, url_query="keep", client_address="keep", user_agent="keep"
    ):
        client = clients(make_app(handle), client_addr=VISITOR_ADDRESS)
        await client.get(f"/?{CLICK_IDS_QUERY}", headers={"user-agent": VISITOR_USER_AGENT})
        (server,) = server_spans(handle)
        assert server.attributes["http.url"] == f"http://landing.test/?{CLICK_IDS_QUERY}"
        assert server.attributes["net.peer.ip"] == VISITOR_ADDRESS
        assert server.attributes["http.user_agent"] == VISITOR_USER_AGENT


PLAIN_UTM_QUERY = "utm_source=newsletter&utm_medium=email&utm_campaign=november-digest"
"""An ordinary campaign link: source, medium and campaign name, no ``utm_id``."""


def lead_app(handle: Leadtrace) -> FastAPI:
    """An app whose form post takes a lead from submission to the CRM write."""
    app = FastAPI()
    granted = leadtrace.ConsentState(
        status="granted", purposes=frozenset({"marketing"}), basis="consent", source="form"
    )

    @app.post("/demo")
    async def demo() -> dict[str, str]:
        leadtrace.annotate(consent=granted)
        leadtrace.emit("form_submitted", form_id="demo", field_names=("email",))
        leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="R-1", owner_id="U-1")
        leadtrace.emit(
            "crm_updated", crm_system="hubspot", crm_object="contact", record_id="C-1",
            operation="create", lead_id="L-1", lead_score=40.0, routing_rule_id="R-1",
        )  # fmt: skip
        return {"ok": "yes"}

    app.add_middleware(LeadtraceMiddleware)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider
    )
    return app


async def test_plain_utm_link_makes_a_complete_lead(web: Leadtrace, clients: ClientFactory) -> None:
    """Without ``utm_id`` the campaign id comes from ``utm_campaign``: no contract violation."""
    await clients(lead_app(web)).post(f"/demo?{PLAIN_UTM_QUERY}", data={"email": "x"})
    stages = ["form_submitted", "lead_created", "lead_routed", "crm_updated"]
    for name in stages:
        (span,) = spans_named(web, name)
        assert span.attributes[semconv.CAMPAIGN_ID] == "november-digest", name
        assert span.attributes[semconv.CAMPAIGN_ID_SOURCE] == "utm_campaign", name
        assert semconv.QUALITY_MISSING not in span.attributes, name
        assert span.attributes.get(semconv.QUALITY_VALID, True) is True, name


async def test_utm_id_wins_and_the_source_is_configurable(clients: ClientFactory) -> None:
    """``utm_id`` is preferred by default; ``campaign_id_params`` changes the order."""
    query = f"{PLAIN_UTM_QUERY}&utm_id=nd-26"
    for params, expected in (
        (None, ("nd-26", "utm_id")),
        (["utm_campaign", "utm_id"], ("november-digest", "utm_campaign")),
    ):
        for handle in active_handle(InMemoryMetricReader(), campaign_id_params=params):
            await clients(lead_app(handle)).post(f"/demo?{query}", data={"email": "x"})
            (span,) = spans_named(handle, "lead_created")
            attrs = span.attributes
            assert expected == (attrs[semconv.CAMPAIGN_ID], attrs[semconv.CAMPAIGN_ID_SOURCE])


def test_campaign_id_params_outside_utm_are_refused() -> None:
    """A campaign id parameter the integrations never read is a setup error naming it."""
    for _ in active_handle(InMemoryMetricReader(), campaign_id_params=["cid"]):
        with pytest.raises(leadtrace.ConfigError, match=r"campaign_id_params.*\['cid'\]"):
            LeadtraceMiddleware(FastAPI())


def consent_app(handle: Leadtrace) -> FastAPI:
    """A page and a banner endpoint whose choice the handler passes to ``annotate()``."""
    app = FastAPI()

    @app.get("/")
    async def index() -> dict[str, Any]:
        current = leadtrace.current_journey()
        assert current is not None
        return {"journey_id": current.journey_id, "campaign": current.campaign.name}

    @app.post("/consent")
    async def consent(request: Request) -> dict[str, str]:
        choice = (await request.body()).decode()
        status = "granted" if choice == "choice=accept" else "denied"
        leadtrace.annotate(consent=leadtrace.ConsentState(status=status, source="banner"))
        return {"status": status}

    app.add_middleware(LeadtraceMiddleware)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider
    )
    return app


@pytest.fixture
def opt_in(metric_reader: InMemoryMetricReader) -> Any:
    """A local handle under the default consent policy (``opt_in``)."""
    yield from active_handle(metric_reader, service_name="landing-web")


async def test_opt_in_writes_no_cookie_before_consent(
    opt_in: Leadtrace, clients: ClientFactory
) -> None:
    """A first visit with UTMs and no consent decision gets no cookie (and says so)."""
    response = await clients(consent_app(opt_in)).get(f"/?{CAMPAIGN_QUERY}")
    assert "set-cookie" not in response.headers
    (server,) = server_spans(opt_in)
    assert server.attributes[semconv.CAMPAIGN_COOKIE] == semconv.COOKIE_WITHHELD


async def test_opt_in_accept_keeps_the_landing_touch(
    opt_in: Leadtrace, clients: ClientFactory
) -> None:
    """Accept, posted from the landing page, writes the cookie with the landing's first touch."""
    client = clients(consent_app(opt_in))
    landing = f"http://landing.test/?{CAMPAIGN_QUERY}"
    await client.get(landing)
    accepted = await client.post("/consent", content="choice=accept", headers={"referer": landing})
    assert COOKIE in accepted.cookies
    again = (await client.get("/")).json()
    assert again["campaign"] == "spring-launch"
    assert server_spans(opt_in)[-1].attributes[semconv.JOURNEY_ORIGIN] == "cookie"


async def test_reject_deletes_the_cookie_and_its_journey_ends(
    opt_in: Leadtrace, clients: ClientFactory
) -> None:
    """Reject after Accept deletes the cookie; the next visit starts a new journey."""
    client = clients(consent_app(opt_in))
    await client.post("/consent", content="choice=accept")
    first = (await client.get(f"/?{CAMPAIGN_QUERY}")).json()["journey_id"]
    rejected = await client.post("/consent", content="choice=reject")
    assert rejected.headers["set-cookie"].startswith(f"{COOKIE}=;")
    assert "Max-Age=0" in rejected.headers["set-cookie"]
    assert server_spans(opt_in)[-1].attributes[semconv.CAMPAIGN_COOKIE] == "deleted"
    assert COOKIE not in client.cookies
    assert (await client.get("/")).json()["journey_id"] != first


async def test_gpc_ignores_and_deletes_an_existing_cookie(
    opt_in: Leadtrace, clients: ClientFactory
) -> None:
    """With ``Sec-GPC: 1`` no journey continues from the cookie, and the cookie is deleted."""
    client = clients(consent_app(opt_in))
    await client.post("/consent", content="choice=accept")
    first = (await client.get("/")).json()["journey_id"]
    response = await client.get("/", headers={"sec-gpc": "1"})
    assert response.json()["journey_id"] != first
    assert "Max-Age=0" in response.headers["set-cookie"]


def _asgi_event_spans(handle: Leadtrace) -> list[Any]:
    return [s for s in handle.finished_spans() if s.name.endswith((" http send", " http receive"))]


async def test_asgi_message_spans_carry_only_the_journey_id(
    web: Leadtrace, clients: ClientFactory
) -> None:
    """OpenTelemetry's per-message send/receive spans get the journey id, not every attribute."""
    response = await clients(make_app(web)).get(f"/?{CAMPAIGN_QUERY}")
    journey_id = response.json()["journey_id"]
    events = _asgi_event_spans(web)
    assert len(events) >= 2
    for span in events:
        assert {semconv.JOURNEY_ID: journey_id} == journey_attributes(span)


async def test_asgi_message_spans_carry_everything_when_asked(clients: ClientFactory) -> None:
    """``asgi_event_context=full`` puts every journey attribute on the send/receive spans."""
    for handle in active_handle(InMemoryMetricReader(), asgi_event_context="full"):
        await clients(make_app(handle)).get(f"/?{CAMPAIGN_QUERY}")
        for span in _asgi_event_spans(handle):
            assert span.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"
