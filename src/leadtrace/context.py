"""Journeys: business context held as ONE OpenTelemetry context value, and its propagation.

A journey is one prospect's path from click to sales. :func:`journey` starts or continues one;
everything started inside it (spans of any instrumentation, :func:`leadtrace.emit`,
``@leadtrace.stage``) carries its journey id, start time, campaign, consent, identity keys and
synthetic flag. The context is a single frozen value under one context key: cheap to attach
(one ``ContextVar`` set) and never visible to vendors, unlike W3C baggage.

Across processes, :func:`inject` and :func:`extract` carry an allow-listed subset in one
header, ``leadtrace-journey`` (format in ``docs/journeys.md``)::

    leadtrace-journey: v=1;j=7f3c...;t=1764151200000;c=spring;so=google;me=cpc;ch=paid_search;
                       cs=granted;cp=analytics,marketing;s=0;o=<trace id>-<span id>

Owns: journeys: the business context value, its scope, and its propagation headers.

May import: ``_active``, ``_guard``, ``_sdk``, ``_wrapping``, ``consent``, ``errors``,
``events``, ``privacy`` and ``semconv``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import inspect
import re
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Mapping,
    MutableMapping,
)
from contextvars import Token
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Final, TypeVar, cast, overload
from urllib.parse import quote, unquote

from opentelemetry import context as otel_context
from opentelemetry.trace import (
    Link,
    Span,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    get_current_span,
    set_span_in_context,
)

from leadtrace import semconv
from leadtrace._active import current
from leadtrace._guard import checked, internal_error
from leadtrace._sdk import add_attributes, context_variable
from leadtrace._wrapping import scoped_async_generator, scoped_generator
from leadtrace.consent import ConsentState
from leadtrace.errors import ArgumentTypeError
from leadtrace.events import Campaign, build_spec, compile_plan, new_event_id, now
from leadtrace.privacy import IdentityKeys

__all__ = [
    "HEADER",
    "BusinessContext",
    "annotate",
    "attach_journey",
    "current_context",
    "current_journey",
    "detach_journey",
    "extract",
    "inject",
    "journey",
]

HEADER: Final = "leadtrace-journey"
"""Name of the header (or message attribute) that carries the journey across processes."""

JOURNEY_SPAN: Final = "journey"
"""Name of the span :func:`journey` opens when it starts a journey with no span current."""

_KEY: Final = otel_context.create_key("leadtrace.journey")
_MAX_HEADER = 1024
_MAX_VALUE = 128
_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")

F = TypeVar("F", bound=Callable[..., Any])

_CAMPAIGN_PLAN = compile_plan(build_spec(Campaign, "martech.campaign"))
_CONSENT_PLAN = compile_plan(build_spec(ConsentState, "martech.consent"))
_IDENTITY_PLAN = compile_plan(build_spec(IdentityKeys, "martech.identity"))


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class BusinessContext:
    """The business context of one journey. Immutable; build a new one to change it."""

    journey_id: str
    """Journey (correlation) id."""
    started_at: datetime
    """When the journey started (UTC)."""
    campaign: Campaign | None = None
    """Attributed campaign."""
    consent: ConsentState | None = None
    """Latest consent state."""
    identity: IdentityKeys | None = None
    """Hashed identity keys."""
    synthetic: bool = False
    """True for test traffic."""
    origin: SpanContext | None = field(default=None, compare=False, repr=False)
    """The span the journey started in (its ``journey`` span, or the span current when it
    started). Travels in the header, so spans of other processes can link back to it."""
    attributes: Mapping[str, Any] = field(init=False, compare=False, repr=False)
    """Span attributes of this context, computed once (identity keys only with consent).
    Sequences are tuples, as the SDK stores them, so they go onto spans as they are."""
    started_at_ns: int = field(init=False, compare=False, repr=False)
    event_bases: dict[type, dict[str, Any]] = field(init=False, compare=False, repr=False)
    """Per event class: journey attributes merged with the class's own (filled by emit)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_bases", {})
        object.__setattr__(self, "started_at_ns", int(self.started_at.timestamp() * 1e9))
        object.__setattr__(self, "attributes", self._build_attributes())

    def _build_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            semconv.JOURNEY_ID: self.journey_id,
            semconv.JOURNEY_STARTED_AT: _iso(self.started_at),
        }
        if self.synthetic:
            attrs[semconv.JOURNEY_SYNTHETIC] = True
        if self.campaign is not None:
            _CAMPAIGN_PLAN.write(self.campaign, attrs)
        if self.consent is not None:
            _CONSENT_PLAN.write(self.consent, attrs)
        if self.identity is not None:
            if self.identity_allowed:
                _IDENTITY_PLAN.write(self.identity, attrs)
            else:
                attrs[semconv.CONSENT_DROPPED_REASON] = (
                    f"analytics consent {self.consent_status}: identity keys dropped"
                )
        return attrs

    @property
    def consent_status(self) -> str:
        """Consent status, ``unknown`` when no consent state is known."""
        return self.consent.status if self.consent is not None else semconv.CONSENT_STATUS_UNKNOWN

    @property
    def identity_allowed(self) -> bool:
        """Whether identity keys may be exported: only with analytics consent granted.

        Unknown, denied or withdrawn consent, or a grant without the ``analytics`` purpose,
        drops them; only the journey id stays, and the span says why.
        """
        return self.consent is not None and self.consent.allows(semconv.CONSENT_PURPOSE_ANALYTICS)

    def replace(self, **changes: Any) -> BusinessContext:
        """A copy with ``changes`` applied (``journey_id`` and ``started_at`` included)."""
        values: dict[str, Any] = {
            "journey_id": self.journey_id,
            "started_at": self.started_at,
            "campaign": self.campaign,
            "consent": self.consent,
            "identity": self.identity,
            "synthetic": self.synthetic,
            "origin": self.origin,
        }
        values.update(changes)
        return BusinessContext(**values)


