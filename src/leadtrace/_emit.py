"""``emit()``: one canonical event becomes one span, with a quality verdict.

The span is named by the event and carries the envelope, the payload and the journey's
business attributes; its start time is the event's ``occurred_at``. Validation follows the
mode: ``strict`` raises :class:`~leadtrace.errors.EventValidationError`; ``lenient`` keeps the
valid part, marks ``martech.quality.valid=false`` with violation locations and types (never
values), counts the failure and logs one failed-event record. Nothing is silently dropped.

Owns: the emit path, one way: build and validate the event (``events``) -> its attributes
(journey from ``context`` + the event's own) -> privacy (consent drop here, identity keys from
``privacy`` via the event, scrubbing with the ``scrubbing`` processor handed over by the
runtime) -> the span (``_sdk``) -> the event hooks (SLI counts, audit trail) the runtime
installed.

May import: ``_active`` (the handle in use), ``_guard``, ``_sdk``, ``context``,
``errors``, ``events``, ``logging`` (the failed-event log), ``scrubbing`` and ``semconv``; never
``_runtime``, whose handle it receives.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from leadtrace import events, semconv
from leadtrace._active import current
from leadtrace._guard import internal_error
from leadtrace._sdk import add_attributes
from leadtrace.context import BusinessContext, current_journey
from leadtrace.errors import ArgumentTypeError, EventValidationError, Violation
from leadtrace.events import (
    AttributePlan,
    Event,
    UnknownEventError,
    get,
    new_event_id,
    plan_for,
    spec_for,
)
from leadtrace.scrubbing import trusted_span as _trusted_span

if TYPE_CHECKING:
    from leadtrace._runtime import Leadtrace
    from leadtrace.scrubbing import ScrubbingSpanProcessor

__all__ = ["coerce_event", "emit", "event_attributes"]

_EMPTY = (None, "", ())
UNKNOWN_EVENT_LABEL = "_unknown"
"""Metric label used for event names that are not registered (bounded cardinality)."""

_LATE_KEYS = (semconv.EVENT_NAME, semconv.QUALITY_VIOLATIONS)
"""Attributes set after the event's own fields were scrubbed that may hold caller text."""
_IDENTITY_KEYS = (
    semconv.IDENTITY_EMAIL_HASH,
    semconv.IDENTITY_PHONE_HASH,
    semconv.IDENTITY_ANONYMOUS_ID,
    semconv.IDENTITY_CONTACT_ID,
    semconv.IDENTITY_ACCOUNT_ID,
)


def emit(event: Event | str | type[Event], /, **fields: Any) -> str:
    """Emit a canonical event as one span and return its event id.

    Pass a built event, or an event name / class and its fields::

        leadtrace.emit(LeadRouted(lead_id="L-1", routing_rule_id="emea", owner_id="U-7"))
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="emea", owner_id="U-7")

    The second form validates inside leadtrace, so lenient mode can keep an invalid event
    instead of raising. Envelope fields left empty (journey id, campaign, consent, identity)
    come from the current journey.

    Raises:
        EventValidationError: strict mode only: names the event, the field and the rule.
    """
    runtime = current()
    cls: type = type(event)
    if not fields and (cls in _EVENT_TYPES or _is_event_type(cls)):
        if not (runtime._enabled or runtime.enabled):
            return event.event_id  # type: ignore[union-attr]  # nothing records; it is valid
        built: Event = event  # type: ignore[assignment]
        return _emit_event(runtime, cls, built.event_name, built, built.event_id, ())
    return emit_with(runtime, event, fields)


_EVENT_TYPES: set[type] = set()
"""Event classes seen by emit(): a set lookup instead of an ABC isinstance check per call."""


def _is_event_type(cls: type) -> bool:
    if issubclass(cls, Event):
        _EVENT_TYPES.add(cls)
        return True
    return False


