"""Canonical events: pydantic models, the envelope every event carries, and the registry.

Every step of the revenue path is one event with a common envelope (event id usable as an
idempotency key, ``occurred_at``, source system, environment, schema version, journey id,
campaign, identity keys, consent, synthetic flag) and the payload its stage needs::

    from leadtrace import events
    routed = events.LeadRouted(lead_id="L-1", routing_rule_id="emea-smb", owner_id="U-7")
    events.get("lead_routed")            # -> LeadRouted (latest version)
    events.get("lead_routed", "1-0-0")   # -> LeadRouted

Schemas are closed (``additionalProperties: false``) and versioned with SchemaVer
``MODEL-REVISION-ADDITION``; see :mod:`leadtrace.schemas` for export and compatibility checks.
Register your own events with :func:`register`.

Owns: the canonical event models, their envelope, the registry and attribute plans.

May import: ``_fields``, ``consent``, ``errors``, ``privacy`` and ``semconv``; never the emit
path.
"""

from __future__ import annotations

import os
import re
import threading
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from leadtrace import semconv
from leadtrace._fields import Attr
from leadtrace.consent import ConsentState
from leadtrace.errors import ConfigError, LeadtraceError
from leadtrace.privacy import IdentityKeys

__all__ = [
    "Campaign",
    "CampaignAttributed",
    "ConsentCaptured",
    "CrmUpdated",
    "Event",
    "FormSubmitted",
    "FormViewed",
    "Layer",
    "LeadCreated",
    "LeadEnriched",
    "LeadQualified",
    "LeadRouted",
    "OpportunityCreated",
    "SalesAcknowledged",
    "SessionStarted",
    "UnknownEventError",
    "all_events",
    "get",
    "new_event_id",
    "parse_version",
    "register",
    "set_clock",
    "set_id_factory",
]