class _Cell:
    """Mutable holder of a journey's current context, so :func:`annotate` can update it
    without an unpaired context attach. One cell per entered journey: never shared.

    ``span`` is the span that describes the whole journey entry, when there is one (a web
    integration's server span): :func:`annotate` keeps its attributes in step.
    """

    __slots__ = ("span", "value")

    def __init__(self, value: BusinessContext, span: Span | None = None) -> None:
        self.value = value
        self.span = span


def _given(
    campaign: Campaign | None,
    consent: ConsentState | None,
    identity: IdentityKeys | None,
    synthetic: bool | None,
) -> dict[str, Any]:
    """The journey fields a caller actually passed (None means: keep the current value)."""
    given: dict[str, Any] = {}
    if campaign is not None:
        given["campaign"] = campaign
    if consent is not None:
        given["consent"] = consent
    if identity is not None:
        given["identity"] = identity
    if synthetic is not None:
        given["synthetic"] = synthetic
    return given


def _checked_parts(
    function: str,
    campaign: Campaign | None,
    consent: ConsentState | None,
    identity: IdentityKeys | None,
    synthetic: bool | None,
) -> tuple[Campaign | None, ConsentState | None, IdentityKeys | None, bool | None]:
    """The journey parts of a call, each None when of the wrong type (see ``checked``)."""
    if (
        (campaign is None or isinstance(campaign, Campaign))
        and (consent is None or isinstance(consent, ConsentState))
        and (identity is None or isinstance(identity, IdentityKeys))
        and (synthetic is None or synthetic.__class__ is bool)
    ):
        return campaign, consent, identity, synthetic  # the usual call: four checks, no calls
    return (
        checked(function, "campaign", campaign, Campaign, "Campaign or None"),
        checked(function, "consent", consent, ConsentState, "ConsentState or None"),
        checked(function, "identity", identity, IdentityKeys, "IdentityKeys (from identity())"),
        checked(function, "synthetic", synthetic, bool, "bool or None"),
    )


_CURRENT: Final = context_variable()
"""OpenTelemetry's context variable, read directly (three Python calls fewer per lookup;
``current_journey`` runs for every span started inside a journey), or None."""


def current_journey(ctx: otel_context.Context | None = None) -> BusinessContext | None:
    """The business context of the current journey, or None outside any journey."""
    if ctx is None:
        ctx = _CURRENT.get() if _CURRENT is not None else otel_context.get_current()
    cell = ctx.get(_KEY)
    return cell.value if cell.__class__ is _Cell else None


