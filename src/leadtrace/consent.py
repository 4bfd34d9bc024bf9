"""Consent: immutable state, request signals (GPC, IAB TCF v2) and the audit-trail check.

A :class:`ConsentState` never changes; a new decision creates a new state (see
:meth:`ConsentState.replace`). Web integrations call :func:`consent_from_request` on every
request: it reads ``Sec-GPC`` and the ``euconsent-v2`` cookie, never raises, and reports
malformed signals as error *kinds* (never the input text)::

    parsed = consent_from_request(request.headers, request.cookies)
    parsed.state    # ConsentState | None
    parsed.errors   # e.g. ("tcf_malformed",)

Every ``consent_captured`` event can also be appended to a hash-chained audit log
(:mod:`leadtrace.audit`); :func:`verify_audit_log` checks one.

Owns: consent states, request signals (GPC, TCF) and ``verify_audit_log()``.

May import: ``_active`` (the meter for parse-error counts), ``_auditlog``, ``_fields``,
``_guard``, ``errors`` and ``semconv``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadtrace import semconv
from leadtrace._active import current
from leadtrace._auditlog import verify
from leadtrace._fields import Attr
from leadtrace._guard import internal_error
from leadtrace.errors import LeadtraceError

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Meter

    from leadtrace._auditlog import AuditReport

__all__ = [
    "CONSENT_CHECKPOINTS",
    "TCF_COOKIE",
    "TCF_PURPOSES",
    "ConsentBasis",
    "ConsentParseError",
    "ConsentSource",
    "ConsentState",
    "ConsentStatus",
    "ParsedConsent",
    "TcfConsent",
    "consent_from_request",
    "parse_gpc",
    "parse_tcf",
    "verify_audit_log",
]

ConsentStatus = Literal["granted", "denied", "unknown", "withdrawn"]
"""Consent status values (``semconv.CONSENT_STATUS_*``)."""
ConsentBasis = Literal["consent", "legitimate_interest", "contract", "legal_obligation"]
"""Lawful basis values (``semconv.CONSENT_BASIS_*``)."""
ConsentSource = Literal["banner", "form", "gpc", "tcf", "import"]
"""Where a consent state came from (``semconv.CONSENT_SOURCE_*``)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ConsentState(BaseModel):
    """A consent decision at one point in time. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    status: Annotated[ConsentStatus, Attr(semconv.CONSENT_STATUS)] = "unknown"
    """Status of the decision."""
    purposes: Annotated[frozenset[str], Attr(semconv.CONSENT_PURPOSES)] = frozenset()
    """Purposes the status applies to, e.g. ``{"analytics", "marketing"}``."""
    basis: Annotated[ConsentBasis | None, Attr(semconv.CONSENT_BASIS)] = None
    """Lawful basis of the processing."""
    source: Annotated[ConsentSource | None, Attr(semconv.CONSENT_SOURCE)] = None
    """Where the decision was captured."""
    gpc: Annotated[bool, Attr(semconv.CONSENT_GPC)] = False
    """Whether the browser sent Global Privacy Control (``Sec-GPC: 1``)."""
    captured_at: datetime = Field(default_factory=_now)
    """When the decision was captured (UTC)."""

    def allows(self, purpose: str) -> bool:
        """Whether this state grants ``purpose`` (granted status and the purpose listed)."""
        return self.status == "granted" and purpose in self.purposes

    def replace(self, **changes: Any) -> ConsentState:
        """A new state with ``changes`` applied and a fresh ``captured_at``."""
        data = self.model_dump()
        data.update(changes)
        data.setdefault("captured_at", _now())
        if "captured_at" not in changes:
            data["captured_at"] = _now()
        return ConsentState.model_validate(data)


CONSENT_CHECKPOINTS: Final = ("form_submitted", "lead_routed", "sales_acknowledged")
"""Stages where consent validity is measured: submission, routing and first sales contact.

