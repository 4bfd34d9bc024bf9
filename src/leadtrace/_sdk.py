"""Every use of an OpenTelemetry private, in one place, each with a public-API twin.

leadtrace reads and writes a few fields OpenTelemetry keeps private, because the public
API either copies on every call (``span.attributes`` wraps the attribute dict in a new
proxy; ``span.events`` copies the list) or has no way to do it at all (scrubbing a span
that has ended; putting our processors ahead of an app's exporters). Those fields can
change in any release, so:

- they are touched here and nowhere else (``tests/test_sdk_adapter.py`` fails on a private
  read anywhere else in ``src/``);
- at import, :data:`PRIVATES` probes a real SDK span, provider and context once: every
  field must be there with the shape leadtrace relies on, or none is used;
- every function has a public-API twin, used when the probe fails or when
  ``LEADTRACE_SDK_PRIVATES=off`` (how the tests run the twins on the newest SDK).

With the twins, behaviour is the same except where the public API cannot do it:

- a span is scrubbed by handing a scrubbed copy to the processor the scrubber wraps
  (``ScrubbingSpanProcessor(forward_to=...)``), so ``configure()`` wraps every exporting
  processor it adds; a span processor an app added to its provider before ``configure()``
  sees spans unscrubbed, and ``configure()`` warns about it;
- our processors are appended after the app's instead of put ahead of them.

The supported and tested range is in docs/compatibility.md.

Owns: the OpenTelemetry privates leadtrace uses, their probe and their public twins.

May import: nothing of leadtrace.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider, sampling
from opentelemetry.trace import Link, Status

__all__ = [
    "ENV",
    "PRIVATES",
    "add_attributes",
    "attribute_blind",
    "attribute_dict",
    "baggage_key",
    "context_variable",
    "ended_parts",
    "global_tracer_provider",
    "has_events",
    "instrumented_app",
    "on_ending",
    "plain_mapping",
    "prepend_processors",
    "rewrite_ended",
    "span_processors",
    "stored_attributes",
]

ENV: Final = "LEADTRACE_SDK_PRIVATES"
"""Set to ``off`` to use only OpenTelemetry's public API (slower; see the module docstring)."""


def _probe() -> bool:
    """Whether every private leadtrace relies on is present with the expected shape."""
    try:
        provider = TracerProvider(shutdown_on_exit=False)
        multi = provider._active_span_processor
        if not isinstance(multi._span_processors, tuple) or multi._lock is None:
            return False
        span: Any = provider.get_tracer("leadtrace.probe").start_span("probe", attributes={"a": 1})
        stored = span._attributes
        if stored.__class__ is not BoundedAttributes or stored._dict.__class__ is not dict:
            return False
        if stored._immutable is not False or span._lock is None or span._end_time is not None:
            return False
        span.add_event("e")
        span.end()
        if span._name != "probe" or span._status._description is not None:
            return False
        if len(span._events._dq) != 1 or len(span._links._dq) != 0:
            return False
        variable = getattr(otel_context._RUNTIME_CONTEXT, "_current_context", None)
        if not isinstance(variable, contextvars.ContextVar):
            return False
        if not isinstance(baggage._BAGGAGE_KEY, str):
            return False
        trace._TRACER_PROVIDER  # noqa: B018 - the read is the probe
        return all(
            hasattr(sampling.ParentBased(sampling.ALWAYS_ON), name) for name in _PARENT_DELEGATES
        )
    except Exception:
        return False


_PARENT_DELEGATES: Final = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)

PRIVATES: Final[bool] = os.environ.get(ENV, "").strip().lower() != "off" and _probe()
"""Whether the privates are in use (the probe passed and ``LEADTRACE_SDK_PRIVATES`` is not
``off``). Decided once, at import."""


# Spans being recorded ------------------------------------------------------------------


