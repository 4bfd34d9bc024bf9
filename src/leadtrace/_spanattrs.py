"""Setting attributes leadtrace built itself on SDK spans without validating each one again.

The SDK checks every value passed to ``set_attributes`` (type, sequence contents, limits):
about half a microsecond per attribute, paid on every span the business-context processor
fills.
leadtrace's own attributes are valid by construction (text, numbers, flags, tuples of text),
so when the span is the SDK's own type, still recording, without a value-length limit (or
one no value reaches) and with room under its attribute-count limit, they go straight into
its attribute dict under the span's lock. Anything else (another span type, a limit that
could truncate or drop) takes ``set_attributes``, so the result is the same either way.

Owns: bulk attribute writes onto SDK spans leadtrace built itself.

May import: nothing of leadtrace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import sampling
from opentelemetry.trace import Span, Tracer

__all__ = ["add_attributes", "attribute_blind", "has_events", "stored_attributes"]


def add_attributes(
    span: Span, attributes: Mapping[str, Any], *, max_length: int | None = None
) -> None:
    """Set ``attributes``: valid attribute values, sequences as tuples (as the SDK keeps them).

    ``max_length``, when given, promises that no text value is longer: a span whose value
    length limit is at least that needs no truncation, so it keeps the fast path.
    """
    stored: Any = getattr(span, "_attributes", None)
    lock: Any = getattr(span, "_lock", None)
    if (
        stored.__class__ is BoundedAttributes
        and lock is not None
        and (
            stored.max_value_len is None
            or (max_length is not None and stored.max_value_len >= max_length)
        )
        and not stored._immutable
        and (stored.maxlen is None or len(stored._dict) + len(attributes) <= stored.maxlen)
    ):
        with lock:
            if getattr(span, "_end_time", None) is None:
                stored._dict.update(attributes)
                return
    span.set_attributes(attributes)


def stored_attributes(span: Any) -> Mapping[str, Any]:
    """A finished span's attributes as the plain dict the SDK keeps them in (read only).

    ``ReadableSpan.attributes`` wraps the SDK's ``BoundedAttributes``, whose every read runs in
    Python: about 5 µs for 15 attributes, paid per exported span when delivery checks them.
    Falls back to the public property for any other span type.
    """
    stored = getattr(span, "_attributes", None)
    if stored.__class__ is BoundedAttributes:
        inner = getattr(stored, "_dict", None)
        if inner.__class__ is dict:
            return inner
    elif stored.__class__ is dict:
        return stored
    return span.attributes or {}


def has_events(span: Any) -> bool:
    """Whether a finished span has events, without copying them (``span.events`` does)."""
    stored = getattr(span, "_events", None)
    if stored is not None:
        try:
            return len(stored) > 0
        except TypeError:
            pass
    return bool(span.events)


_BLIND_SAMPLERS = (sampling.StaticSampler, sampling.TraceIdRatioBased)
_PARENT_DELEGATES = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)


def attribute_blind(tracer: Tracer) -> bool:
    """Whether ``tracer`` samples without looking at span attributes.

    True for the SDK's own samplers (always on/off, trace-id ratio, parent-based over
    those): then attributes may be added right after the span starts instead of at
    creation. A custom sampler may read them, so it gets every attribute up front.
    """

    def blind(sampler: object) -> bool:
        if type(sampler) in (sampling.ParentBased, sampling.ParentBasedTraceIdRatio):
            return all(blind(getattr(sampler, name, None)) for name in _PARENT_DELEGATES)
        return type(sampler) in _BLIND_SAMPLERS

    return blind(getattr(tracer, "sampler", None))
