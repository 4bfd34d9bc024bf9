"""Scrubbing safety net: e-mail and phone values never leave in spans or log lines."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import leadtrace
from _metrics import counter_points
from leadtrace import _sdk, semconv
from leadtrace._runtime import Leadtrace
from leadtrace.logging import scrub_event_dict
from leadtrace.privacy import identity
from leadtrace.scrubbing import ScrubbingSpanProcessor, scrub_text, scrub_value

KEY = b"k" * 48
MARKER = semconv.REDACTED_MARKER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ada@example.com", MARKER),
        ("Contact: Ada.Lovelace+news@Mail.Example.co.uk.", f"Contact: {MARKER}."),
        ("/signup?email=ada%40example.com&utm_source=x", f"/signup?email={MARKER}&utm_source=x"),
        ("call +1 (555) 010-9999 now", f"call {MARKER} now"),
        ("+4915112345678", MARKER),
        ("0151 1234 5678", MARKER),
        ("555.010.9999", MARKER),
        ("phone=5550109999", f"phone={MARKER}"),
        ('{"mobile": "015112345678"}', f'{{"mobile": "{MARKER}"}}'),
        ("?phone=%2B49%20151%2012345678&a=1", f"?phone={MARKER}&a=1"),
        ("2024-05-01 +49 151 12345678", f"2024-05-01 {MARKER}"),
    ],
)
def test_personal_data_is_replaced_by_the_marker(text: str, expected: str) -> None:
    """E-mail addresses and phone numbers in their common spellings become the marker."""
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15 10:00:00",
        "15.01.2024",
        "192.168.100.200",
        "3.14159265358",
        "record 51234567890",
        "ts=1764151200000",
        "123e4567-e89b-12d3-a456-426614174000",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "L-20260302-0001",
        "amount 12,345,678.90",
        "10:00:00 - 11:30:00",
        "GET /api/v2/contacts/51234567890",
        "hotel 12345678",
    ],
)
def test_ids_dates_and_numbers_are_left_alone(text: str) -> None:
    """Dates, times, IPs, decimals, hex ids, UUIDs and bare record ids are not phones."""
    assert scrub_text(text) is text


def test_scrub_value_reaches_into_sequences_and_mappings() -> None:
    """Strings inside lists, tuples and dicts are scrubbed; other values pass through."""
    value = {"to": ["ada@example.com", 3], "meta": ({"tel": "+44 20 7946 0958"},), "n": 1.5}
    assert scrub_value(value) == {"to": [MARKER, 3], "meta": ({"tel": MARKER},), "n": 1.5}


def test_scrub_value_returns_clean_values_unchanged() -> None:
    """A value without personal data comes back as the very same object."""
    value = {"campaign": ["spring", "google"], "count": 3}
    assert scrub_value(value) is value


IN_PLACE = pytest.mark.skipif(
    not _sdk.PRIVATES, reason="the fast path's caches and in-place rewrite (SDK privates off)"
)


def _provider(**kwargs: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    if _sdk.PRIVATES:
        provider.add_span_processor(ScrubbingSpanProcessor(**kwargs))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:  # only the wrapped form scrubs without the SDK's fields (docs/compatibility.md)
        provider.add_span_processor(
            ScrubbingSpanProcessor(forward_to=SimpleSpanProcessor(exporter), **kwargs)
        )
    return provider, exporter


def _exported_text(span: Any) -> str:
    """Everything an exporter reads from a span, as one string."""
    return json.dumps(
        {
            "name": span.name,
            "status": span.status.description,
            "attributes": dict(span.attributes),
            "events": [dict(e.attributes) for e in span.events],
            "links": [dict(link.attributes or {}) for link in span.links],
        },
        default=str,
    )


def test_third_party_span_is_scrubbed_and_the_keys_listed() -> None:
    """An HTTP client span with an e-mail in its URL exports the marker and martech.redacted."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("requests")
    with tracer.start_as_current_span(
        "GET",
        attributes={
            "url.full": "https://api.vendor.example/v1/lookup?email=ada%40example.com&x=1",
            "http.request.method": "GET",
            "user_agent.original": "curl/8.5",
        },
    ):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes["url.full"] == f"https://api.vendor.example/v1/lookup?email={MARKER}&x=1"
    assert span.attributes["user_agent.original"] == "curl/8.5"
    assert span.attributes[semconv.REDACTED] == ("url.full",)