def _violations(exc: ValidationError) -> list[Violation]:
    return [
        Violation(
            location=".".join(str(p) for p in err["loc"]) or "<event>",
            type=err["type"],
            message=err["msg"],
        )
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


@functools.cache
def _lenient_model(cls: type[Event]) -> type[BaseModel]:
    """A twin of ``cls`` where every field is optional: validates whatever part is valid."""
    definitions: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        annotation: Any = info.annotation
        optional = (
            Annotated[(annotation | None, *info.metadata)] if info.metadata else annotation | None
        )
        definitions[name] = (optional, None)
    return create_model(
        f"{cls.__name__}Partial",
        __config__=ConfigDict(extra="ignore", arbitrary_types_allowed=True),
        **definitions,
    )


def coerce_event(
    event: Event | str | type[Event], fields: Mapping[str, Any], *, strict: bool
) -> tuple[type[Event] | None, str, Event | None, list[Violation]]:
    """Turn ``emit()``'s arguments into ``(class, name, instance, violations)``.

    In strict mode an invalid event raises; in lenient mode the instance holds the valid
    fields only (missing required ones stay unset) and ``violations`` lists the rest.
    """
    if isinstance(event, Event):
        if not fields:
            return type(event), event.event_name, event, []
        merged = {**event.model_dump(exclude={"schema_version"}), **fields}
        return coerce_event(type(event), merged, strict=strict)
    if isinstance(event, str):
        try:
            cls = get(event)
        except UnknownEventError as exc:
            if strict:
                raise EventValidationError(
                    event, [Violation("<event>", "unknown_event", str(exc))]
                ) from None
            return None, event[:128], None, [Violation("<event>", "unknown_event")]
    elif isinstance(event, type) and issubclass(event, Event):
        cls = event
    else:
        given = type(event).__name__
        raise ArgumentTypeError("emit", "event", given, "an Event, its class or its name")
    try:
        return cls, cls.event_name, cls.model_validate(dict(fields)), []
    except ValidationError as exc:
        violations = _violations(exc)
    if strict:
        raise EventValidationError(cls.event_name, violations) from None
    bad = {v.location.split(".", 1)[0] for v in violations}
    good = {k: v for k, v in fields.items() if k not in bad and k in cls.model_fields}
    partial = _lenient_model(cls).model_validate(good)
    values = {k: getattr(partial, k) for k in partial.model_fields_set}
    values.setdefault("event_id", new_event_id())
    instance = cls.model_construct(**values)
    return cls, cls.event_name, instance, violations


@functools.cache
def _class_attributes(cls: type[Event]) -> dict[str, str]:
    """Attributes every event of ``cls`` carries, computed once per class."""
    return {
        semconv.EVENT_NAME: cls.event_name,
        semconv.EVENT_SCHEMA_VERSION: cls.event_version,
        semconv.EVENT_LAYER: cls.event_layer,
        semconv.JOURNEY_STAGE: cls.event_name,
    }


def event_attributes(
    cls: type[Event] | None,
    instance: Event | None,
    journey: BusinessContext | None,
    scrubber: ScrubbingSpanProcessor | None = None,
) -> dict[str, Any]:
    """Span attributes of an event: journey context first, the event's own fields over it.

    With a ``scrubber`` the attributes come back already scrubbed.
    """
    if cls is None or instance is None:
        return dict(journey.attributes) if journey is not None else {}
    if journey is not None:
        # Journey attributes plus the class's own, merged (and scrubbed) once per journey
        # and event class.
        base = journey.event_bases.get(cls)
        if base is None:
            base = {**journey.attributes, **_class_attributes(cls)}
            if scrubber is not None:
                redacted = scrubber.scrub_attributes(base)
                if redacted:
                    base[semconv.REDACTED] = tuple(redacted)
            journey.event_bases[cls] = base
        attrs = base.copy()
    else:
        attrs = dict(_class_attributes(cls))
    plan = plan_for(cls)
    plan.write(instance, attrs)
    values = instance.__dict__
    if scrubber is not None:
        # Only the event's own fields are new here; the base was scrubbed with the journey.
        redacted = scrubber.scrub_keys(attrs, plan.text_names)
        for field, nested in plan.nested:
            if values.get(field) is not None:  # rare: the event carries its own campaign...
                redacted = [*redacted, *scrubber.scrub_keys(attrs, nested.attribute_names)]
        if redacted:
            attrs[semconv.REDACTED] = tuple(sorted({*redacted, *attrs.get(semconv.REDACTED, ())}))
    own_consent = values.get("consent")
    if values.get("identity") is not None or own_consent is not None:
        # The event's own consent (e.g. a withdrawal) wins over the journey's, for its own
        # identity keys and for the ones it inherited from the journey alike.
        consent = own_consent or (journey.consent if journey else None)
        if consent is None or not consent.allows(semconv.CONSENT_PURPOSE_ANALYTICS):
            dropped = [key for key in _IDENTITY_KEYS if attrs.pop(key, None) is not None]
            if dropped or values.get("identity") is not None:
                status = consent.status if consent is not None else "unknown"
                attrs[semconv.CONSENT_DROPPED_REASON] = (
                    f"analytics consent {status}: identity keys dropped"
                )
    return attrs


def emit_with(
    runtime: Leadtrace, event: Event | str | type[Event], fields: Mapping[str, Any]
) -> str:
    """``emit()`` against an explicit runtime handle."""
    try:
        cls, name, instance, violations = coerce_event(event, fields, strict=runtime.strict)
    except EventValidationError:
        raise
    except Exception as exc:
        internal_error(exc, "emit.coerce_event")
        cls, instance = None, None
        name = getattr(event, "event_name", None) or str(event)[:128]
        violations = [Violation("<event>", "conversion_error")]
    event_id = getattr(instance, "event_id", None) or new_event_id()
    return _emit_event(runtime, cls, name, instance, event_id, violations)


def _emit_event(
    runtime: Leadtrace,
    cls: type[Event] | None,
    name: str,
    instance: Event | None,
    event_id: str,
    violations: Sequence[Violation],
) -> str:
    """Build the span of one coerced event; never raises in lenient mode.

    This runs on every event: it is written for speed (few calls, cached merges).
    """
    try:
        journey = current_journey()
        scrubber = runtime.scrubber
        attrs = event_attributes(cls, instance, journey, scrubber)
        attrs.setdefault(semconv.EVENT_ID, event_id)  # a known event's was written (scrubbed)
        if cls is None:
            attrs[semconv.EVENT_NAME] = name
        if instance is not None and "occurred_at" in instance.__pydantic_fields_set__:
            start_ns = int(instance.occurred_at.timestamp() * 1e9)
        elif events._clock is events._utc_now:
            start_ns = time.time_ns()
        else:
            start_ns = int(events.now().timestamp() * 1e9)
        if journey is not None:
            attrs[semconv.JOURNEY_ELAPSED] = (start_ns - journey.started_at_ns) / 1e9
        required = runtime.contracts.stages.get(name)
        if required:
            present = [*map(attrs.get, required)]
            if any(map(_EMPTY.__contains__, present)):
                missing = tuple(k for k, v in zip(required, present, strict=True) if v in _EMPTY)
                attrs[semconv.QUALITY_COMPLETE] = False
                attrs[semconv.QUALITY_MISSING] = missing
            else:
                attrs[semconv.QUALITY_COMPLETE] = True
        if cls is not None and instance is not None:
            limit = runtime.settings.attribute_value_limit
            values = instance.__dict__
            names: tuple[str, ...] = ()
            for field, more in _unbounded_cache.get((cls, limit)) or _unbounded(cls, limit):
                if values.get(field) is not None:
                    names += more
            if names:
                cut = _cut(attrs, names, limit)
                if cut:
                    violations = [*violations, *(Violation(key, "truncated") for key in cut)]
        if violations:
            attrs[semconv.QUALITY_VALID] = False
            attrs[semconv.QUALITY_VIOLATIONS] = tuple(str(v) for v in violations)
        if scrubber is not None and (cls is None or violations):
            # Caller-chosen names, and an unknown event's journey attributes (not scrubbed yet).
            name = scrubber.scrub_late(attrs, name, None if cls is None else _LATE_KEYS)
        if cls is not None and runtime.attributes_after_start and plan_for(cls).valid:
            # Every value is a valid attribute already (validated by the event model, built
            # by leadtrace): start the span with the ones that name it and add the rest
            # without the SDK checking each value again (see _sdk).
            head = _class_attributes(cls)
            if journey is not None:
                head = {**head, semconv.JOURNEY_ID: attrs[semconv.JOURNEY_ID]}
            span = runtime.tracer.start_span(name, attributes=head, start_time=start_ns)
            add_attributes(span, attrs, max_length=runtime.settings.attribute_value_limit)
        else:
            span = runtime.tracer.start_span(name, attributes=attrs, start_time=start_ns)
        if scrubber is None:
            span.end(end_time=start_ns)
        else:
            trusted = _trusted_span
            trusted.context = span.get_span_context()
            try:
                span.end(end_time=start_ns)
            finally:
                trusted.context = None
        if violations:
            _record_failed(runtime, name, event_id, violations, known=cls is not None)
        if runtime.event_hooks and instance is not None:
            for hook in runtime.event_hooks:
                hook(instance, attrs)
    except Exception as exc:
        internal_error(exc, "emit")
    return event_id


Unbounded = tuple[tuple[str, tuple[str, ...]], ...]
_unbounded_cache: dict[tuple[type[Event], int], Unbounded] = {}


def _unbounded(cls: type[Event], limit: int) -> Unbounded:
    """``(field, attributes)`` of ``cls``'s fields that may hold text longer than ``limit``:
    its own text fields, and nested models (identity, consent...) with such fields. emit()
    checks a field's attributes only when the event itself carries a value for it; what the
    journey adds is checked where every span is, at export."""
    key = (cls, limit)
    found = _unbounded_cache.get(key)
    if found is not None:
        return found

    def longer(plan: AttributePlan) -> tuple[str, ...]:
        return tuple(n for n, bound in plan.text_bounds if bound is None or bound > limit)

    plan = plan_for(cls)
    own = longer(plan)
    fields: list[tuple[str, tuple[str, ...]]] = [
        (spec.field, (spec.attribute,)) for spec in spec_for(cls) if spec.attribute in own
    ]
    fields += [(field, longer(inner)) for field, inner in plan.nested if longer(inner)]
    found = _unbounded_cache[key] = tuple(fields)
    return found


def _cut(attrs: dict[str, Any], names: tuple[str, ...], limit: int) -> list[str]:
    """Cut the values of ``names`` to ``limit`` characters; returns the names cut."""
    cut = []
    for name in names:
        value = attrs.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            if len(value) > limit:
                attrs[name] = value[:limit]
                cut.append(name)
        elif isinstance(value, tuple) and any(len(str(v)) > limit for v in value):
            attrs[name] = tuple(v[:limit] if isinstance(v, str) else v for v in value)
            cut.append(name)
    return cut


def _record_failed(
    runtime: Leadtrace,
    name: str,
    event_id: str,
    violations: Sequence[Violation],
    *,
    known: bool,
) -> None:
    from leadtrace.logging import failed_event_log

    # Unregistered names come from callers: one overflow label keeps the series bounded.
    label = name if known else UNKNOWN_EVENT_LABEL
    runtime.instruments.invalid_events.add(1, {semconv.EVENT_NAME: label})
    failed_event_log().warning(
        "failed_event",
        failed_event=name,
        event_id=event_id,
        violations=[{"location": v.location, "type": v.type} for v in violations],
    )