def annotate(
    *,
    campaign: Campaign | None = None,
    consent: ConsentState | None = None,
    identity: IdentityKeys | None = None,
    synthetic: bool | None = None,
) -> BusinessContext | None:
    """Update the current journey in place (e.g. once the form revealed who the lead is).

    Spans started afterwards carry the new values; spans already started keep theirs.
    Returns the new context, or None (and does nothing) outside a journey.
    """
    campaign, consent, identity, synthetic = _checked_parts(
        "annotate", campaign, consent, identity, synthetic
    )
    cell = otel_context.get_value(_KEY)
    if not isinstance(cell, _Cell):
        return None
    before = cell.value
    cell.value = after = before.replace(**_given(campaign, consent, identity, synthetic))
    if cell.span is not None:
        _describe_change(cell.span, before, after)
    return after


def _describe_change(span: Span, before: BusinessContext, after: BusinessContext) -> None:
    """Put what changed from ``before`` to ``after`` on ``span`` (if still recording): the
    change wins over what the entry started with (a consent granted by the form replaces the
    initial ``unknown`` on the server span)."""
    try:
        if span.is_recording():
            old = before.attributes
            changed = {k: v for k, v in after.attributes.items() if old.get(k) != v}
            if changed:
                add_attributes(span, changed)
    except Exception as exc:
        internal_error(exc, "annotate.span")


def attach_journey(value: BusinessContext, span: Span | None = None) -> object:
    """Make ``value`` the current journey until :func:`detach_journey` (for integrations).

    ``span`` (a web request's server span) describes the whole entry: :func:`annotate`
    calls inside it also update its attributes while it is recording. Returns the token to
    pass to :func:`detach_journey`.
    """
    return _attach(_Cell(value, span))


def detach_journey(token: object) -> None:
    """Restore the context from before :func:`attach_journey` returned ``token``."""
    _detach(token)


def _attach(cell: _Cell, span: Span | None = None) -> object:
    """Make ``cell`` the current journey (and ``span``, when given, the current span);
    returns the token for :func:`_detach`."""
    if span is not None:
        ctx = set_span_in_context(span, otel_context.set_value(_KEY, cell))
        return otel_context.attach(ctx)
    if _CURRENT is None:
        return otel_context.attach(otel_context.set_value(_KEY, cell))
    # What set_value + attach do, without their three Python calls.
    values = _CURRENT.get().copy()
    values[_KEY] = cell
    return _CURRENT.set(otel_context.Context(values))


def _open_journey_span(value: BusinessContext) -> tuple[BusinessContext, Span | None]:
    """Give a journey that starts here its place in the trace.

    With no span current, open the ``journey`` span: everything started inside the journey
    in this process becomes one trace under it, linked to the journey's origin in another
    process when the journey came from one. With a span current (a web request's server
    span), that span is the origin. Returns the context (with its origin) and the span
    opened, if any.
    """
    try:
        current_span = get_current_span()
        if current_span.get_span_context().is_valid:
            if value.origin is None:
                value = value.replace(origin=current_span.get_span_context())
            return value, None

        runtime = current()
        if not runtime.settings.journey_spans:
            return value, None
        links = [Link(value.origin)] if value.origin is not None else None
        span = runtime.tracer.start_span(
            JOURNEY_SPAN,
            attributes=value.attributes,
            links=links,
        )
        if value.origin is None and span.get_span_context().is_valid:
            value = value.replace(origin=span.get_span_context())
        return value, span
    except Exception as exc:
        internal_error(exc, "journey.span")
        return value, None


def _close_journey_span(span: Span, exc: BaseException | None) -> None:
    try:
        if exc is not None and span.is_recording():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        span.end()
    except Exception as inner:
        internal_error(inner, "journey.span")


def _detach(token: object) -> None:
    """Undo the :func:`_attach` that returned ``token``."""
    if _CURRENT is not None and token.__class__ is Token:
        try:
            _CURRENT.reset(token)
            return
        except (ValueError, RuntimeError):
            pass  # made in another context: OpenTelemetry's detach reports it
    otel_context.detach(token)  # type: ignore[arg-type]


def current_context() -> otel_context.Context:
    """OpenTelemetry's current context, read straight from its context variable when the
    default runtime context is in use."""
    return _CURRENT.get() if _CURRENT is not None else otel_context.get_current()