def test_exception_message_status_and_name_are_scrubbed() -> None:
    """A phone number in an exception reaches neither the event, the status nor the name."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("crm")
    with (
        pytest.raises(ValueError, match="invalid phone"),
        tracer.start_as_current_span("lookup +44 20 7946 0958"),
    ):
        raise ValueError("invalid phone +44 20 7946 0958 for contact")
    (span,) = exporter.get_finished_spans()
    text = _exported_text(span)
    assert "7946" not in text
    (event,) = span.events
    assert event.attributes["exception.message"] == f"invalid phone {MARKER} for contact"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == f"ValueError: invalid phone {MARKER} for contact"
    assert span.name == f"lookup {MARKER}"
    assert set(span.attributes[semconv.REDACTED]) == {
        "exception:exception.message",
        "exception:exception.stacktrace",
        "otel.status_description",
        "otel.span_name",
    }


def test_matched_text_is_never_echoed_anywhere() -> None:
    """After scrubbing, no exported field contains any part of the matched address."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("app")
    span = tracer.start_span("op", attributes={"note": "reply to ada.lovelace@example.com"})
    span.add_event("mail", {"to": "ada.lovelace@example.com"})
    span.set_status(Status(StatusCode.ERROR, "bounce for ada.lovelace@example.com"))
    span.end()
    (exported,) = exporter.get_finished_spans()
    text = _exported_text(exported)
    assert "lovelace" not in text
    assert "example.com" not in text


def test_safe_keys_are_not_scanned() -> None:
    """An allow-listed key keeps its value even if it looks like a phone."""
    provider, exporter = _provider(safe_keys={"order.number"})
    tracer = provider.get_tracer("app")
    tracer.start_span("op", attributes={"order.number": "+49 151 1234 5678"}).end()
    (span,) = exporter.get_finished_spans()
    assert span.attributes["order.number"] == "+49 151 1234 5678"
    assert semconv.REDACTED not in span.attributes


def test_hash_mode_replaces_with_the_identity_hash() -> None:
    """With replacement='hash' an e-mail becomes the same keyed hash identity() produces."""
    provider, exporter = _provider(replacement="hash", key=KEY)
    tracer = provider.get_tracer("app")
    tracer.start_span("op", attributes={"note": "from Ada@Example.com"}).end()
    (span,) = exporter.get_finished_spans()
    expected = identity(email="ada@example.com", key=KEY).email_hash
    assert span.attributes["note"] == f"from [email_hash:{expected}]"


def test_clean_spans_are_left_as_they_were() -> None:
    """A span without personal data keeps its attributes object and gets no redacted key."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("app")
    tracer.start_span("lead_routed", attributes={"url.full": "https://x.internal/a?id=42"}).end()
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes) == {"url.full": "https://x.internal/a?id=42"}


def test_configure_puts_the_scrubber_before_exporters(handle: leadtrace.Leadtrace) -> None:
    """Spans of a configured handle are scrubbed before the in-memory exporter sees them."""
    with handle.tracer.start_as_current_span("op", attributes={"q": "mail ada@example.com"}):
        pass
    (span,) = handle.finished_spans()
    assert span.attributes["q"] == f"mail {MARKER}"


def test_structlog_processor_scrubs_nested_values() -> None:
    """The structlog processor redacts values inside nested structures and lists the keys."""
    event = scrub_event_dict(
        None, "info", {"event": "signup", "form": {"email": "ada@example.com"}, "n": 1}
    )
    assert event == {
        "event": "signup",
        "form": {"email": MARKER},
        "n": 1,
        "redacted": ["form"],
    }


def test_a_shape_whose_value_types_change_is_still_scrubbed() -> None:
    """Spans of one key shape are checked by a plan built from the first; a later span whose
    number turned into an address, or whose text turned into a list, is still scrubbed."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("app")
    tracer.start_span("op", attributes={"n": 1, "tags": "a", "lead.id": "L-1"}).end()
    tracer.start_span(
        "op", attributes={"n": "ada@example.com", "tags": "a", "lead.id": "L-1"}
    ).end()
    tracer.start_span(
        "op", attributes={"n": 2, "tags": ["b", "+49 151 1234 5678"], "lead.id": "L-1"}
    ).end()
    tracer.start_span(
        "op", attributes={"n": 3, "tags": "a", semconv.LEAD_ID: "ada@example.com"}
    ).end()
    first, number, listed, lead = exporter.get_finished_spans()
    assert semconv.REDACTED not in first.attributes
    assert number.attributes["n"] == MARKER
    assert listed.attributes["tags"] == ("b", MARKER)
    assert lead.attributes[semconv.LEAD_ID] == MARKER


