"""Consent: immutable state, GPC and IAB TCF v2 parsing, consent-aware identity capture."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pydantic
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _handles import event_spans
from _metrics import counter_points
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.consent import (
    TCF_COOKIE,
    ConsentParseError,
    ConsentState,
    consent_from_request,
    parse_gpc,
    parse_tcf,
)
from leadtrace.errors import LeadtraceError

# --- a small TCF v2 core-segment encoder (the test's own, independent of the decoder) ----------


def _letters(code: str) -> list[tuple[int, int]]:
    return [(ord(code[0]) - 65, 6), (ord(code[1]) - 65, 6)]


def _flags(ids: Iterable[int], width: int) -> tuple[int, int]:
    value = 0
    for i in ids:
        value |= 1 << (width - i)
    return value, width


def encode_tcf(
    *,
    created: datetime = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc),
    updated: datetime = datetime(2026, 3, 2, 10, 5, tzinfo=timezone.utc),
    cmp_id: int = 300,
    cmp_version: int = 7,
    consent_screen: int = 2,
    language: str = "DE",
    vendor_list_version: int = 150,
    policy_version: int = 4,
    purposes: Iterable[int] = (),
    legitimate_interest: Iterable[int] = (),
    special_features: Iterable[int] = (),
    publisher_cc: str = "DE",
    version: int = 2,
    vendors: Iterable[int] = (),
) -> str:
    """Build a TCF v2 core segment the way a CMP does (bit fields, base64url, no padding)."""
    vendor_ids = sorted(vendors)
    max_vendor = vendor_ids[-1] if vendor_ids else 0
    fields: list[tuple[int, int]] = [
        (version, 6),
        (int(created.timestamp() * 10), 36),
        (int(updated.timestamp() * 10), 36),
        (cmp_id, 12),
        (cmp_version, 12),
        (consent_screen, 6),
        *_letters(language),
        (vendor_list_version, 12),
        (policy_version, 6),
        (1, 1),  # IsServiceSpecific
        (0, 1),  # UseNonStandardTexts
        _flags(special_features, 12),
        _flags(purposes, 24),
        _flags(legitimate_interest, 24),
        (0, 1),  # PurposeOneTreatment
        *_letters(publisher_cc),
        (max_vendor, 16),
        (0, 1),  # IsRangeEncoding: bit field follows
        _flags(vendor_ids, max_vendor) if max_vendor else (0, 0),
    ]
    bits = "".join(format(value, f"0{width}b") for value, width in fields if width)
    bits += "0" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ALL_PURPOSES = range(1, 12)
# A consent string written by a real CMP (cmp id 10, 2021); the expected values were read
# with the iab-tcf reference decoder.
REAL_CMP_STRING = (
    "CPBZjR9PBZjR9AKAZAENBMCsAP_AAH_AAAqIHWtf_X_fb39j-_59_9t0eY1f9_7_v-wzjhfds-8NyPvX_L8X42M7"
    "PF36pq4KuR4Eu3LBIQdlHOHcTUmw6okVryPsbk2cr7NKJ7PEmnMbO2dYGH9_n93TuZKY7__8___z__-v_v____f_r-"
    "3_3__59X---_e_V399zLv9____39nP___9v-_9_3gAAAAAAAAAAAAAAAAAAA"
)


# --- ConsentState --------------------------------------------------------------------------------


def test_consent_state_is_immutable() -> None:
    """Assigning to a consent state fails: a decision never changes after capture."""
    state = ConsentState(status="granted", purposes=frozenset({"analytics"}))
    with pytest.raises(pydantic.ValidationError):
        state.status = "denied"  # type: ignore[misc]


def test_replace_creates_a_new_state_with_a_fresh_capture_time() -> None:
    """replace() returns a new state; the old one is untouched and the new one is newer."""
    old = ConsentState(
        status="granted",
        purposes=frozenset({"analytics"}),
        captured_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    new = old.replace(status="withdrawn")
    assert (old.status, new.status) == ("granted", "withdrawn")
    assert new.purposes == old.purposes
    assert new.captured_at > old.captured_at


# --- TCF -----------------------------------------------------------------------------------------


def test_tcf_string_from_a_real_cmp_decodes() -> None:
    """A real CMP's string decodes to its CMP id, policy version, language and purposes."""
    tcf = parse_tcf(REAL_CMP_STRING)
    assert (tcf.cmp_id, tcf.cmp_version, tcf.vendor_list_version) == (10, 25, 76)
    assert (tcf.policy_version, tcf.consent_language, tcf.publisher_cc) == (2, "EN", "FR")
    assert tcf.purposes_consent == frozenset(range(1, 11))
    assert tcf.purposes_legitimate_interest == frozenset(range(2, 11))
    assert tcf.special_feature_optins == frozenset({1, 2})
    assert tcf.created == datetime(2021, 2, 10, 12, 31, 8, 500000, tzinfo=timezone.utc)