def add_attributes(
    span: trace.Span, attributes: Mapping[str, Any], *, max_length: int | None = None
) -> None:
    """Set ``attributes`` that leadtrace built itself (valid values, sequences as tuples).

    The SDK checks every value ``set_attributes`` is given (type, contents, limits): about
    half a microsecond per attribute. leadtrace's own attributes are valid by construction,
    so on an SDK span that is still recording, without a value-length limit (or one that
    ``max_length``, the longest text value, stays within) and with room under its
    attribute-count limit, they go straight into its attribute dict under the span's lock.
    Anything else takes ``set_attributes``: the result is the same either way.
    """
    if PRIVATES:
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


def attribute_dict(span: Any) -> Mapping[str, Any]:
    """A span's attributes to read, without the proxy ``span.attributes`` builds per call.

    Read only: for a recording span it is the live dict the SDK keeps."""
    if PRIVATES:
        stored = getattr(span, "_attributes", None)
        if stored.__class__ is BoundedAttributes:
            inner = stored._dict
            if inner.__class__ is dict:
                return inner
        elif stored.__class__ is dict:
            return stored
    return span.attributes or {}


stored_attributes = attribute_dict
"""A finished span's attributes as a plain mapping (read only): ``ReadableSpan.attributes``
runs in Python on every read, about 5 µs for 15 attributes per exported span."""


def has_events(span: Any) -> bool:
    """Whether a span has events, without copying them (``span.events`` does)."""
    if PRIVATES:
        stored = getattr(span, "_events", None)
        if stored is not None:
            try:
                return len(stored) > 0
            except TypeError:
                pass
    return bool(span.events)