def test_personal_data_split_over_two_values_is_not_joined_into_a_match() -> None:
    """Values are checked together for speed, but a number is never assembled from parts of
    two attributes (``phone`` digits in one value, the rest in the next)."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("app")
    attrs = {"a": "+49 151", "b": "1234", "c": "ada@", "d": "example.com"}
    tracer.start_span("op", attributes=attrs).end()
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes) == attrs


@IN_PLACE
def test_spans_that_are_not_sdk_spans_are_scrubbed_too() -> None:
    """A ReadableSpan built by hand (no SDK internals to read fast) takes the public path."""
    from opentelemetry.sdk.trace import ReadableSpan

    span = ReadableSpan(name="op", attributes={"note": "call +49 151 1234 5678"})
    ScrubbingSpanProcessor().on_end(span)
    assert span.attributes["note"] == f"call {MARKER}"


def test_network_addresses_are_left_alone_unless_they_hold_an_address() -> None:
    """An IP address is left alone; an address field holding an e-mail is still redacted."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("asgi")
    tracer.start_span("GET /", attributes={"client.address": "198.51.100.7"}).end()
    tracer.start_span("GET /", attributes={"server.address": "ada@example.com"}).end()
    ip, mail = exporter.get_finished_spans()
    assert dict(ip.attributes) == {"client.address": "198.51.100.7"}
    assert mail.attributes["server.address"] == MARKER


def test_clean_value_caches_never_hold_personal_data() -> None:
    """The caches that let repeated spans skip the pattern pass keep only clean text."""
    from leadtrace import scrubbing

    scrubbing._CLEAN.clear()
    provider, _ = _provider()
    processor = provider._active_span_processor._span_processors[0]
    tracer = provider.get_tracer("app")
    for note in ("ada@example.com", "call +49 151 1234 5678", "plain note", "route /a/b"):
        tracer.start_span("op", attributes={"note": note, "tag": "x"}).end()
        tracer.start_span("op", attributes={"note": note}).end()
    templates = [t.decode() for plan in processor._shapes.values() for t in plan.clean]
    cached = "\n".join([*scrubbing._CLEAN, *templates])
    assert "plain note" in cached
    assert "example.com" not in cached
    assert "1234" not in cached
    assert "0000" not in cached


def test_a_nul_inside_a_value_never_hides_a_match() -> None:
    """Values are joined by NUL for one pass of the rules: a value holding a NUL itself, or
    a phone number under an id key, is still found."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("crm")
    id_side = {"t1": "a", "t2": "b", semconv.LEAD_ID: "phone=5550109999\0x"}
    text_side = {"t1": "a", "t2": "b\0phone=5550109999", semconv.LEAD_ID: "x"}
    tracer.start_span("sync", attributes=id_side).end()
    tracer.start_span("sync", attributes=text_side).end()
    first, second = exporter.get_finished_spans()
    assert first.attributes[semconv.LEAD_ID] == "phone=[redacted]\0x"
    assert second.attributes["t2"] == "b\0phone=[redacted]"
    assert second.attributes[semconv.REDACTED] == ("t2",)


def test_a_clean_span_of_texts_and_ids_is_remembered_whole() -> None:
    """The next span of the shape that differs only in its numbers is settled by the plan's
    own set of templates, ids included; an e-mail address in the id is still found."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("crm")
    processor = provider._active_span_processor._span_processors[0]
    for lead in ("L-1", "L-2"):
        tracer.start_span("sync", attributes={"note": "synced", semconv.LEAD_ID: lead}).end()
    (plan,) = processor._shapes.values()
    assert plan.clean == {b"synced\0L-0"}
    tracer.start_span(
        "sync", attributes={"note": "synced", semconv.LEAD_ID: "jane.doe@example.org"}
    ).end()
    assert exporter.get_finished_spans()[-1].attributes[semconv.LEAD_ID] == "[redacted]"
    assert plan.clean == {b"synced\0L-0"}  # the suspect span was not remembered