Layer = Literal["capture", "identity", "enrichment", "routing", "crm", "sales"]
"""Layer of the revenue path an event belongs to (``semconv.LAYER_*``)."""
Channel = Literal["paid_search", "paid_social", "email", "organic", "referral", "direct", "other"]
DedupeOutcome = Literal["created", "updated", "conflict", "duplicate", "ambiguous"]
CrmOperation = Literal["create", "update", "upsert", "delete"]
EnrichmentOutcome = Literal["enriched", "no_match", "timeout", "error"]
Qualification = Literal["mql", "sql", "disqualified"]
Touch = Literal["first", "last"]
ClickIdType = Literal["gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "li_fat_id"]

_VERSION = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
Id = Annotated[str, Field(min_length=1, max_length=256)]
EARLIEST_OCCURRED_AT: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""Earliest ``occurred_at`` an event accepts (span times count nanoseconds from here)."""
LATEST_OCCURRED_AT: Final = datetime(2262, 4, 11, tzinfo=timezone.utc)
"""Latest ``occurred_at`` an event accepts (64-bit signed nanoseconds end on 2262-04-11)."""
_LATEST_NAIVE: Final = LATEST_OCCURRED_AT.replace(tzinfo=None)
Text = Annotated[str, Field(max_length=1024)]


class UnknownEventError(LeadtraceError, KeyError):
    """No event of that name (or version) is registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown event"


def _random_id() -> str:
    return os.urandom(16).hex()


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


_id_factory: Callable[[], str] = _random_id
_clock: Callable[[], datetime] = _utc_now


def new_event_id() -> str:
    """A new event id: 32 random hex characters (128 bits) unless a test set a factory."""
    return _id_factory()


def now() -> datetime:
    """The current time from the configured clock (UTC unless a test set one)."""
    return _clock()


def set_id_factory(factory: Callable[[], str] | None) -> None:
    """Make event and journey ids come from ``factory`` (deterministic tests); None resets."""
    global _id_factory
    _id_factory = factory or _random_id


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Make default timestamps come from ``clock`` (timezone-aware); None resets to UTC now."""
    global _clock
    _clock = clock or _utc_now


def parse_version(version: str) -> tuple[int, int, int]:
    """Parse a SchemaVer string ``MODEL-REVISION-ADDITION`` into a tuple of ints.

    Raises:
        ValueError: ``version`` is not three dash-separated integers.
    """
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"schema version {version!r} is not SchemaVer MODEL-REVISION-ADDITION")
    model, revision, addition = (int(g) for g in match.groups())
    return model, revision, addition


class Campaign(BaseModel):
    """Campaign metadata of a touch: UTM values, derived channel and click id type."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    id: Annotated[str | None, Attr(semconv.CAMPAIGN_ID), Field(max_length=256)] = None
    """Campaign id (``utm_id`` or the ad platform's id)."""
    source: Annotated[str | None, Attr(semconv.CAMPAIGN_SOURCE), Field(max_length=256)] = None
    """``utm_source``."""
    medium: Annotated[str | None, Attr(semconv.CAMPAIGN_MEDIUM), Field(max_length=256)] = None
    """``utm_medium``."""
    name: Annotated[str | None, Attr(semconv.CAMPAIGN_NAME), Field(max_length=256)] = None
    """``utm_campaign``."""
    term: Annotated[str | None, Attr(semconv.CAMPAIGN_TERM), Field(max_length=256)] = None
    """``utm_term``."""
    content: Annotated[str | None, Attr(semconv.CAMPAIGN_CONTENT), Field(max_length=256)] = None
    """``utm_content``."""
    channel: Annotated[Channel | None, Attr(semconv.CAMPAIGN_CHANNEL)] = None
    """Derived channel."""
    offer_id: Annotated[str | None, Attr(semconv.CAMPAIGN_OFFER_ID), Field(max_length=256)] = None
    """Offer responded to."""
    click_id_type: Annotated[ClickIdType | None, Attr(semconv.CAMPAIGN_CLICK_ID_TYPE)] = None
    """Which click id arrived (never its value)."""
    touch: Annotated[Touch | None, Attr(semconv.CAMPAIGN_TOUCH)] = None
    """Whether this is the first or last touch."""
    id_source: Annotated[str | None, Attr(semconv.CAMPAIGN_ID_SOURCE), Field(max_length=64)] = None
    """Landing-URL parameter ``id`` was taken from (``utm_id``, ``utm_campaign``, ...)."""


class Event(BaseModel):
    """Envelope shared by every event. Subclass it (and :func:`register`) for your own events.

    Class variables every concrete event sets:
        event_name: snake_case name, also the span name.
        event_layer: layer of the revenue path.
        event_version: SchemaVer of this model, ``"1-0-0"`` for a first version.
        attribute_prefix: prefix for fields without an ``Attr`` (defaults to
            ``martech.<event_name>``).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=False, use_attribute_docstrings=True
    )

    event_name: ClassVar[str] = ""
    event_layer: ClassVar[Layer] = "capture"
    event_version: ClassVar[str] = "1-0-0"
    attribute_prefix: ClassVar[str | None] = None

    event_id: Annotated[str, Attr(semconv.EVENT_ID), Field(min_length=1, max_length=128)] = Field(
        default_factory=new_event_id
    )
    """Unique id; send the same id again to make a retry idempotent."""
    occurred_at: datetime = Field(default_factory=now)
    """When the event happened (timezone-aware); the span's start time."""
    source_system: Annotated[str | None, Attr(semconv.EVENT_SOURCE_SYSTEM)] = None
    """System that observed it, when not this service (e.g. ``hubspot`` for a webhook).

    When unset the span's resource ``service.name`` names the source; it is not repeated."""
    environment: str | None = None
    """Deployment environment; defaults to the configured one (exported on the resource)."""
    journey_id: Annotated[str | None, Attr(semconv.JOURNEY_ID), Field(max_length=128)] = None
    """Journey (correlation) id; defaults to the current journey's."""
    campaign: Campaign | None = None
    """Campaign; defaults to the current journey's."""
    identity: IdentityKeys | None = None
    """Hashed identity keys; defaults to the current journey's."""
    consent: ConsentState | None = None
    """Consent state; defaults to the current journey's."""
    synthetic: Annotated[bool, Attr(semconv.JOURNEY_SYNTHETIC)] = False
    """True for test traffic."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def schema_version(self) -> str:
        """SchemaVer of this event's model (``event_version``)."""
        return self.event_version

    @field_validator("occurred_at")
    @classmethod
    def _occurred_in_range(cls, value: datetime) -> datetime:
        """Span timestamps are nanoseconds since 1970 in 64 bits: year 1 or 9999 cannot be one."""
        if value.tzinfo is None:
            low, high = EARLIEST_OCCURRED_AT.replace(tzinfo=None), _LATEST_NAIVE
        else:
            low, high = EARLIEST_OCCURRED_AT, LATEST_OCCURRED_AT
        if not low <= value <= high:
            raise PydanticCustomError(
                "timestamp_out_of_range",
                "occurred_at must be between 1970-01-01 and 2262-04-11 (UTC): span times are "
                "64-bit nanoseconds since 1970",
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _accept_own_schema_version(cls, data: Any) -> Any:
        """Serialized events carry ``schema_version``; accept it when it names this version."""
        if isinstance(data, Mapping) and "schema_version" in data:
            data = dict(data)
            declared = data.pop("schema_version")
            if declared != cls.event_version:
                raise ValueError(
                    f"schema_version {declared!r} does not match {cls.event_name} "
                    f"{cls.event_version}; look the model up with events.get(name, version)"
                )
        return data


# --- the twelve canonical events -----------------------------------------------------------------


class SessionStarted(Event):
    """A visitor's session began on a landing page."""

    event_name: ClassVar[str] = "session_started"
    event_layer: ClassVar[Layer] = "capture"

    landing_path: Annotated[str | None, Attr(semconv.SESSION_LANDING_PATH), Text] = None
    """Path of the landing page (no query string)."""
    referrer_host: Annotated[str | None, Attr(semconv.SESSION_REFERRER_HOST), Text] = None
    """Host of the referring page."""


class CampaignAttributed(Event):
    """Campaign attribution was decided for the journey (first and/or last touch)."""

    event_name: ClassVar[str] = "campaign_attributed"
    event_layer: ClassVar[Layer] = "capture"

    attribution_model: Annotated[
        Literal["first_touch", "last_touch", "linear", "position_based", "data_driven"],
        Attr(semconv.CAMPAIGN_ATTRIBUTION_MODEL),
    ] = "first_touch"
    """Attribution model that picked the campaign."""
    rule_version: Annotated[str | None, Attr(semconv.CAMPAIGN_RULE_VERSION), Text] = None
    """Version of the attribution / channel rule table used."""


class FormViewed(Event):
    """A form was shown to the visitor."""

    event_name: ClassVar[str] = "form_viewed"
    event_layer: ClassVar[Layer] = "capture"

    form_id: Annotated[Id, Attr(semconv.FORM_ID)]
    """Form id."""
    form_version: Annotated[str | None, Attr(semconv.FORM_VERSION), Text] = None
    """Form version."""


class FormSubmitted(Event):
    """A form was submitted. Carries field names, never values."""

    event_name: ClassVar[str] = "form_submitted"
    event_layer: ClassVar[Layer] = "capture"

    form_id: Annotated[Id, Attr(semconv.FORM_ID)]
    """Form id."""
    form_version: Annotated[str | None, Attr(semconv.FORM_VERSION), Text] = None
    """Form version."""
    field_names: Annotated[
        tuple[Annotated[str, Field(max_length=128)], ...],
        Attr(semconv.FORM_FIELD_NAMES),
        Field(max_length=200),
    ] = ()
    """Names of the submitted fields."""


class ConsentCaptured(Event):
    """A consent decision was captured. ``consent`` is required here."""

    event_name: ClassVar[str] = "consent_captured"
    event_layer: ClassVar[Layer] = "capture"

    consent: ConsentState
    """The decision captured."""


class LeadCreated(Event):
    """A lead was created or matched to an existing record."""

    event_name: ClassVar[str] = "lead_created"
    event_layer: ClassVar[Layer] = "identity"

    lead_id: Annotated[Id, Attr(semconv.LEAD_ID)]
    """Lead id."""
    dedupe_outcome: Annotated[DedupeOutcome, Attr(semconv.LEAD_DEDUPE_OUTCOME)]
    """Deduplication outcome."""
    identity_match: Annotated[
        Literal["matched", "new", "ambiguous", "none"] | None, Attr(semconv.IDENTITY_MATCH)
    ] = None
    """Identity resolution outcome."""


class LeadEnriched(Event):
    """Enrichment finished for a lead (successfully or not)."""

    event_name: ClassVar[str] = "lead_enriched"
    event_layer: ClassVar[Layer] = "enrichment"

    lead_id: Annotated[Id, Attr(semconv.LEAD_ID)]
    """Lead id."""
    provider: Annotated[str | None, Attr(semconv.ENRICHMENT_PROVIDER), Text] = None
    """Enrichment provider."""
    outcome: Annotated[EnrichmentOutcome, Attr(semconv.ENRICHMENT_OUTCOME)] = "enriched"
    """Outcome."""
    fields_added: Annotated[
        tuple[Annotated[str, Field(max_length=128)], ...],
        Attr(semconv.ENRICHMENT_FIELDS_ADDED),
        Field(max_length=200),
    ] = ()
    """Names of the fields filled."""
    lead_score: Annotated[float | None, Attr(semconv.LEAD_SCORE)] = None
    """Score after enrichment."""


class LeadRouted(Event):
    """A lead was assigned to an owner by a routing rule."""

    event_name: ClassVar[str] = "lead_routed"
    event_layer: ClassVar[Layer] = "routing"

    lead_id: Annotated[Id, Attr(semconv.LEAD_ID)]
    """Lead id."""
    routing_rule_id: Annotated[Id, Attr(semconv.ROUTING_RULE_ID)]
    """Rule that decided."""
    routing_rule_version: Annotated[str | None, Attr(semconv.ROUTING_RULE_VERSION), Text] = None
    """Version of the rule set."""
    owner_id: Annotated[str | None, Attr(semconv.ROUTING_OWNER_ID), Text] = None
    """Assigned owner."""
    territory: Annotated[str | None, Attr(semconv.ROUTING_TERRITORY), Text] = None
    """Territory."""
    queue: Annotated[str | None, Attr(semconv.ROUTING_QUEUE), Text] = None
    """Queue."""
    expected_owner_id: Annotated[str | None, Attr(semconv.ROUTING_EXPECTED_OWNER_ID), Text] = None
    """Owner the rules say is right, when a check knows it."""


class CrmUpdated(Event):
    """A record was written to the CRM."""

    event_name: ClassVar[str] = "crm_updated"
    event_layer: ClassVar[Layer] = "crm"

    crm_system: Annotated[Id, Attr(semconv.CRM_SYSTEM)]
    """CRM, e.g. ``hubspot``."""
    crm_object: Annotated[Id, Attr(semconv.CRM_OBJECT)]
    """Object type, e.g. ``contact``."""
    record_id: Annotated[str | None, Attr(semconv.CRM_RECORD_ID), Text] = None
    """Record id (absent when the write failed)."""
    operation: Annotated[CrmOperation, Attr(semconv.CRM_OPERATION)]
    """Operation."""
    lead_id: Annotated[str | None, Attr(semconv.LEAD_ID), Text] = None
    """Lead id."""
    dedupe_outcome: Annotated[DedupeOutcome | None, Attr(semconv.LEAD_DEDUPE_OUTCOME)] = None
    """Dedupe outcome the CRM reported."""
    lead_score: Annotated[float | None, Attr(semconv.LEAD_SCORE)] = None
    """Score written on the record."""
    routing_rule_id: Annotated[str | None, Attr(semconv.ROUTING_RULE_ID), Text] = None
    """Routing rule written on the record."""
    owner_id: Annotated[str | None, Attr(semconv.ROUTING_OWNER_ID), Text] = None
    """Owner written on the record."""


class SalesAcknowledged(Event):
    """Sales acknowledged (first touched) the lead."""

    event_name: ClassVar[str] = "sales_acknowledged"
    event_layer: ClassVar[Layer] = "sales"

    lead_id: Annotated[Id, Attr(semconv.LEAD_ID)]
    """Lead id."""
    owner_id: Annotated[str | None, Attr(semconv.ROUTING_OWNER_ID), Text] = None
    """Owner of the lead."""
    acknowledged_by: Annotated[str | None, Attr(semconv.SALES_ACKNOWLEDGED_BY), Text] = None
    """Sales user id that acknowledged."""


class LeadQualified(Event):
    """The lead reached a qualification stage (MQL, SQL) or was disqualified."""

    event_name: ClassVar[str] = "lead_qualified"
    event_layer: ClassVar[Layer] = "sales"

    lead_id: Annotated[Id, Attr(semconv.LEAD_ID)]
    """Lead id."""
    qualification: Annotated[Qualification, Attr(semconv.LEAD_QUALIFICATION)]
    """Stage reached."""
    lead_score: Annotated[float | None, Attr(semconv.LEAD_SCORE)] = None
    """Score at qualification."""


class OpportunityCreated(Event):
    """An opportunity was created from the lead."""

    event_name: ClassVar[str] = "opportunity_created"
    event_layer: ClassVar[Layer] = "sales"

    opportunity_id: Annotated[Id, Attr(semconv.SALES_OPPORTUNITY_ID)]
    """Opportunity id."""
    lead_id: Annotated[str | None, Attr(semconv.LEAD_ID), Text] = None
    """Lead id."""
    amount: Annotated[float | None, Attr(semconv.SALES_AMOUNT), Field(ge=0)] = None
    """Amount."""
    currency: Annotated[str | None, Attr(semconv.SALES_CURRENCY), Field(pattern=r"^[A-Z]{3}$")] = (
        None
    )
    """ISO 4217 code."""


# --- registry -------------------------------------------------------------------------------------

E = TypeVar("E", bound=type[Event])

_registry: dict[str, dict[str, type[Event]]] = {}
_latest: dict[str, type[Event]] = {}  # per name, its highest version; kept under _lock
_lock = threading.Lock()


def _refresh_latest(name: str) -> None:
    versions = _registry.get(name)
    if versions:
        _latest[name] = versions[max(versions, key=parse_version)]
    else:
        _latest.pop(name, None)


def register(cls: E) -> E:
    """Register an event model (usable as a class decorator); returns it unchanged.

    Raises:
        ConfigError: the name, layer or version is invalid, or another class already holds
            that name and version.
    """
    name, version = cls.event_name, cls.event_version
    if not _EVENT_NAME.match(name or ""):
        raise ConfigError(
            f"event class {cls.__name__} needs event_name in snake_case (e.g. 'demo_booked'), "
            f"got {name!r}"
        )
    if cls.event_layer not in semconv.LAYERS:
        raise ConfigError(
            f"event {name!r}: event_layer must be one of {semconv.LAYERS}, got {cls.event_layer!r}"
        )
    try:
        parse_version(version)
    except ValueError as exc:
        raise ConfigError(f"event {name!r}: {exc}; write e.g. event_version = '1-0-0'") from exc
    with _lock:
        versions = _registry.setdefault(name, {})
        existing = versions.get(version)
        if existing is not None and existing is not cls:
            raise ConfigError(
                f"event {name!r} version {version} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}; published versions are "
                "immutable: bump event_version for the new model"
            )
        versions[version] = cls
        _refresh_latest(name)
    return cls


def unregister(name: str, version: str | None = None) -> None:
    """Remove a registered event (all versions when ``version`` is None). For tests."""
    with _lock:
        if version is None:
            _registry.pop(name, None)
        else:
            _registry.get(name, {}).pop(version, None)
        _refresh_latest(name)


def get(name: str, version: str | None = None) -> type[Event]:
    """Look up an event model by name, and version (latest when omitted).

    Raises:
        UnknownEventError: nothing is registered under that name or version.
    """
    if version is None:
        latest = _latest.get(name)
        if latest is not None:
            return latest
    versions = _registry.get(name)
    if not versions:
        raise UnknownEventError(
            f"unknown event {name!r}; registered events: {sorted(_registry)}. "
            "Register your own with leadtrace.events.register"
        )
    if version is None:
        return versions[max(versions, key=parse_version)]
    try:
        return versions[version]
    except KeyError:
        raise UnknownEventError(
            f"event {name!r} has no version {version!r}; registered: "
            f"{sorted(versions, key=parse_version)}"
        ) from None


def all_events() -> Iterator[type[Event]]:
    """Every registered event model, every version, sorted by name then version."""
    for name in sorted(_registry):
        versions = _registry[name]
        for version in sorted(versions, key=parse_version):
            yield versions[version]


CANONICAL_EVENTS: tuple[type[Event], ...] = (
    SessionStarted,
    CampaignAttributed,
    FormViewed,
    FormSubmitted,
    ConsentCaptured,
    LeadCreated,
    LeadEnriched,
    LeadRouted,
    CrmUpdated,
    SalesAcknowledged,
    LeadQualified,
    OpportunityCreated,
)
"""The twelve canonical events, in revenue-path order."""

for _cls in CANONICAL_EVENTS:
    register(_cls)


# --- field -> attribute maps (built once per class) ----------------------------------------------

_NOT_ATTRIBUTES = frozenset({"occurred_at", "environment", "captured_at"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one model field becomes span attributes."""

    field: str
    attribute: str
    kind: Literal["scalar", "sequence", "datetime", "model", "bool_true"]
    nested: tuple[FieldSpec, ...] = ()
    valid: bool = True
    """Whether every value the field's type allows is a valid OpenTelemetry attribute value
    (text, numbers, flags, sequences of them): then spans need not check it again."""
    max_length: int | None = 0
    """Longest text the field (or each item of a sequence) can hold: 0 when it holds no
    text, None when its type sets no bound (``emit()`` checks those against the value limit)."""


def _max_length(metadata: typing.Iterable[Any]) -> int | None:
    """The ``max_length`` among pydantic field metadata, nested ``Annotated`` types included."""
    for item in metadata:
        found = getattr(item, "max_length", None)
        if isinstance(found, int):
            return found
        nested = getattr(item, "metadata", None)
        if typing.get_origin(item) is Annotated:
            nested = typing.get_args(item)[1:]
        if nested:
            found = _max_length(nested)
            if found is not None:
                return found
    return None


def _text_bound(annotation: Any, metadata: typing.Iterable[Any]) -> int | None:
    """See :attr:`FieldSpec.max_length`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Union or origin is types.UnionType:
        bounds = [_text_bound(a, metadata) for a in args if a is not type(None)]
        if any(b is None for b in bounds):
            return None
        return max((b for b in bounds if b is not None), default=0)
    if origin is Annotated:
        return _text_bound(args[0], [*args[1:], *metadata])
    if origin is Literal:
        return max((len(a) for a in args if isinstance(a, str)), default=0)
    if origin in (tuple, list, frozenset, set):
        items = [a for a in args if a is not Ellipsis]
        bounds = [_text_bound(a, ()) for a in items]
        if any(b is None for b in bounds):
            return None
        return max((b for b in bounds if b is not None), default=0)
    if annotation is str:
        return _max_length(metadata)
    return 0


def _model_type(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation]
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        candidates = list(typing.get_args(annotation))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


_ATTRIBUTE_TYPES: Final = (str, bool, int, float)


def _attribute_typed(annotation: Any, *, in_sequence: bool = False) -> bool:
    """Whether all values of ``annotation`` are valid attribute values (see FieldSpec.valid)."""
    if annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _attribute_typed(args[0], in_sequence=in_sequence)
    if origin is Union or origin is types.UnionType:
        return all(_attribute_typed(a, in_sequence=in_sequence) for a in args)
    if origin is Literal:
        return all(isinstance(a, _ATTRIBUTE_TYPES) for a in args)
    if origin in (tuple, list, frozenset, set) and not in_sequence:
        items = [a for a in args if a is not Ellipsis]
        return bool(items) and all(_attribute_typed(a, in_sequence=True) for a in items)
    return isinstance(annotation, type) and issubclass(annotation, _ATTRIBUTE_TYPES)


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_is_sequence(a) for a in typing.get_args(annotation))
    return origin in (tuple, list, frozenset, set)


def build_spec(model: type[BaseModel], prefix: str) -> tuple[FieldSpec, ...]:
    """Compute the field -> attribute map of a model (cached by :func:`spec_for`)."""
    specs: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        if name in _NOT_ATTRIBUTES:
            continue
        nested = _model_type(info.annotation)
        if nested is not None:
            specs.append(FieldSpec(name, "", "model", build_spec(nested, f"{prefix}.{name}")))
            continue
        attr = next((m.name for m in info.metadata if isinstance(m, Attr)), f"{prefix}.{name}")
        kind: Literal["scalar", "sequence", "datetime", "bool_true"] = "scalar"
        if _is_sequence(info.annotation):
            kind = "sequence"
        elif info.annotation is datetime:
            kind = "datetime"
        elif name == "synthetic":
            kind = "bool_true"
        valid = kind in ("datetime", "bool_true") or _attribute_typed(info.annotation)
        bound = _text_bound(info.annotation, info.metadata) if kind in ("scalar", "sequence") else 0
        specs.append(FieldSpec(name, attr, kind, valid=valid, max_length=bound))
    return tuple(specs)


_specs: dict[type[BaseModel], tuple[FieldSpec, ...]] = {}


def spec_for(model: type[Event]) -> tuple[FieldSpec, ...]:
    """The cached field -> attribute map of an event class."""
    spec = _specs.get(model)
    if spec is None:
        spec = build_spec(model, model.attribute_prefix or f"martech.{model.event_name}")
        _specs[model] = spec
    return spec


@dataclass(frozen=True, slots=True)
class AttributePlan:
    """A field -> attribute map compiled for speed: one flat loop per kind of field.

    ``emit()`` runs this on every event, so it avoids per-field dispatch; build it once per
    model with :func:`compile_plan`.
    """

    scalars: tuple[tuple[str, str], ...]
    sequences: tuple[tuple[str, str], ...]
    flags: tuple[tuple[str, str], ...]
    datetimes: tuple[tuple[str, str], ...]
    nested: tuple[tuple[str, AttributePlan], ...]
    attribute_names: tuple[str, ...]
    """Every attribute this plan can write, nested models included."""
    text_names: tuple[str, ...] = ()
    """The own attributes whose values callers supply as text (scalars and sequences): the
    ones a scrubber has to look at. Flags and timestamps are written by leadtrace."""
    valid: bool = True
    """Whether every attribute :meth:`write` can produce is a valid OpenTelemetry value as it
    is (sequences are written as tuples), nested models included."""
    text_bounds: tuple[tuple[str, int | None], ...] = ()
    """``(attribute, longest text it can hold)`` for every own text attribute (nested models
    have their own plans); None where the type sets no bound."""

    def write(self, obj: BaseModel, out: dict[str, Any]) -> None:
        """Write the attributes of ``obj`` into ``out`` (None values skipped)."""
        get = obj.__dict__.get  # pydantic keeps field values here; a partial event may lack some
        for name, attr in self.scalars:
            value = get(name)
            if value is not None:
                out[attr] = value
        for name, plan in self.nested:
            value = get(name)
            if value is not None:
                plan.write(value, out)
        for name, attr in self.sequences:
            value = get(name)
            if value:
                out[attr] = tuple(sorted(value)) if isinstance(value, frozenset) else tuple(value)
        for name, attr in self.flags:
            if get(name):
                out[attr] = True
        for name, attr in self.datetimes:
            value = get(name)
            if value is not None:
                out[attr] = value.isoformat()


def compile_plan(spec: tuple[FieldSpec, ...]) -> AttributePlan:
    """Compile a spec from :func:`build_spec` into an :class:`AttributePlan`."""

    def of(kind: str) -> tuple[tuple[str, str], ...]:
        return tuple((fs.field, fs.attribute) for fs in spec if fs.kind == kind)

    nested = tuple((fs.field, compile_plan(fs.nested)) for fs in spec if fs.kind == "model")
    own = tuple(fs.attribute for fs in spec if fs.kind != "model")
    names = list(own)
    for _, plan in nested:
        names.extend(plan.attribute_names)
    scalars = of("scalar")
    sequences = of("sequence")
    return AttributePlan(
        scalars=scalars,
        sequences=sequences,
        flags=of("bool_true"),
        datetimes=of("datetime"),
        nested=nested,
        attribute_names=tuple(names),
        text_names=tuple(attr for _, attr in (*scalars, *sequences)),
        valid=all(fs.valid for fs in spec if fs.kind != "model")
        and all(plan.valid for _, plan in nested),
        text_bounds=tuple((fs.attribute, fs.max_length) for fs in spec if fs.max_length != 0),
    )


_plans: dict[type[BaseModel], AttributePlan] = {}


def plan_for(model: type[Event]) -> AttributePlan:
    """The cached attribute plan of an event class."""
    try:
        return _plans[model]
    except KeyError:
        plan = _plans[model] = compile_plan(spec_for(model))
        return plan


def attribute_names(model: type[Event]) -> dict[str, str]:
    """Map of dotted field path -> attribute name for an event class (for docs and contracts)."""
    result: dict[str, str] = {}

    def walk(spec: tuple[FieldSpec, ...], path: str) -> None:
        for fs in spec:
            if fs.kind == "model":
                walk(fs.nested, f"{path}{fs.field}.")
            else:
                result[f"{path}{fs.field}"] = fs.attribute

    walk(spec_for(model), "")
    return result
