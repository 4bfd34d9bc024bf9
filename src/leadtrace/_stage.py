"""``@stage``: a span around an integration function, named by its stage of the revenue path.

::

    @leadtrace.stage("lead_routed", capture=["lead_id"],
                     result=lambda r: {"routing_rule_id": r.rule, "owner_id": r.owner})
    def route(lead_id: str, payload: dict) -> Assignment: ...

- Works on sync, async, generator and async generator functions.
- No argument is recorded unless named in ``capture``.
- An exception is recorded on the span with ``martech.failure.layer`` and re-raised; the
  stage's event goes to the event hooks marked failed, so the SLIs that name the stage count
  it as not good (``docs/slo.md``, "How failures count").
- ``result`` turns the return value into the stage event's fields: the span then carries the
  event's attributes and quality verdict, exactly as ``emit()`` would.

Owns: ``@stage``: the span around a user function and its stage event.

May import: ``_active``, ``_emit`` (event building, shared with ``emit()``), ``_guard``,
``_wrapping``, ``context``, ``errors``, ``events`` and ``semconv``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode, set_span_in_context

from leadtrace import semconv
from leadtrace._active import current
from leadtrace._emit import coerce_event, event_attributes
from leadtrace._guard import internal_error
from leadtrace._wrapping import scoped_async_generator, scoped_generator
from leadtrace.context import current_journey
from leadtrace.errors import ConfigError, EventValidationError
from leadtrace.events import Event, UnknownEventError, attribute_names, get

__all__ = ["stage"]

F = TypeVar("F", bound=Callable[..., Any])
ResultMapper = Callable[[Any], Mapping[str, Any] | None]
"""Turns a stage function's return value into event fields (or None for nothing)."""
ReasonMapper = Callable[[BaseException], str | None]
"""Turns an exception raised by a stage into a short failure reason."""

_PRIMITIVES = (str, bool, int, float)


def _attr_value(value: Any) -> Any:
    if isinstance(value, _PRIMITIVES):
        return value
    return str(value)[:256]