def test_tcf_fields_round_trip_through_the_encoder() -> None:
    """Every core field written by the test encoder comes back from the decoder."""
    tcf = parse_tcf(
        encode_tcf(purposes={1, 8, 9}, legitimate_interest={2, 7}, special_features={1})
    )
    assert tcf.version == 2
    assert tcf.created == datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    assert tcf.last_updated == datetime(2026, 3, 2, 10, 5, tzinfo=timezone.utc)
    assert (tcf.cmp_id, tcf.cmp_version, tcf.consent_screen) == (300, 7, 2)
    assert (tcf.consent_language, tcf.vendor_list_version, tcf.policy_version) == ("DE", 150, 4)
    assert tcf.purposes_consent == frozenset({1, 8, 9})
    assert tcf.purposes_legitimate_interest == frozenset({2, 7})
    assert tcf.special_feature_optins == frozenset({1})
    assert tcf.is_service_specific is True


def test_tcf_with_every_purpose_grants_analytics_marketing_and_personalization() -> None:
    """All TCF purposes consented map to a granted state for every leadtrace purpose."""
    state = parse_tcf(encode_tcf(purposes=ALL_PURPOSES)).to_state()
    assert state.status == "granted"
    assert state.purposes == frozenset({"analytics", "marketing", "personalization"})
    assert (state.source, state.basis) == ("tcf", "consent")
    assert state.captured_at == datetime(2026, 3, 2, 10, 5, tzinfo=timezone.utc)


def test_tcf_with_storage_only_is_a_denial() -> None:
    """Consent to device storage alone covers no leadtrace purpose: the state is denied."""
    state = parse_tcf(encode_tcf(purposes={1})).to_state()
    assert (state.status, state.purposes) == ("denied", frozenset())


def test_tcf_analytics_needs_measurement_and_statistics_purposes() -> None:
    """Purposes 1, 8 and 9 grant analytics but not marketing."""
    state = parse_tcf(encode_tcf(purposes={1, 8, 9})).to_state()
    assert state.purposes == frozenset({"analytics"})


@pytest.mark.parametrize(
    ("tc_string", "kind"),
    [
        ("not a consent string!", "tcf_malformed"),
        ("CPBZjR9PBZ", "tcf_malformed"),
        ("", "tcf_malformed"),
        ("A" * 9000, "tcf_too_long"),
        (encode_tcf(version=1), "tcf_unsupported_version"),
        (encode_tcf(language="DE")[:20], "tcf_malformed"),
    ],
)
def test_malformed_tcf_raises_a_consent_parse_error_without_the_input(
    tc_string: str, kind: str
) -> None:
    """Malformed strings raise ConsentParseError with a kind; the message never echoes input."""
    with pytest.raises(ConsentParseError) as caught:
        parse_tcf(tc_string)
    assert caught.value.kind == kind
    assert isinstance(caught.value, LeadtraceError)
    assert isinstance(caught.value, ValueError)
    if tc_string:
        assert tc_string[:10] not in str(caught.value)