Their spans carry ``martech.consent.status`` whenever the event or journey knows it; the
default data contracts require it there, so a span without it lists it in
``martech.quality.missing`` (consent missing is itself a failure to count)."""

TCF_COOKIE: Final = "euconsent-v2"
"""Cookie that holds the IAB TCF v2 consent string."""

TCF_PURPOSES: Final[Mapping[str, frozenset[int]]] = {
    semconv.CONSENT_PURPOSE_ANALYTICS: frozenset({1, 8, 9}),
    semconv.CONSENT_PURPOSE_MARKETING: frozenset({1, 2, 3, 4, 7}),
    semconv.CONSENT_PURPOSE_PERSONALIZATION: frozenset({1, 5, 6}),
}
"""leadtrace purpose -> the TCF v2.2 purposes that must ALL have consent for it.

Analytics needs device storage (1), content measurement (8) and audience statistics (9);
marketing needs storage, ad selection and ad profiles (1-4) and ad measurement (7);
personalisation needs storage and content profiles (1, 5, 6). TCF has no sales-contact purpose.
"""

_MAX_TC_STRING = 8192
_CORE_BITS = 213  # fixed-size fields of the core segment, up to and including PublisherCC
_VENDOR_HEADER_BITS = 17  # MaxVendorId (16) + IsRangeEncoding (1)
_DECISECOND = 10
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class ConsentParseError(LeadtraceError, ValueError):
    """A consent signal could not be parsed. The message never contains the input.

    Attributes:
        kind: machine-readable error kind, e.g. ``tcf_malformed``.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class TcfConsent:
    """The core segment of an IAB TCF v2 consent string, decoded.

    Vendor-level sections are not decoded: leadtrace needs purposes, not vendor lists.
    """

    version: int
    """TCF version (always 2)."""
    created: datetime
    """When the string was first created (UTC, decisecond precision)."""
    last_updated: datetime
    """When it was last updated (UTC)."""
    cmp_id: int
    """Registered id of the Consent Management Platform that wrote it."""
    cmp_version: int
    """Version of that CMP."""
    consent_screen: int
    """Screen number in the CMP where consent was given."""
    consent_language: str
    """Two-letter language of the CMP UI, e.g. ``EN``."""
    vendor_list_version: int
    """Global Vendor List version used."""
    policy_version: int
    """TCF policy version (2 = TCF 2.0/2.1, 4 = TCF 2.2)."""
    is_service_specific: bool
    """Whether the signals apply to this service only."""
    use_non_standard_texts: bool
    """Whether the CMP customised the standard purpose texts."""
    special_feature_optins: frozenset[int]
    """Special features opted in to (1-12)."""
    purposes_consent: frozenset[int]
    """TCF purposes (1-24) with consent."""
    purposes_legitimate_interest: frozenset[int]
    """TCF purposes (1-24) whose legitimate-interest transparency was established."""
    purpose_one_treatment: bool
    """Whether purpose 1 was not disclosed (publisher in a country that does not require it)."""
    publisher_cc: str
    """Publisher country code, e.g. ``FR``."""

    def allowed_purposes(
        self, mapping: Mapping[str, frozenset[int]] = TCF_PURPOSES
    ) -> frozenset[str]:
        """leadtrace purposes whose TCF purposes all have consent (see :data:`TCF_PURPOSES`)."""
        return frozenset(
            name for name, needed in mapping.items() if needed <= self.purposes_consent
        )

    def to_state(self, mapping: Mapping[str, frozenset[int]] = TCF_PURPOSES) -> ConsentState:
        """The consent state this string expresses: granted for the allowed purposes, or denied."""
        purposes = self.allowed_purposes(mapping)
        return ConsentState(
            status=semconv.CONSENT_STATUS_GRANTED if purposes else semconv.CONSENT_STATUS_DENIED,
            purposes=purposes,
            basis=semconv.CONSENT_BASIS_CONSENT,
            source=semconv.CONSENT_SOURCE_TCF,
            captured_at=self.last_updated,
        )


class _Bits:
    """Big-endian bit reader over decoded bytes; reads past the end raise."""

    __slots__ = ("_pos", "_total", "_value")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._total = len(data) * 8
        self._pos = 0

    @property
    def total(self) -> int:
        return self._total

    def read(self, width: int) -> int:
        end = self._pos + width
        if end > self._total:
            raise ConsentParseError("tcf_malformed", "TCF string is shorter than its fields")
        shift = self._total - end
        self._pos = end
        return (self._value >> shift) & ((1 << width) - 1)

    def flags(self, width: int) -> frozenset[int]:
        bits = self.read(width)
        return frozenset(i + 1 for i in range(width) if bits >> (width - 1 - i) & 1)

    def letters(self) -> str:
        first, second = self.read(6), self.read(6)
        if first > 25 or second > 25:
            raise ConsentParseError("tcf_malformed", "TCF string has an invalid letter code")
        return chr(65 + first) + chr(65 + second)

    def time(self) -> datetime:
        return datetime.fromtimestamp(self.read(36) / _DECISECOND, tz=timezone.utc)