class _Stage:
    """Everything a wrapped call needs, computed once at decoration time."""

    __slots__ = (
        "capture",
        "event_cls",
        "layer",
        "name",
        "reason",
        "result",
        "signature",
        "static",
    )

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        layer: str | None,
        capture: Sequence[str],
        result: ResultMapper | None,
        reason: ReasonMapper | None = None,
    ) -> None:
        self.reason = reason
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"@stage(name) on {func.__qualname__}: the name must be a non-empty str, "
                f"got {type(name).__name__}"
            )
        try:
            self.event_cls: type[Event] | None = get(name)
        except UnknownEventError:
            self.event_cls = None
        resolved = layer or (self.event_cls.event_layer if self.event_cls else None)
        if resolved not in semconv.LAYERS:
            raise ConfigError(
                f"@stage({name!r}) on {func.__qualname__}: pass layer= one of {semconv.LAYERS}"
                + ("" if self.event_cls else " (the stage is not a registered event)")
            )
        self.name = name
        self.layer: str = resolved
        self.result = result
        self.signature = inspect.signature(func) if capture else None
        names = attribute_names(self.event_cls) if self.event_cls else {}
        self.capture: dict[str, str] = {}
        for arg in capture:
            if self.signature is not None and arg not in self.signature.parameters:
                raise ConfigError(
                    f"@stage({name!r}): capture names {arg!r}, which {func.__qualname__} has "
                    f"no parameter of; parameters: {list(self.signature.parameters)}"
                )
            self.capture[arg] = names.get(arg, f"martech.{name}.{arg}")
        self.static: dict[str, Any] = {
            semconv.JOURNEY_STAGE: name,
            semconv.EVENT_LAYER: self.layer,
        }

    def attributes(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.signature is None:
            return self.static
        attrs = dict(self.static)
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
            for arg, attr in self.capture.items():
                if arg in bound.arguments and bound.arguments[arg] is not None:
                    attrs[attr] = _attr_value(bound.arguments[arg])
        except Exception as exc:
            internal_error(exc, "stage.capture")
        return attrs

    def captured_fields(self, call_attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Captured arguments that are fields of the stage's event, by field name."""
        if self.event_cls is None:
            return {}
        fields = self.event_cls.model_fields
        return {
            arg: call_attrs[attr]
            for arg, attr in self.capture.items()
            if arg in fields and attr in call_attrs
        }

    def failed(self, span: Span, exc: BaseException, call_attrs: Mapping[str, Any]) -> None:
        """Record ``exc`` on the span and count the failed stage (the caller re-raises)."""
        reason = type(exc).__name__
        try:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if self.reason is not None:
                reason = str(self.reason(exc) or reason)[:128]
            span.set_attributes({semconv.FAILURE_LAYER: self.layer, semconv.FAILURE_REASON: reason})
        except Exception as inner:
            internal_error(inner, "stage.failed")
        self._failed_event(reason, call_attrs)

    def _failed_event(self, reason: str, call_attrs: Mapping[str, Any]) -> None:
        """Hand the event hooks (SLI counts) the stage's event, marked failed.

        The event holds what was captured of the call and the failure facts: the SLIs that
        name the stage count it as not good, whatever its fields; hooks that record what
        happened (the consent audit trail) skip it, since nothing happened. Lenient
        whatever the mode: the caller is already getting the stage's own exception.
        """
        runtime = current()
        if self.event_cls is None or not runtime.event_hooks:
            return
        try:
            fields = self.captured_fields(call_attrs)
            cls, _, instance, _ = coerce_event(self.event_cls, fields, strict=False)
            if instance is None:
                return
            attrs = event_attributes(cls, instance, current_journey())
            attrs.update({k: v for k, v in self.static.items() if k not in attrs})
            attrs[semconv.FAILURE_LAYER] = self.layer
            attrs[semconv.FAILURE_REASON] = reason
            for hook in runtime.event_hooks:
                hook(instance, attrs)
        except Exception as exc:
            internal_error(exc, "stage.failed_event")

    def succeeded(self, span: Span, value: Any, call_attrs: Mapping[str, Any]) -> None:
        if self.result is None:
            return
        runtime = current()
        recording = span.is_recording()
        if not recording and not runtime.event_hooks:
            return  # nothing would read the event: no span to describe, no hook to count it
        try:
            fields = self.result(value)
        except Exception as exc:
            internal_error(exc, "stage.result")
            return
        if not fields:
            return
        try:
            if self.event_cls is None:
                if recording:
                    span.set_attributes(
                        {f"martech.{self.name}.{k}": _attr_value(v) for k, v in fields.items()}
                    )
                return
            fields = {**self.captured_fields(call_attrs), **fields}
            # A sampled-out span still makes its event: the event hooks (SLI counts, the
            # consent audit trail) must not depend on the sampling decision.
            cls, _, instance, violations = coerce_event(self.event_cls, fields, strict=False)
            if runtime.strict and any(v.type != "missing" for v in violations):
                raise EventValidationError(self.name, violations)
            journey = current_journey()
            attrs = event_attributes(cls, instance, journey)
            attrs.update({k: v for k, v in self.static.items() if k not in attrs})
            if journey is not None:  # as emit() records it: the latency SLIs read it
                attrs[semconv.JOURNEY_ELAPSED] = (time.time_ns() - journey.started_at_ns) / 1e9
            missing = runtime.contracts.missing(self.name, attrs)
            if runtime.contracts.required(self.name):
                attrs[semconv.QUALITY_COMPLETE] = not missing
                if missing:
                    attrs[semconv.QUALITY_MISSING] = missing
            if violations:
                attrs[semconv.QUALITY_VALID] = False
                attrs[semconv.QUALITY_VIOLATIONS] = [str(v) for v in violations]
                runtime.instruments.invalid_events.add(1, {semconv.EVENT_NAME: self.name})
            if recording:
                span.set_attributes(attrs)
            if runtime.event_hooks and instance is not None:
                for hook in runtime.event_hooks:  # e.g. the consent audit trail
                    hook(instance, attrs)
        except EventValidationError:
            raise
        except Exception as exc:
            internal_error(exc, "stage.succeeded")


def stage(
    name: str,
    *,
    layer: str | None = None,
    capture: Sequence[str] = (),
    result: ResultMapper | None = None,
    reason: ReasonMapper | None = None,
) -> Callable[[F], F]:
    """Decorate an integration function with a span for stage ``name``.

    Args:
        name: the stage; a registered event name (``lead_routed``) gives the layer and the
            field -> attribute map, any other name needs ``layer``.
        layer: layer of the revenue path, for failures (``martech.failure.layer``).
        capture: parameter names whose values may be recorded (nothing else is).
        result: maps the return value to the stage event's fields.
        reason: maps an exception to a short business reason for ``martech.failure.reason``
            (e.g. ``"duplicate"`` for a CRM 409); the exception type name by default.

    Raises:
        ConfigError: at decoration, for an unknown layer or a ``capture`` name that is not a
            parameter.
    """

    def decorate(func: F) -> F:
        spec = _Stage(name, func, layer, capture, result, reason)
        static = spec.static
        capturing = spec.signature is not None
        has_result = result is not None

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
                # Returns the scoped generator itself (no extra layer), so asend/athrow
                # reach the user's generator; the span starts with the first step.
                attrs = spec.attributes(args, kwargs)
                spans: list[Span] = []

                def scope() -> Any:
                    if not spans:
                        spans.append(_start(name, attrs))
                    return _use(spans[0])

                def finish() -> None:
                    if spans:
                        _end(spans[0])

                return scoped_async_generator(
                    func(*args, **kwargs),
                    scope,
                    on_error=lambda exc: spec.failed(spans[0], exc, attrs),
                    on_finish=finish,
                )

            return cast(F, agen_wrapper)

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                attrs = spec.attributes(args, kwargs)
                span = _start(name, attrs)
                try:
                    value = yield from scoped_generator(func(*args, **kwargs), lambda: _use(span))
                except Exception as exc:
                    spec.failed(span, exc, attrs)
                    raise
                else:
                    spec.succeeded(span, value, attrs)
                    return value
                finally:
                    _end(span)

            return cast(F, gen_wrapper)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                attrs = spec.attributes(args, kwargs) if capturing else static
                try:
                    span = current().tracer.start_span(name, attributes=attrs)
                except Exception as exc:  # another processor's on_start: the body still runs
                    internal_error(exc, "stage.start")
                    span = INVALID_SPAN
                token = attach(set_span_in_context(span))
                try:
                    value = await func(*args, **kwargs)
                except Exception as exc:
                    spec.failed(span, exc, attrs)
                    raise
                else:
                    if has_result:
                        spec.succeeded(span, value, attrs)
                    return value
                finally:
                    detach(token)
                    try:
                        span.end()
                    except Exception as exc:  # another processor's on_end: not the caller's
                        internal_error(exc, "stage.end")

            return cast(F, async_wrapper)

        # A hand-written attach/detach instead of start_as_current_span's generator-based
        # context manager: this wrapper runs on every call of the user's function.
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            attrs = spec.attributes(args, kwargs) if capturing else static
            try:
                span = current().tracer.start_span(name, attributes=attrs)
            except Exception as exc:  # another processor's on_start: the body still runs
                internal_error(exc, "stage.start")
                span = INVALID_SPAN
            token = attach(set_span_in_context(span))
            try:
                value = func(*args, **kwargs)
            except Exception as exc:
                spec.failed(span, exc, attrs)
                raise
            else:
                if has_result:
                    spec.succeeded(span, value, attrs)
                return value
            finally:
                detach(token)
                try:
                    span.end()
                except Exception as exc:  # another processor's on_end: not the caller's
                    internal_error(exc, "stage.end")

        return cast(F, wrapper)

    return decorate


def _start(name: str, attrs: Mapping[str, Any]) -> Span:
    """Start the stage's span; a processor that raises in ``on_start`` costs the span (a
    non-recording one stands in, counted), never the call."""
    try:
        return current().tracer.start_span(name, attributes=attrs)
    except Exception as exc:
        internal_error(exc, "stage.start")
        return INVALID_SPAN


def _end(span: Span) -> None:
    """End the stage's span; a processor that raises in ``on_end`` is counted, not raised."""
    try:
        span.end()
    except Exception as exc:
        internal_error(exc, "stage.end")


def _use(span: Span) -> Any:
    return trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    )
