"""Wrong types at the API boundary: strict mode names the argument, the type given and the
type expected; lenient mode counts the mistake and the app carries on without that part."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import leadtrace
from _handles import event_spans
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.consent import ConsentState
from leadtrace.errors import ArgumentTypeError, ConfigError, LeadtraceError
from leadtrace.testing import OTLPReceiver

SURROGATE = "jane\udcff@example.org"


def _any(value: object) -> Any:
    """``value`` typed as Any: the calls below pass wrong types on purpose."""
    return value


CALLS: list[tuple[str, Callable[[], Any], str]] = [
    (
        "journey(campaign=...) got str, expected Campaign",
        lambda: leadtrace.journey(campaign=_any("spring")),
        "journey.campaign",
    ),
    (
        "journey(consent=...) got dict, expected ConsentState",
        lambda: leadtrace.journey(consent=_any({"status": "granted"})),
        "journey.consent",
    ),
    (
        "journey(identity=...) got str, expected IdentityKeys",
        lambda: leadtrace.journey(identity=_any("a@b.example")),
        "journey.identity",
    ),
    (
        "journey(synthetic=...) got str, expected bool",
        lambda: leadtrace.journey(synthetic=_any("yes")),
        "journey.synthetic",
    ),
    (
        "journey(journey_id=...) got int, expected str",
        lambda: leadtrace.journey(_any(123)),
        "journey.journey_id",
    ),
    (
        "journey(journey_id=...) got str with a lone surrogate",
        lambda: leadtrace.journey("j\udcff"),
        "journey.journey_id",
    ),
    (
        "journey(started_at=...) got str, expected datetime",
        lambda: leadtrace.journey(started_at=_any("2026-03-02")),
        "journey.started_at",
    ),
    (
        "journey(parent=...) got dict, expected BusinessContext",
        lambda: leadtrace.journey(parent=_any({})),
        "journey.parent",
    ),
    (
        "identity(email=...) got int, expected str",
        lambda: leadtrace.identity(email=_any(123)),
        "identity.email",
    ),
    (
        "identity(email=...) got str with a lone surrogate",
        lambda: leadtrace.identity(email=SURROGATE),
        "identity.email",
    ),
    (
        "identity(phone=...) got int, expected str",
        lambda: leadtrace.identity(phone=_any(4155550100)),
        "identity.phone",
    ),
    (
        "identity(contact_id=...) got int, expected str",
        lambda: leadtrace.identity(contact_id=_any(7)),
        "identity.contact_id",
    ),
    (
        "identity(key=...) got str, expected bytes",
        lambda: leadtrace.identity(email="a@b.example", key=_any("k")),
        "identity.key",
    ),
    (
        "annotate(campaign=...) got str, expected Campaign",
        lambda: leadtrace.annotate(campaign=_any("x")),
        "annotate.campaign",
    ),
    (
        "inject(carrier=...) got NoneType, expected a mutable mapping",
        lambda: leadtrace.inject(_any(None)),
        "inject.carrier",
    ),
    (
        "inject(url=...) got int, expected str",
        lambda: leadtrace.inject({}, url=_any(123)),
        "inject.url",
    ),
    (
        "extract(carrier=...) got NoneType, expected a mapping",
        lambda: leadtrace.extract(_any(None)),
        "extract.carrier",
    ),
    (
        "inject(context=...) got str, expected BusinessContext",
        lambda: leadtrace.inject({}, context=_any("j-1")),
        "inject.context",
    ),
]


@pytest.mark.parametrize(("message", "call", "where"), CALLS, ids=[c[2] for c in CALLS])
def test_strict_mode_names_argument_given_and_expected_types(
    handle: Leadtrace, message: str, call: Callable[[], Any], where: str
) -> None:
    """Strict mode raises ArgumentTypeError (a LeadtraceError and a TypeError) whose message
    names the function, the argument, the type given and the type expected."""
    with leadtrace.journey(), pytest.raises(ArgumentTypeError) as caught:
        call()
    assert message in str(caught.value)
    assert isinstance(caught.value, LeadtraceError)
    assert isinstance(caught.value, TypeError)
    assert f"{caught.value.function}.{caught.value.argument}" == where
    assert "example.org" not in str(caught.value)  # the value itself is never repeated


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """An OTLP receiver on 127.0.0.1."""
    with OTLPReceiver() as running:
        yield running


def _lenient(receiver: OTLPReceiver) -> Leadtrace:
    return leadtrace.configure(
        service_name="landing-web",
        endpoint=receiver.url,
        validation="lenient",
        hash_key="s" * 48,
        local=True,
        environ={},
    )


@pytest.mark.parametrize(("message", "call", "where"), CALLS, ids=[c[2] for c in CALLS])
def test_lenient_mode_counts_and_carries_on(
    receiver: OTLPReceiver, message: str, call: Callable[[], Any], where: str
) -> None:
    """In lenient mode the call returns normally, the app's next event is exported, and
    the mistake is counted in leadtrace.internal_errors under its function.argument."""
    handle = _lenient(receiver)
    with handle.activate(), leadtrace.journey():
        result = call()
        if isinstance(result, leadtrace.journey):
            with result:
                leadtrace.emit("form_viewed", form_id="demo")
        else:
            leadtrace.emit("form_viewed", form_id="demo")
    handle.shutdown()
    assert [r.name for r in event_spans(receiver.records())] == ["form_viewed"]
    points = receiver.metric_points("leadtrace.internal_errors")
    assert [(p.attributes, p.value) for p in points] == [
        ({"where": where, "error.type": "ArgumentTypeError"}, 1.0)
    ]


def test_lenient_journey_keeps_every_good_part(receiver: OTLPReceiver) -> None:
    """journey(campaign="spring", consent=...) in lenient mode is the journey without the
    campaign: its consent, identity and id still reach the exported span."""
    handle = _lenient(receiver)
    granted = ConsentState(status="granted", purposes=frozenset({"analytics"}))
    with handle.activate():
        who = leadtrace.identity(email="ada@example.com", phone=_any(4155550100))
        with leadtrace.journey(campaign=_any("spring"), consent=granted, identity=who) as j:
            leadtrace.emit("form_viewed", form_id="demo")
    handle.shutdown()
    (span,) = event_spans(receiver.records())
    assert span.attributes[semconv.JOURNEY_ID] == j.journey_id
    assert span.attributes[semconv.CONSENT_STATUS] == "granted"
    assert span.attributes[semconv.IDENTITY_EMAIL_HASH] == who.email_hash
    assert semconv.IDENTITY_PHONE_HASH not in span.attributes
    assert not [k for k in span.attributes if k.startswith("martech.campaign.")]


def test_lenient_identity_with_a_lone_surrogate_hashes_the_rest(receiver: OTLPReceiver) -> None:
    """identity(email=<lone surrogate>) leaves the e-mail hash out instead of raising
    UnicodeEncodeError; the phone hash and contact id stay."""
    handle = _lenient(receiver)
    with handle.activate():
        who = leadtrace.identity(email=SURROGATE, phone="+44 20 7946 0958", contact_id="C-1")
    handle.shutdown()
    assert who.email_hash is None
    assert who.phone_hash is not None
    assert who.contact_id == "C-1"


def test_emit_of_something_that_is_not_an_event(handle: Leadtrace) -> None:
    """emit(123) raises ArgumentTypeError naming the argument in strict mode."""
    with pytest.raises(ArgumentTypeError, match=r"emit\(event=...\) got int, expected an Event"):
        leadtrace.emit(_any(123))


def test_lenient_emit_of_something_that_is_not_an_event_is_counted(
    receiver: OTLPReceiver,
) -> None:
    """In lenient mode emit(123) returns an event id, and the mistake is counted."""
    handle = _lenient(receiver)
    with handle.activate():
        assert leadtrace.emit(_any(123))
    handle.shutdown()
    points = receiver.metric_points("leadtrace.internal_errors")
    assert [(p.attributes, p.value) for p in points] == [
        ({"where": "emit.coerce_event", "error.type": "ArgumentTypeError"}, 1.0)
    ]


def test_stage_name_must_be_text() -> None:
    """@stage(123) is a setup mistake: ConfigError at decoration, naming the function."""
    with pytest.raises(ConfigError, match=r"@stage\(name\) on .*route: the name must be"):

        @leadtrace.stage(_any(123), layer="routing")
        def route() -> None:
            """Never decorated."""