class _Attached:
    """Attach a journey cell for the duration of a ``with`` block."""

    __slots__ = ("_cell", "_token")

    def __init__(self, cell: _Cell) -> None:
        self._cell = cell

    def __enter__(self) -> None:
        self._token = _attach(self._cell)

    def __exit__(self, *exc: object) -> None:
        _detach(self._token)


class journey:  # noqa: N801 - used like a function: ``with journey(...)`` / ``@journey(...)``
    """Start or continue a journey; a context manager and a decorator.

    As a context manager it yields the :class:`BusinessContext`::

        with leadtrace.journey(campaign=Campaign(id="spring"), synthetic=True) as j:
            ...  # every span here carries j.journey_id

    As a decorator (sync, async, generator and async generator functions) each call runs in
    its own journey::

        @leadtrace.journey()
        async def handle(msg): ...

    Args:
        journey_id: continue this journey id; a new id is made when omitted and no journey
            is current.
        parent: continue a context received from another process (:func:`extract`).
        campaign, consent, identity, synthetic: values for the journey; on a continued journey
            they replace the inherited ones.
        started_at: start time of a new journey (defaults to now).
        new: start a new journey even inside another.
    """

    __slots__ = ("_args", "_tokens")

    def __init__(
        self,
        journey_id: str | None = None,
        *,
        parent: BusinessContext | None = None,
        campaign: Campaign | None = None,
        consent: ConsentState | None = None,
        identity: IdentityKeys | None = None,
        synthetic: bool | None = None,
        started_at: datetime | None = None,
        new: bool = False,
    ) -> None:
        campaign, consent, identity, synthetic = _checked_parts(
            "journey", campaign, consent, identity, synthetic
        )
        if not (
            (journey_id is None or (journey_id.__class__ is str and journey_id.isascii()))
            and (parent is None or parent.__class__ is BusinessContext)
            and (started_at is None or isinstance(started_at, datetime))
            and new.__class__ is bool
        ):
            journey_id = checked("journey", "journey_id", journey_id, str, "str or None")
            parent = checked("journey", "parent", parent, BusinessContext, "BusinessContext")
            started_at = checked("journey", "started_at", started_at, datetime, "datetime")
            new = bool(checked("journey", "new", new, bool, "bool"))
        self._args = (journey_id, parent, campaign, consent, identity, synthetic, started_at, new)
        self._tokens: dict[_Cell, object] = {}

    def _build(self) -> BusinessContext:
        return self._decide()[0]

    def _decide(self) -> tuple[BusinessContext, bool]:
        """The journey's context, and whether this entry starts it in this process (a new
        journey, or one received from another process) rather than continuing a current one."""
        journey_id, parent, campaign, consent, identity, synthetic, started_at, new = self._args
        base = None if new else (parent or current_journey())
        if base is not None and journey_id not in (None, base.journey_id):
            base = None
        changes = _given(campaign, consent, identity, synthetic)
        if base is not None:
            value = base.replace(**changes) if changes else base
            return value, base is parent
        value = BusinessContext(
            journey_id=journey_id or new_event_id(),
            started_at=started_at or now(),
            **changes,
        )
        return value, True

    def __enter__(self) -> BusinessContext:
        value, starts = self._decide()
        span = None
        if starts:
            value, span = _open_journey_span(value)
        cell = _Cell(value, span)
        # Keyed by the cell this entry attached, so one journey object shared by threads or
        # tasks (``J = journey(); with J: ...``) detaches exactly what each entry attached.
        self._tokens[cell] = _attach(cell, span)
        return value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cell = otel_context.get_value(_KEY)
        token = self._tokens.pop(cell, None) if isinstance(cell, _Cell) else None
        if token is not None:
            _detach(token)
            if isinstance(cell, _Cell) and cell.span is not None:
                _close_journey_span(cell.span, exc)

    async def __aenter__(self) -> BusinessContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _fresh(self) -> journey:
        clone = journey.__new__(journey)
        clone._args = self._args
        clone._tokens = {}
        return clone

    @overload
    def __call__(self, func: Callable[..., AsyncGenerator[Any, Any]]) -> Any: ...
    @overload
    def __call__(self, func: F) -> F: ...

    def __call__(self, func: Callable[..., Any]) -> Any:
        """Decorate ``func`` so every call runs inside its own journey."""
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
                cell = _Cell(self._build())
                return scoped_async_generator(func(*args, **kwargs), lambda: _Attached(cell))

            return agen_wrapper
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                cell = _Cell(self._build())
                return scoped_generator(func(*args, **kwargs), lambda: _Attached(cell))

            return gen_wrapper
        if asyncio.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await cast(Callable[..., Awaitable[Any]], func)(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return wrapper


# --- propagation ---------------------------------------------------------------------------------


def _is_safe(value: str) -> bool:
    return bool(value) and len(value) <= _MAX_VALUE and all(c in _SAFE_ID for c in value)


def _clean_id(raw: str | None) -> str | None:
    if not raw:
        return None
    value = unquote(raw)[:_MAX_VALUE]
    return value if value and all(c in _SAFE_ID for c in value) else None


def _header_value(ctx: BusinessContext) -> str:
    parts = [
        "v=1",
        f"j={quote(ctx.journey_id, safe='')}",
        f"t={ctx.started_at_ns // 1_000_000}",
    ]
    campaign = ctx.campaign
    if campaign is not None:
        for key, value in (
            ("c", campaign.id),
            ("so", campaign.source),
            ("me", campaign.medium),
            ("ch", campaign.channel),
        ):
            if value:
                parts.append(f"{key}={quote(value, safe='')}")
    parts.append(f"cs={ctx.consent_status}")
    if ctx.consent is not None and ctx.consent.purposes:
        parts.append("cp=" + ",".join(sorted(p for p in ctx.consent.purposes if _is_safe(p))))
    parts.append(f"s={1 if ctx.synthetic else 0}")
    origin = ctx.origin
    if origin is not None and origin.is_valid:
        parts.append(f"o={origin.trace_id:032x}-{origin.span_id:016x}")
    return ";".join(parts)


def _origin(raw: str | None) -> SpanContext | None:
    """The origin span of a header's ``o=<32 hex trace id>-<16 hex span id>``, if valid."""
    if not raw or len(raw) != 49 or raw[32] != "-":
        return None
    try:
        trace_id, span_id = int(raw[:32], 16), int(raw[33:], 16)
    except ValueError:
        return None
    origin = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))
    return origin if origin.is_valid else None