def plain_mapping(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """The dict behind a ``BoundedAttributes`` (its reads run in Python), else ``attributes``."""
    if PRIVATES and attributes.__class__ is BoundedAttributes:
        inner = getattr(attributes, "_dict", None)
        if inner.__class__ is dict:
            return inner
    return attributes


# Ended spans (scrubbing) -----------------------------------------------------------------


def ended_parts(span: Any) -> tuple[Mapping[str, Any], str, bool] | None:
    """``(attributes, name, rare)`` of an ended SDK span read from its own fields, where
    ``rare`` says it has a status description, events or links; None when that cannot be
    done (another span type, or no privates): then use the public properties."""
    if not PRIVATES:
        return None
    try:
        return (
            span._attributes._dict,
            span._name,
            bool(span._status._description is not None or span._events._dq or span._links._dq),
        )
    except AttributeError:
        return None


def rewrite_ended(
    span: ReadableSpan,
    *,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    status: Status | None = None,
    events: Sequence[tuple[int, str | None, Mapping[str, Any] | None]] = (),
    links: Sequence[tuple[int, Mapping[str, Any]]] = (),
) -> ReadableSpan:
    """``span`` with the given parts replaced; returns the span to hand on.

    ``events`` and ``links`` list ``(index, new name or None, new attributes or None)`` and
    ``(index, new attributes)``. With the privates, ``span`` itself is changed (every
    processor after the scrubber sees the change) and returned. Without them a changed copy
    is returned: only the processor the caller hands it to sees the change.
    """
    if PRIVATES and hasattr(span, "_attributes"):
        span_any: Any = span
        for index, event_name, event_attributes in events:
            event: Any = span.events[index]
            if event_name is not None:
                event._name = event_name
            if event_attributes is not None:
                event._attributes = _frozen(event_attributes)
        for index, link_attributes in links:
            link: Any = span.links[index]
            link._attributes = _frozen(link_attributes)
        if status is not None:
            span_any._status = status
        if name is not None:
            span_any._name = name
        if attributes is not None:
            span_any._attributes = _frozen(attributes)
        return span
    new_events = list(span.events)
    for index, event_name, event_attributes in events:
        old = new_events[index]
        new_events[index] = Event(
            event_name if event_name is not None else old.name,
            _frozen(event_attributes) if event_attributes is not None else old.attributes,
            old.timestamp,
        )
    new_links = list(span.links)
    for index, link_attributes in links:
        new_links[index] = Link(new_links[index].context, _frozen(link_attributes))
    return ReadableSpan(
        name=name if name is not None else span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_frozen(attributes) if attributes is not None else span.attributes,
        events=new_events,
        links=new_links,
        kind=span.kind,
        status=status if status is not None else span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _frozen(attributes: Mapping[str, Any]) -> BoundedAttributes:
    return BoundedAttributes(attributes=attributes, immutable=True, max_value_len=None)


# Providers and processors ----------------------------------------------------------------


def span_processors(provider: object) -> tuple[SpanProcessor, ...]:
    """The span processors installed on an SDK ``provider`` (empty when unknown)."""
    if not PRIVATES:
        return ()
    multi = getattr(provider, "_active_span_processor", None)
    found = getattr(multi, "_span_processors", ())
    return found if isinstance(found, tuple) else ()


def prepend_processors(provider: TracerProvider, processors: Sequence[SpanProcessor]) -> bool:
    """Put ``processors`` ahead of the ones already on ``provider``; True if done.

    The SDK only appends, so a processor an app added earlier would otherwise see each span
    before ours do. Without the privates they are appended and False is returned.
    """
    if PRIVATES:
        multi: Any = getattr(provider, "_active_span_processor", None)
        current = getattr(multi, "_span_processors", None)
        lock = getattr(multi, "_lock", None)
        if isinstance(current, tuple) and lock is not None:
            with lock:
                multi._span_processors = tuple(processors) + multi._span_processors
            return True
    for processor in processors:
        provider.add_span_processor(processor)
    return False


def on_ending(processor: SpanProcessor) -> Callable[[Any], None] | None:
    """``processor``'s hook for a span that is ending but still writable (the SDK calls
    ``_on_ending`` since 1.31; earlier releases have none)."""
    hook = getattr(processor, "_on_ending", None)
    return hook if callable(hook) else None


_BLIND_SAMPLERS: Final = (sampling.StaticSampler, sampling.TraceIdRatioBased)


def attribute_blind(tracer: trace.Tracer) -> bool:
    """Whether ``tracer`` samples without looking at span attributes.

    True for the SDK's own samplers (always on/off, trace-id ratio, parent-based over
    those): then attributes may be added right after the span starts instead of at
    creation. A custom sampler may read them, so it gets every attribute up front; so does
    a parent-based one when its delegates cannot be read (no privates).
    """

    def blind(sampler: object) -> bool:
        if type(sampler) in (sampling.ParentBased, sampling.ParentBasedTraceIdRatio):
            if not PRIVATES:
                return False
            return all(blind(getattr(sampler, name, None)) for name in _PARENT_DELEGATES)
        return type(sampler) in _BLIND_SAMPLERS

    return blind(getattr(tracer, "sampler", None))


# The API's globals -------------------------------------------------------------------------


def context_variable() -> contextvars.ContextVar[otel_context.Context] | None:
    """The context variable behind OpenTelemetry's default runtime context, if in use.

    Reading it directly skips three Python calls per lookup; ``current_journey`` runs for
    every span started inside a journey. None: use ``otel_context.get_current()``.
    """
    if not PRIVATES:
        return None
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime).__name__ != "ContextVarsRuntimeContext":
        return None
    variable = getattr(runtime, "_current_context", None)
    return variable if isinstance(variable, contextvars.ContextVar) else None


def global_tracer_provider() -> object:
    """The globally set tracer provider, without creating the API's proxy fallback (None
    when none is set)."""
    if PRIVATES:
        return getattr(trace, "_TRACER_PROVIDER", None)
    provider = trace.get_tracer_provider()
    return None if type(provider) is trace.ProxyTracerProvider else provider


def instrumented_app(app: object) -> bool:
    """Whether OpenTelemetry's Flask instrumentation has instrumented ``app`` (the flag its
    ``instrument_app`` sets; it has no public query). Only used to warn."""
    return bool(getattr(app, "_is_instrumented_by_opentelemetry", False))


def baggage_key() -> str | None:
    """The context key OpenTelemetry keeps baggage under (None when unknown)."""
    if not PRIVATES:
        return None
    key = getattr(baggage, "_BAGGAGE_KEY", None)
    return key if isinstance(key, str) else None
