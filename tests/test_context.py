"""Journeys: one context value, copied onto every span, no leaks, and cross-process carriers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context

import leadtrace
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.context import HEADER, attach_journey, detach_journey, parse_header

CAMPAIGN = leadtrace.Campaign(id="spring", source="google", medium="cpc", channel="paid_search")
GRANTED = leadtrace.ConsentState(status="granted", purposes=frozenset({"analytics"}))


def _other_span(handle: Leadtrace, name: str = "GET /vendor") -> None:
    """A span from another instrumentation (not leadtrace's tracer)."""
    with handle.tracer_provider.get_tracer(
        "opentelemetry.instrumentation.requests"
    ).start_as_current_span(name):
        pass


def _span(handle: Leadtrace, name: str) -> dict[str, object]:
    spans = [s for s in handle.finished_spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in handle.finished_spans()]
    return dict(spans[0].attributes or {})


def test_business_context_reaches_spans_of_other_instrumentations(handle: Leadtrace) -> None:
    """A span from any tracer inside a journey carries journey id, campaign and consent."""
    with leadtrace.journey(campaign=CAMPAIGN, consent=GRANTED) as j:
        _other_span(handle)
    attrs = _span(handle, "GET /vendor")
    assert attrs[semconv.JOURNEY_ID] == j.journey_id
    assert attrs[semconv.CAMPAIGN_ID] == "spring"
    assert attrs[semconv.CAMPAIGN_CHANNEL] == "paid_search"
    assert attrs[semconv.CONSENT_STATUS] == "granted"
    assert attrs[semconv.JOURNEY_STARTED_AT] == j.started_at.isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")


def test_processor_fills_only_missing_keys(handle: Leadtrace) -> None:
    """An attribute the span already has is not overwritten by the journey's value."""
    with leadtrace.journey(campaign=CAMPAIGN):
        tracer = handle.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("s", attributes={semconv.CAMPAIGN_ID: "explicit"}):
            pass
    assert _span(handle, "s")[semconv.CAMPAIGN_ID] == "explicit"


def test_spans_outside_a_journey_get_nothing(handle: Leadtrace) -> None:
    """No journey, no martech attributes."""
    _other_span(handle)
    assert not [k for k in _span(handle, "GET /vendor") if k.startswith("martech.")]


def test_journey_is_not_baggage(handle: Leadtrace) -> None:
    """Business context is one context value: nothing is put into W3C baggage."""
    with leadtrace.journey(campaign=CAMPAIGN):
        assert baggage.get_all() == {}


def test_nested_journey_continues_and_overrides(handle: Leadtrace) -> None:
    """A nested journey() without an id continues the outer one, overriding what it passes."""
    with leadtrace.journey(campaign=CAMPAIGN) as outer:
        with leadtrace.journey(consent=GRANTED) as inner:
            assert inner.journey_id == outer.journey_id
            assert inner.campaign == CAMPAIGN
            assert inner.consent == GRANTED
        assert leadtrace.current_journey() == outer
        with leadtrace.journey(new=True) as fresh:
            assert fresh.journey_id != outer.journey_id
    assert leadtrace.current_journey() is None


def test_annotate_updates_later_spans_only(handle: Leadtrace) -> None:
    """annotate() changes the journey for spans started after it."""
    with leadtrace.journey():
        _other_span(handle, "before")
        leadtrace.annotate(campaign=CAMPAIGN)
        _other_span(handle, "after")
    assert semconv.CAMPAIGN_ID not in _span(handle, "before")
    assert _span(handle, "after")[semconv.CAMPAIGN_ID] == "spring"
    assert leadtrace.annotate(campaign=CAMPAIGN) is None


def test_annotate_keeps_the_entry_span_in_step(handle: Leadtrace) -> None:
    """A journey attached with its entry span (a web request's server span): annotate()
    also puts what changed on that span while it records, and leaves it alone once ended."""
    tracer = handle.tracer_provider.get_tracer("opentelemetry.instrumentation.asgi")
    server = tracer.start_span("GET /demo")
    start = datetime(2026, 11, 26, tzinfo=timezone.utc)
    token = attach_journey(leadtrace.BusinessContext(journey_id="j-1", started_at=start), server)
    try:
        assert leadtrace.current_journey().journey_id == "j-1"  # type: ignore[union-attr]
        leadtrace.annotate(consent=GRANTED)
        server.end()
        leadtrace.annotate(campaign=CAMPAIGN)  # the span has ended: no error, no change
    finally:
        detach_journey(token)
    assert leadtrace.current_journey() is None
    attributes = _span(handle, "GET /demo")
    assert attributes[semconv.CONSENT_STATUS] == "granted"
    assert semconv.CAMPAIGN_ID not in attributes


def test_identity_dropped_without_analytics_consent(handle: Leadtrace) -> None:
    """Identity keys are exported only with analytics consent; otherwise the span says why."""
    ident = leadtrace.IdentityKeys(email_hash="ab" * 32, contact_id="C-1")
    with leadtrace.journey(identity=ident, consent=leadtrace.ConsentState(status="denied")):
        _other_span(handle, "denied")
    with leadtrace.journey(identity=ident, consent=GRANTED):
        _other_span(handle, "granted")
    denied = _span(handle, "denied")
    assert semconv.IDENTITY_EMAIL_HASH not in denied
    assert semconv.IDENTITY_CONTACT_ID not in denied
    assert (
        denied[semconv.CONSENT_DROPPED_REASON] == "analytics consent denied: identity keys dropped"
    )
    assert _span(handle, "granted")[semconv.IDENTITY_EMAIL_HASH] == "ab" * 32


def test_decorator_gives_each_call_its_own_journey(handle: Leadtrace) -> None:
    """@journey() on a sync function starts a fresh journey per call."""

    @leadtrace.journey(campaign=CAMPAIGN)
    def handle_request() -> str:
        current = leadtrace.current_journey()
        assert current is not None
        return current.journey_id

    first, second = handle_request(), handle_request()
    assert first != second
    assert leadtrace.current_journey() is None


async def test_decorator_on_coroutines(handle: Leadtrace) -> None:
    """@journey() on an async function scopes the journey to the call."""

    @leadtrace.journey(synthetic=True)
    async def work() -> bool:
        await asyncio.sleep(0)
        current = leadtrace.current_journey()
        return current is not None and current.synthetic

    assert await work()
    assert leadtrace.current_journey() is None


def test_decorator_on_generators_keeps_context_out_of_the_caller(handle: Leadtrace) -> None:
    """A generator sees its journey at every step; the caller never does between steps."""

    @leadtrace.journey()
    def pages() -> Iterator[str]:
        for _ in range(3):
            current = leadtrace.current_journey()
            assert current is not None
            yield current.journey_id

    seen = []
    for journey_id in pages():
        assert leadtrace.current_journey() is None
        seen.append(journey_id)
    assert len(set(seen)) == 1


async def test_decorator_on_async_generators(handle: Leadtrace) -> None:
    """An async generator keeps one journey across steps and leaks none to the caller."""

    @leadtrace.journey()
    async def stream() -> AsyncIterator[str]:
        for _ in range(3):
            await asyncio.sleep(0)
            current = leadtrace.current_journey()
            assert current is not None
            yield current.journey_id

    seen = []
    async for journey_id in stream():
        assert leadtrace.current_journey() is None
        seen.append(journey_id)
    assert len(set(seen)) == 1


def test_sequential_requests_on_one_thread_do_not_leak(handle: Leadtrace) -> None:
    """Two requests handled one after the other on the same thread never share context."""
    ids = []
    for campaign_id in ("first", "second"):
        with leadtrace.journey(campaign=leadtrace.Campaign(id=campaign_id)) as j:
            ids.append(j.journey_id)
            _other_span(handle, campaign_id)
        assert leadtrace.current_journey() is None
    assert _span(handle, "second")[semconv.CAMPAIGN_ID] == "second"
    assert _span(handle, "second")[semconv.JOURNEY_ID] == ids[1]
    assert ids[0] != ids[1]


async def test_thousand_interleaved_tasks_never_see_each_other(handle: Leadtrace) -> None:
    """1,000 asyncio tasks interleaving at awaits each keep their own journey."""
    rng = random.Random(7)

    async def request(n: int) -> bool:
        with leadtrace.journey(campaign=leadtrace.Campaign(id=f"c{n}")) as mine:
            for _ in range(3):
                await asyncio.sleep(rng.random() / 1000)
                current = leadtrace.current_journey()
                if current is None or current.journey_id != mine.journey_id:
                    return False
                if current.campaign is None or current.campaign.id != f"c{n}":
                    return False
        return leadtrace.current_journey() is None

    results = await asyncio.gather(*(request(n) for n in range(1000)))
    assert all(results)
    assert leadtrace.current_journey() is None


def test_context_attach_detach_is_balanced(handle: Leadtrace) -> None:
    """After a journey ends the OTel context is exactly the one before it."""
    before = otel_context.get_current()
    with leadtrace.journey():
        pass
    assert otel_context.get_current() == before


def test_inject_extract_round_trip(handle: Leadtrace) -> None:
    """inject() writes one allow-listed header; extract() rebuilds the journey from it."""
    started = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
    carrier: dict[str, str] = {}
    ident = leadtrace.IdentityKeys(email_hash="ff" * 32)
    with leadtrace.journey(
        campaign=CAMPAIGN, consent=GRANTED, identity=ident, synthetic=True, started_at=started
    ) as j:
        assert leadtrace.inject(carrier)
    assert j.origin is not None
    origin = f"{j.origin.trace_id:032x}-{j.origin.span_id:016x}"
    assert carrier == {
        HEADER: f"v=1;j={j.journey_id};t=1795687200000;c=spring;so=google;me=cpc;"
        f"ch=paid_search;cs=granted;cp=analytics;s=1;o={origin}"
    }
    got = leadtrace.extract({HEADER.upper(): carrier[HEADER]})
    assert got is not None
    assert (got.journey_id, got.started_at, got.synthetic) == (j.journey_id, started, True)
    assert got.campaign == CAMPAIGN
    assert got.consent is not None
    assert got.consent.status == "granted"
    assert got.consent.purposes == {"analytics"}
    assert got.identity is None


def test_extracted_context_continues_the_journey(handle: Leadtrace) -> None:
    """A worker continuing an extracted context tags its spans with the same journey id."""
    carrier: dict[str, str] = {}
    with leadtrace.journey(campaign=CAMPAIGN) as j:
        leadtrace.inject(carrier)
    with leadtrace.journey(parent=leadtrace.extract(carrier)):
        _other_span(handle, "worker")
    assert _span(handle, "worker")[semconv.JOURNEY_ID] == j.journey_id


def test_inject_respects_host_allow_list(handle: Leadtrace) -> None:
    """With a URL, only hosts in propagate_to receive the header (vendors never do)."""
    with leadtrace.journey():
        internal: dict[str, str] = {}
        vendor: dict[str, str] = {}
        assert leadtrace.inject(internal, url="http://127.0.0.1:8080/leads")
        assert not leadtrace.inject(vendor, url="https://api.hubapi.com/crm/v3/objects/contacts")
    assert HEADER in internal
    assert vendor == {}


def test_inject_outside_journey_writes_nothing(handle: Leadtrace) -> None:
    """No journey, no header."""
    carrier: dict[str, str] = {}
    assert not leadtrace.inject(carrier)
    assert carrier == {}


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "v=1;t=123",
        "v=1;j=<script>",
        "v=1;j=" + "a" * 2000,
        "v=1;j=ok;t=notanumber;cs=maybe;ch=tv",
        "\x00\xff;;;==;j=",
    ],
)
def test_malformed_headers_never_raise(value: str) -> None:
    """Malformed or hostile header values yield None or a sanitised context, never an error."""
    result = parse_header(value)
    if result is not None:
        assert result.journey_id == "ok"
        assert result.campaign is None
        assert result.consent is None


def test_extract_accepts_bytes_and_lists() -> None:
    """Header values given as bytes or lists (as some frameworks do) are understood."""
    assert leadtrace.extract({HEADER: [b"v=1;j=abc"]}) is None
    got = leadtrace.extract({HEADER: b"v=1;j=abc"})
    assert got is not None
    assert got.journey_id == "abc"


def test_one_journey_object_shared_by_threads_never_leaks(handle: Leadtrace) -> None:
    """A module-level journey(...) entered by two threads, exits interleaved, restores both."""
    import threading

    shared = leadtrace.journey(campaign=CAMPAIGN)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    after: dict[str, object] = {}

    def first() -> None:
        with shared:
            first_in.set()
            second_in.wait(timeout=5)
        after["first"] = leadtrace.current_journey()
        first_out.set()

    def second() -> None:
        first_in.wait(timeout=5)
        with shared:
            second_in.set()
            first_out.wait(timeout=5)  # the first thread leaves while this one is inside
        after["second"] = leadtrace.current_journey()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert after == {"first": None, "second": None}