_AMBIGUOUS: Final = frozenset("\\%@") | frozenset(chr(c) for c in range(0x21)) | {"\x7f"}
"""Characters that HTTP clients read differently in a URL's authority (a backslash is a path
separator to httpx and browsers, a plain character to urllib3; ``%`` is decoded by some;
``@`` splits off userinfo; whitespace and control characters are dropped or refused)."""
_HOST: Final = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::[0-9]{1,5})?")


def effective_host(url: str) -> str | None:
    """The host an HTTP client connects to for ``url`` (lower-case, IPv6 without brackets),
    or None when clients could disagree about it.

    Only absolute ``http``/``https`` URLs are judged. Their authority (between ``//`` and the
    first ``/``, ``?`` or ``#``) must be a plain host and optional port: userinfo, a
    backslash, percent-encoding, whitespace, control or non-ASCII characters make the URL
    ambiguous (``http://evil.com\\@localhost/`` goes to ``evil.com`` with requests and to
    ``localhost`` with httpx), and an ambiguous URL has no host leadtrace trusts.
    """
    if url.__class__ is not str:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1:
            end = min(end, found)
    authority = rest[:end]
    if not authority.isascii() or not _AMBIGUOUS.isdisjoint(authority):
        return None
    if "\\" in rest:  # a backslash anywhere: some clients take it for the authority's end
        return None
    if _HOST.fullmatch(authority) is None:
        return None
    host = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    return host.lower() or None


def host_allowed(url: str, patterns: tuple[str, ...]) -> bool:
    """Whether the effective host of ``url`` (see :func:`effective_host`) matches one of the
    glob ``patterns`` (case-insensitive); False for an ambiguous URL."""
    host = effective_host(url)
    return host is not None and any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns)