def _decode_segment(segment: str) -> bytes:
    if not segment or not _B64URL.issuperset(segment):
        raise ConsentParseError("tcf_malformed", "TCF string is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConsentParseError("tcf_malformed", "TCF string is not base64url") from exc


@functools.lru_cache(maxsize=1024)
def parse_tcf(tc_string: str) -> TcfConsent:
    """Decode the core segment of an IAB TCF v2 consent string (the ``euconsent-v2`` cookie).

    Results are cached (1024 strings): a returning visitor's cookie is decoded once.

    Raises:
        ConsentParseError: ``tcf_malformed`` (not base64url, too short, bad letters),
            ``tcf_too_long`` or ``tcf_unsupported_version``; never echoes the input.
    """
    if not isinstance(tc_string, str):
        raise ConsentParseError("tcf_malformed", "TCF string must be text")
    if len(tc_string) > _MAX_TC_STRING:
        raise ConsentParseError(
            "tcf_too_long", f"TCF string is longer than {_MAX_TC_STRING} characters"
        )
    core = tc_string.strip().split(".", 1)[0]
    bits = _Bits(_decode_segment(core))
    version = bits.read(6)
    if version != 2:
        raise ConsentParseError(
            "tcf_unsupported_version", f"TCF version {version} is not supported (only 2)"
        )
    if bits.total < _CORE_BITS + _VENDOR_HEADER_BITS:
        raise ConsentParseError("tcf_malformed", "TCF string is shorter than its core segment")
    return TcfConsent(
        version=version,
        created=bits.time(),
        last_updated=bits.time(),
        cmp_id=bits.read(12),
        cmp_version=bits.read(12),
        consent_screen=bits.read(6),
        consent_language=bits.letters(),
        vendor_list_version=bits.read(12),
        policy_version=bits.read(6),
        is_service_specific=bool(bits.read(1)),
        use_non_standard_texts=bool(bits.read(1)),
        special_feature_optins=bits.flags(12),
        purposes_consent=bits.flags(24),
        purposes_legitimate_interest=bits.flags(24),
        purpose_one_treatment=bool(bits.read(1)),
        publisher_cc=bits.letters(),
    )


def parse_gpc(value: Any) -> bool:
    """Whether a ``Sec-GPC`` header value asserts Global Privacy Control (exactly ``1``).

    Accepts text, bytes, or a list of values (the first counts); anything else is False.
    """
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return isinstance(value, str) and value.strip() == "1"


@dataclass(frozen=True, slots=True)
class ParsedConsent:
    """Consent signals found on one request."""

    state: ConsentState | None
    """Resulting consent state; None when the request carried no consent signal."""
    gpc: bool
    """Whether ``Sec-GPC: 1`` was sent."""
    tcf: TcfConsent | None
    """Decoded TCF string, when a valid one was sent."""
    errors: tuple[str, ...] = ()
    """Error kinds of signals that could not be parsed, e.g. ``tcf_malformed``. Never input."""


_NO_CONSENT = ParsedConsent(state=None, gpc=False, tcf=None)


def _lookup(mapping: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive lookup: direct hits first (most frameworks), then a scan."""
    try:
        value = mapping.get(name)
        if value is None:
            value = mapping.get(name.lower())
        if value is not None:
            return value
        lowered = name.lower()
        for key, candidate in mapping.items():
            if isinstance(key, str) and key.lower() == lowered:
                return candidate
    except Exception:  # an exotic mapping must not break the request
        return None
    return None


def tcf_cookie(cookies: Mapping[str, Any]) -> Any:
    """The ``euconsent-v2`` cookie's value, whatever the casing of its name; None if absent."""
    return _lookup(cookies, TCF_COOKIE) if cookies else None


def _apply_gpc(base: ConsentState | None) -> ConsentState:
    """GPC opts out of sale/sharing: marketing is never granted under it."""
    if base is None:
        return ConsentState(
            status=semconv.CONSENT_STATUS_DENIED,
            purposes=frozenset({semconv.CONSENT_PURPOSE_MARKETING}),
            source=semconv.CONSENT_SOURCE_GPC,
            gpc=True,
        )
    if base.status != semconv.CONSENT_STATUS_GRANTED:
        return base.model_copy(update={"gpc": True})
    purposes = base.purposes - {semconv.CONSENT_PURPOSE_MARKETING}
    return base.model_copy(
        update={
            "gpc": True,
            "purposes": purposes,
            "status": semconv.CONSENT_STATUS_GRANTED if purposes else semconv.CONSENT_STATUS_DENIED,
        }
    )


@functools.lru_cache(maxsize=1024)
def _tcf_state(tc_string: str, gpc: bool) -> tuple[TcfConsent, ConsentState]:
    """Decoded string and its state, cached: most requests repeat a known cookie."""
    tcf = parse_tcf(tc_string)
    state = tcf.to_state()
    return tcf, _apply_gpc(state) if gpc else state


def consent_from_request(
    headers: Mapping[str, Any], cookies: Mapping[str, Any], *, lower_case_headers: bool = False
) -> ParsedConsent:
    """Read the consent signals of one request: ``Sec-GPC`` and the ``euconsent-v2`` cookie.

    A valid TCF string gives a granted or denied state for the purposes it covers
    (:data:`TCF_PURPOSES`); a malformed one gives ``unknown`` and the error kind in
    ``errors`` (counted in ``leadtrace.consent.parse_errors``). ``Sec-GPC: 1`` removes the
    marketing purpose, or records a marketing denial when nothing else was sent. Never raises.

    Args:
        headers: request headers (any casing).
        cookies: request cookies by name.
        lower_case_headers: the header names are all lower case already (as the web
            integrations pass them): one lookup instead of a case-insensitive scan.
    """
    try:
        if lower_case_headers:
            gpc = parse_gpc(headers.get("sec-gpc"))
        else:
            gpc = parse_gpc(_lookup(headers, "Sec-GPC")) if headers else False
        raw_tcf = tcf_cookie(cookies)
        if not gpc and not raw_tcf:
            return _NO_CONSENT
        tcf: TcfConsent | None = None
        errors: tuple[str, ...] = ()
        base: ConsentState | None = None
        if raw_tcf:
            try:
                tcf, state = _tcf_state(raw_tcf if isinstance(raw_tcf, str) else "", gpc)
            except ConsentParseError as exc:
                errors = (exc.kind,)
                base = ConsentState(
                    status=semconv.CONSENT_STATUS_UNKNOWN, source=semconv.CONSENT_SOURCE_TCF
                )
                _count_error(exc.kind)
            else:
                return ParsedConsent(state=state, gpc=gpc, tcf=tcf)
        return ParsedConsent(
            state=_apply_gpc(base) if gpc else base, gpc=gpc, errors=errors, tcf=tcf
        )
    except Exception as exc:
        # This function never raises, not even in strict mode: the request must go on.
        with contextlib.suppress(Exception):
            internal_error(exc, "consent_from_request")
        return ParsedConsent(state=None, gpc=False, tcf=None, errors=("consent_error",))


_counters: dict[int, tuple[Meter, Counter]] = {}
_counters_lock = threading.Lock()
_MAX_METERS = 64


def _count_error(kind: str) -> None:

    meter = current().meter
    entry = _counters.get(id(meter))
    if entry is None or entry[0] is not meter:
        counter = meter.create_counter(
            "leadtrace.consent.parse_errors",
            unit="{error}",
            description="Consent signals (GPC, TCF) that could not be parsed; state unknown.",
        )
        with _counters_lock:
            if len(_counters) > _MAX_METERS:
                _counters.clear()
            _counters[id(meter)] = entry = (meter, counter)
    entry[1].add(1, {"error.type": kind})


def verify_audit_log(path: str | Path) -> AuditReport:
    """Check a consent audit log's hash chain; see :func:`leadtrace.audit.verify`.

    Returns:
        The report: ``ok``, ``records``, ``first_bad_line`` and ``reason``.
    """
    return verify(path)