def test_tcf_with_an_invalid_language_letter_is_malformed() -> None:
    """A language code outside A-Z is rejected as malformed."""
    good = encode_tcf()
    bits = format(int.from_bytes(base64.urlsafe_b64decode(good + "=="), "big"), "b")
    bits = bits.zfill(len(base64.urlsafe_b64decode(good + "==")) * 8)
    start = 6 + 36 + 36 + 12 + 12 + 6
    bad_bits = bits[:start] + "111111" + bits[start + 6 :]
    raw = int(bad_bits, 2).to_bytes(len(bad_bits) // 8, "big")
    bad = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(ConsentParseError, match="letter"):
        parse_tcf(bad)


# --- GPC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), (" 1 ", True), (b"1", True), (["1"], True), ("0", False), ("", False),
     ("true", False), (None, False), (1, False), ([], False)],
)  # fmt: skip
def test_parse_gpc_accepts_exactly_one(value: Any, expected: bool) -> None:
    """Only the value 1 asserts Global Privacy Control."""
    assert parse_gpc(value) is expected


# --- consent_from_request ------------------------------------------------------------------------


def test_request_without_signals_has_no_state(handle: Leadtrace) -> None:
    """No Sec-GPC header and no TCF cookie yield no state, no GPC and no errors."""
    parsed = consent_from_request({"Accept": "text/html"}, {"session": "abc"})
    assert (parsed.state, parsed.gpc, parsed.tcf, parsed.errors) == (None, False, None, ())


@pytest.mark.parametrize("header", ["Sec-GPC", "sec-gpc", "SEC-GPC"])
def test_gpc_header_is_found_in_any_casing(handle: Leadtrace, header: str) -> None:
    """Sec-GPC: 1 alone records a marketing denial from the gpc source."""
    parsed = consent_from_request({header: "1"}, {})
    assert parsed.gpc is True
    assert parsed.state is not None
    assert parsed.state.status == "denied"
    assert parsed.state.purposes == frozenset({"marketing"})
    assert (parsed.state.source, parsed.state.gpc) == ("gpc", True)


def test_valid_tcf_cookie_gives_its_state(handle: Leadtrace) -> None:
    """A valid euconsent-v2 cookie yields the decoded string and its granted state."""
    parsed = consent_from_request({}, {TCF_COOKIE: encode_tcf(purposes=ALL_PURPOSES)})
    assert parsed.tcf is not None
    assert parsed.tcf.cmp_id == 300
    assert parsed.state is not None
    assert parsed.state.allows("analytics")
    assert parsed.errors == ()


def test_gpc_removes_marketing_from_a_tcf_grant(handle: Leadtrace) -> None:
    """GPC with a full TCF grant keeps analytics but never marketing."""
    parsed = consent_from_request({"Sec-GPC": "1"}, {TCF_COOKIE: encode_tcf(purposes=ALL_PURPOSES)})
    assert parsed.state is not None
    assert parsed.state.purposes == frozenset({"analytics", "personalization"})
    assert (parsed.state.status, parsed.state.gpc) == ("granted", True)