def inject(
    carrier: MutableMapping[str, str],
    *,
    url: str | None = None,
    context: BusinessContext | None = None,
) -> bool:
    """Write the current journey into ``carrier`` (HTTP headers, message headers, a dict).

    Only an allow-listed subset travels: journey id, start time, campaign id, source,
    medium and channel, consent status and purposes, and the synthetic flag. Identity keys
    never do. When ``url`` is given, the header is written only if its host matches
    ``LEADTRACE_PROPAGATE_TO``, so calls to vendors (HubSpot, Salesforce, ...) receive no
    business context; a URL whose host HTTP clients could read differently (userinfo, a
    backslash, percent-encoding, see :func:`effective_host`) never gets it.

    Wrong argument types raise :class:`~leadtrace.errors.ArgumentTypeError` in strict mode;
    in lenient mode they are counted and nothing is written.

    Returns:
        True when the header was written.
    """
    if not hasattr(type(carrier), "__setitem__"):
        given = type(carrier).__name__
        error = ArgumentTypeError("inject", "carrier", given, "a mutable mapping (headers)")
        internal_error(error, "inject.carrier")
        return False
    if url is not None and checked("inject", "url", url, str, "str or None") is None:
        return False  # a URL that cannot be judged never gets the header
    context = checked("inject", "context", context, BusinessContext, "BusinessContext or None")
    ctx = context or current_journey()
    if ctx is None:
        return False
    if url is not None and not host_allowed(url, current().settings.propagate_to):
        return False
    try:
        carrier[HEADER] = _header_value(ctx)
    except Exception as exc:  # the carrier refused the header (a read-only or typed mapping)
        internal_error(exc, "inject.carrier")
        return False
    return True


def _lookup(carrier: Mapping[str, Any], name: str) -> str | None:
    value = carrier.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in carrier.items():
            if isinstance(key, str) and key.lower() == lowered:
                value = candidate
                break
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def parse_header(value: str | None) -> BusinessContext | None:
    """Parse a ``leadtrace-journey`` header value; None when absent or unusable.

    Unknown keys are ignored (forward compatible); invalid values are dropped; a value over
    1 KiB or without a valid journey id yields None. Never raises.
    """
    if not value or len(value) > _MAX_HEADER:
        return None
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, raw = part.strip().partition("=")
        if sep:
            fields.setdefault(key, raw)
    journey_id = _clean_id(fields.get("j"))
    if journey_id is None:
        return None
    try:
        millis = int(fields.get("t", ""))
        started_at = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        started_at = now()
    campaign_id = _clean_id(fields.get("c"))
    source = _clean_id(fields.get("so"))
    medium = _clean_id(fields.get("me"))
    channel = fields.get("ch")
    campaign = None
    if campaign_id or source or medium or channel in semconv.CHANNELS:
        campaign = Campaign(
            id=campaign_id,
            source=source,
            medium=medium,
            channel=channel if channel in semconv.CHANNELS else None,
        )
    status = fields.get("cs")
    purposes = frozenset(p for p in unquote(fields.get("cp", "")).split(",")[:16] if _is_safe(p))
    consent = (
        ConsentState(status=status, purposes=purposes)
        if status in semconv.CONSENT_STATUSES and status != semconv.CONSENT_STATUS_UNKNOWN
        else None
    )
    return BusinessContext(
        journey_id=journey_id,
        started_at=started_at,
        campaign=campaign,
        consent=consent,
        synthetic=fields.get("s") == "1",
        origin=_origin(fields.get("o")),
    )


def extract(carrier: Mapping[str, Any]) -> BusinessContext | None:
    """Read a journey written by :func:`inject` from ``carrier``; None when there is none.

    Header lookup is case-insensitive; malformed values yield None and never raise (a
    ``carrier`` that is not a mapping is an :class:`~leadtrace.errors.ArgumentTypeError` in
    strict mode). Pass the result to ``journey(parent=...)`` to continue the journey::

        with leadtrace.journey(parent=leadtrace.extract(message.headers)):
            ...
    """
    if not hasattr(carrier, "get") or not hasattr(carrier, "items"):
        given = type(carrier).__name__
        error = ArgumentTypeError("extract", "carrier", given, "a mapping (headers)")
        internal_error(error, "extract.carrier")
        return None
    try:
        return parse_header(_lookup(carrier, HEADER))
    except Exception:
        return None