def test_a_plan_remembers_a_bounded_number_of_templates() -> None:
    """Hex ids give every span a new template: the plan's set is cleared when full (never
    grows without bound) and an e-mail address in the id is still found."""
    import hashlib

    from leadtrace import scrubbing

    provider, exporter = _provider()
    tracer = provider.get_tracer("crm")
    processor = provider._active_span_processor._span_processors[0]
    for i in range(scrubbing._PLAN_CLEAN_MAX + 10):
        lead = hashlib.sha256(str(i).encode()).hexdigest()[:12]
        tracer.start_span("sync", attributes={"note": "synced", semconv.LEAD_ID: lead}).end()
    (plan,) = processor._shapes.values()
    assert 0 < len(plan.clean) <= scrubbing._PLAN_CLEAN_MAX
    tracer.start_span("sync", attributes={"note": "synced", semconv.LEAD_ID: "a@b.example"}).end()
    assert exporter.get_finished_spans()[-1].attributes[semconv.LEAD_ID] == "[redacted]"


def test_spans_that_differ_only_in_their_numbers_share_one_check() -> None:
    """A clean URL is remembered by its template (digits as 0), never by its ids; a phone
    number in the same URL shape is still found, because its template differs."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("router")
    processor = provider._active_span_processor._span_processors[0]
    for lead in ("L-20260302-000001", "L-20260302-004711"):
        tracer.start_span(
            "assign", attributes={"url.full": f"https://r.internal/a?lead={lead}"}
        ).end()
    (plan,) = processor._shapes.values()
    (template,) = plan.clean
    assert template == b"https://r.internal/a?lead=L-00000000-000000"
    tracer.start_span(
        "assign", attributes={"url.full": "https://r.internal/a?lead=+4915112345678"}
    ).end()
    *_, phone = exporter.get_finished_spans()
    assert phone.attributes["url.full"] == f"https://r.internal/a?lead={MARKER}"


def test_a_double_encoded_address_is_redacted() -> None:
    """``%2540`` decodes to ``%40``: still an e-mail address once decoded twice."""
    provider, exporter = _provider()
    provider.get_tracer("app").start_span(
        "op", attributes={"url.full": "https://x.test/?u=jane.doe%2540example.org"}
    ).end()
    (span,) = exporter.get_finished_spans()
    assert "jane" not in span.attributes["url.full"]
    assert span.attributes[semconv.REDACTED] == ("url.full",)


_PHONE_ALPHABET = "0123456789 +-./()\t=:@%_aelnoptx\u0663é"


@given(
    text=st.text(alphabet=_PHONE_ALPHABET, max_size=40),
    digits=st.permutations("0123456789"),
)
@settings(max_examples=300)
def test_the_phone_verdict_depends_on_digit_positions_not_digit_values(
    text: str, digits: list[str]
) -> None:
    """Why remembering clean texts by template (digits as 0) is exact: swapping digits for
    other digits never changes whether the text looks like it holds a phone number."""
    from leadtrace._pii import suspect_decoded as _suspect_decoded

    swapped = text.translate(str.maketrans("0123456789", "".join(digits)))
    assert _suspect_decoded(swapped) == _suspect_decoded(text)


def test_a_span_named_like_another_is_checked_by_its_own_keys() -> None:
    """Spans of one name are tried against the name's first plan first: a span with as many
    keys, one of them another key holding an address, is still found; a name holding personal
    data is never remembered, so it is redacted every time."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("crm")
    tracer.start_span("sync", attributes={semconv.CRM_SYSTEM: "hubspot", "note": "ok"}).end()
    tracer.start_span("sync", attributes={"contact": "ada@example.com", "note": "ok"}).end()
    tracer.start_span("sync", attributes={semconv.CRM_SYSTEM: "hubspot", "note": "ok"}).end()
    # A name that comes in two shapes (kept side by side): each span checked by its own.
    for contact in ("ok", "+49 151 1234 5678", "ok"):
        tracer.start_span("sync", attributes={"contact": contact}).end()
        tracer.start_span("sync", attributes={semconv.CRM_SYSTEM: "hubspot", "note": "ok"}).end()
    for _ in range(2):
        tracer.start_span("sync ada@example.com", attributes={"note": "ok"}).end()
    first, other_keys, again, *alternating, named, named_again = exporter.get_finished_spans()
    assert semconv.REDACTED not in first.attributes
    assert other_keys.attributes["contact"] == MARKER
    assert other_keys.attributes[semconv.REDACTED] == ("contact",)
    assert dict(again.attributes) == dict(first.attributes)
    assert [dict(span.attributes) for span in alternating[::2]] == [
        {"contact": "ok"},
        {"contact": MARKER, semconv.REDACTED: ("contact",)},
        {"contact": "ok"},
    ]
    assert all(dict(span.attributes) == dict(first.attributes) for span in alternating[1::2])
    assert [named.name, named_again.name] == [f"sync {MARKER}"] * 2