def test_malformed_tcf_cookie_gives_unknown_and_a_counted_error(
    lenient: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """A malformed cookie yields state unknown, the error kind, and a parse-error count."""
    parsed = consent_from_request({}, {TCF_COOKIE: "%%%garbage%%%"})
    assert parsed.state is not None
    assert parsed.state.status == "unknown"
    assert parsed.errors == ("tcf_malformed",)
    assert parsed.tcf is None
    assert counter_points(metric_reader, "leadtrace.consent.parse_errors") == {
        (("error.type", "tcf_malformed"),): 1
    }


def test_consent_from_request_never_raises_even_in_strict_mode(handle: Leadtrace) -> None:
    """A header mapping that raises on every read is treated as empty instead of raising."""

    class Exploding(dict[str, str]):
        def get(self, *_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("boom")

        def items(self) -> Any:
            raise RuntimeError("boom")

    parsed = consent_from_request(Exploding(x="1"), {TCF_COOKIE: "%%%"})
    assert parsed.state is not None
    assert parsed.errors == ("tcf_malformed",)


# --- consent-aware capture ---------------------------------------------------------------------


IDENTITY_KEYS = (
    semconv.IDENTITY_EMAIL_HASH,
    semconv.IDENTITY_PHONE_HASH,
    semconv.IDENTITY_ANONYMOUS_ID,
    semconv.IDENTITY_CONTACT_ID,
    semconv.IDENTITY_ACCOUNT_ID,
)


@pytest.mark.parametrize("status", ["denied", "withdrawn", "unknown"])
def test_journey_without_analytics_consent_exports_no_identity_keys(
    handle: Leadtrace, status: str
) -> None:
    """Identity keys are dropped from every span unless analytics consent is granted."""
    who = leadtrace.identity(email="ada@example.com", phone="+44 20 7946 0958", contact_id="C-1")
    consent = ConsentState(status=status, purposes=frozenset({"analytics"}))  # type: ignore[arg-type]
    tracer = handle.tracer
    with leadtrace.journey(identity=who, consent=consent) as j:
        leadtrace.emit("form_submitted", form_id="demo")
        with tracer.start_as_current_span("POST https://api.hubapi.com/crm/v3/objects/contacts"):
            pass
    spans = handle.finished_spans()
    assert sorted(s.name for s in spans) == [
        "POST https://api.hubapi.com/crm/v3/objects/contacts",
        "form_submitted",
        "journey",
    ]
    for span in spans:
        attrs = dict(span.attributes)
        assert not [k for k in attrs if k in IDENTITY_KEYS], span.name
        assert attrs[semconv.JOURNEY_ID] == j.journey_id
        assert attrs[semconv.CONSENT_DROPPED_REASON] == (
            f"analytics consent {status}: identity keys dropped"
        )


def test_journey_with_analytics_consent_exports_hashed_identity(handle: Leadtrace) -> None:
    """With analytics granted, spans carry the hashed identity keys."""
    who = leadtrace.identity(email="ada@example.com", contact_id="C-1")
    consent = ConsentState(status="granted", purposes=frozenset({"analytics"}))
    with leadtrace.journey(identity=who, consent=consent):
        leadtrace.emit("form_submitted", form_id="demo")
    (span,) = event_spans(handle.finished_spans())
    assert span.attributes[semconv.IDENTITY_EMAIL_HASH] == who.email_hash
    assert span.attributes[semconv.IDENTITY_CONTACT_ID] == "C-1"
    assert semconv.CONSENT_DROPPED_REASON not in span.attributes


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        ("form_submitted", {"form_id": "demo"}),
        ("lead_routed", {"lead_id": "L-1", "routing_rule_id": "emea"}),
        ("sales_acknowledged", {"lead_id": "L-1"}),
    ],
)
def test_consent_checkpoints_record_status_or_flag_it_missing(
    handle: Leadtrace, event: str, fields: dict[str, Any]
) -> None:
    """Submission, routing and first sales contact carry the status, or list it as missing."""
    with leadtrace.journey(consent=ConsentState(status="withdrawn")):
        leadtrace.emit(event, **fields)
    with leadtrace.journey():
        leadtrace.emit(event, **fields)
    known, unknown = event_spans(handle.finished_spans())
    assert known.attributes[semconv.CONSENT_STATUS] == "withdrawn"
    assert semconv.CONSENT_STATUS not in unknown.attributes
    assert semconv.CONSENT_STATUS in unknown.attributes[semconv.QUALITY_MISSING]