def _recording_processor(calls: list[str]) -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class Recording(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            calls.append(f"start {span.name}")

        def on_end(self, span: Any) -> None:
            calls.append(f"end {span.name} {dict(span.attributes)}")

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            calls.append(f"flush {timeout_millis}")
            return False

        def shutdown(self) -> None:
            calls.append("shutdown")

    return Recording()


def test_a_wrapped_processor_only_ever_sees_scrubbed_spans() -> None:
    """``forward_to``: the exporting processor behind the scrubber receives each span only
    after it is scrubbed (attributes, exception event, status and name)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor(forward_to=SimpleSpanProcessor(exporter)))
    tracer = provider.get_tracer("crm")
    with (
        pytest.raises(ValueError, match="invalid phone"),
        tracer.start_as_current_span(
            "lookup ada@example.com", attributes={"url.full": "https://x.test/?e=ada%40example.com"}
        ),
    ):
        raise ValueError("invalid phone +44 20 7946 0958")
    tracer.start_span("sync", attributes={"note": "clean"}).end()
    dirty, clean = exporter.get_finished_spans()
    text = _exported_text(dirty)
    assert "ada" not in text
    assert "7946" not in text
    assert set(dirty.attributes[semconv.REDACTED]) == {
        "url.full",
        "exception:exception.message",
        "exception:exception.stacktrace",
        "otel.status_description",
        "otel.span_name",
    }
    assert dict(clean.attributes) == {"note": "clean"}


def test_a_wrapped_processor_gets_start_flush_and_shutdown() -> None:
    """The wrapped processor's ``on_start`` is called (before the span ends), and
    ``force_flush`` (with its result) and ``shutdown`` reach it."""
    calls: list[str] = []
    scrubber = ScrubbingSpanProcessor(forward_to=_recording_processor(calls))
    provider = TracerProvider()
    provider.add_span_processor(scrubber)
    provider.get_tracer("app").start_span("op", attributes={"note": "tel +49 151 1234 5678"}).end()
    assert scrubber.force_flush(123) is False
    provider.shutdown()
    assert calls == [
        "start op",
        f"end op {{'note': 'tel {MARKER}', '{semconv.REDACTED}': ('note',)}}",
        "flush 123",
        "shutdown",
    ]


@IN_PLACE
def test_a_wrapped_processor_still_gets_the_span_when_the_check_fails(
    lenient: Leadtrace,
    monkeypatch: pytest.MonkeyPatch,
    metric_reader: InMemoryMetricReader,
) -> None:
    """An internal failure in the check is counted and logged, never costs the span, and
    never lets personal data through: the span is then scrubbed in full."""
    calls: list[str] = []
    scrubber = ScrubbingSpanProcessor(forward_to=_recording_processor(calls))

    class Broken(dict[str, Any]):
        def get(self, *_: object) -> Any:
            raise RuntimeError("scrubber bug")

    monkeypatch.setattr(scrubber, "_named", Broken())
    provider = TracerProvider()
    provider.add_span_processor(scrubber)
    provider.get_tracer("app").start_span("op", attributes={"note": "ok"}).end()
    provider.get_tracer("app").start_span("op", attributes={"note": "tel +44 20 7946 0958"}).end()
    assert calls == [
        "start op",
        "end op {'note': 'ok'}",
        "start op",
        f"end op {{'note': 'tel {MARKER}', '{semconv.REDACTED}': ('note',)}}",
    ]
    points = counter_points(metric_reader, "leadtrace.internal_errors")
    assert points == {
        (("error.type", "RuntimeError"), ("where", "ScrubbingSpanProcessor.on_end")): 2
    }


def test_text_with_a_lone_surrogate_is_checked_like_any_other() -> None:
    """A lone surrogate (undecodable input passed through) cannot be encoded plainly: such a
    span takes the plan's full check, every time, and personal data next to it is found."""
    provider, exporter = _provider()
    tracer = provider.get_tracer("crm")
    for lead in ("L-1", "L-2", "ada@example.com"):
        tracer.start_span("sync", attributes={"note": "caf\udce9", semconv.LEAD_ID: lead}).end()
    first, second, third = exporter.get_finished_spans()
    assert first.attributes["note"] == second.attributes["note"] == "caf\udce9"
    assert semconv.REDACTED not in second.attributes
    assert third.attributes[semconv.LEAD_ID] == MARKER
