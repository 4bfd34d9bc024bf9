"""The per-request engine shared by the ASGI, Flask and Django integrations.

For each request :meth:`WebJourneys.begin` reads the attribution parameters, referrer,
consent signals, the signed first-touch cookie and (from trusted clients only) the
``leadtrace-journey`` header, decides which journey the request belongs to and returns a
:class:`WebRequest`. The adapter then calls :meth:`WebRequest.enter` inside the OpenTelemetry
server span, runs the app, and calls :meth:`WebRequest.exit`. Nothing here raises into the
app in lenient mode: failures go through the internal-error guard and the request carries on
without a journey.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NamedTuple

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.metrics import Counter
from opentelemetry.trace import Span

from leadtrace import semconv
from leadtrace._config import MIN_HASH_KEY_BYTES, Settings
from leadtrace._emit import emit_with
from leadtrace._guard import internal_error
from leadtrace._perhandle import PerHandle
from leadtrace._runtime import Leadtrace, current
from leadtrace._sdk import add_attributes, baggage_key
from leadtrace.consent import ConsentState, consent_from_request
from leadtrace.context import (
    BusinessContext,
    attach_journey,
    current_context,
    current_journey,
    detach_journey,
    extract,
)
from leadtrace.errors import ConfigError
from leadtrace.events import Campaign, new_event_id, now
from leadtrace.integrations._attribution import (
    ATTRIBUTION_PARAMS,
    DEFAULT_CHANNEL_RULES,
    UTM_PARAMS,
    AttributionState,
    ChannelRules,
    CookieRejectedError,
    cookie_key,
    decode_cookie,
    encode_cookie,
    last_touch_attributes,
    same_campaign,
    touches,
)
from leadtrace.integrations._redact import RequestRedaction
from leadtrace.integrations._request import (
    MAX_HEADERS,
    READ_HEADERS,
    RequestInfo,
    client_trusted,
    field_names,
    header_map,
    host_of,
    invalid_networks,
    parse_cookies,
    parse_query,
    referrer_host,
    to_text,
)
from leadtrace.scrubbing import might_contain_pii

__all__ = [
    "SYNTHETIC_HEADER",
    "CookiePlan",
    "SessionStart",
    "SetCookie",
    "SteadyKey",
    "WebJourneys",
    "WebRequest",
    "asgi_steady_key",
    "request_from_asgi",
    "request_from_wsgi",
    "wsgi_steady_key",
]

SYNTHETIC_HEADER: Final = "leadtrace-synthetic"
"""Request header (value ``1``) that marks a new journey synthetic; honoured from trusted
clients only, so public traffic cannot hide itself from SLIs."""

_JOURNEY_HEADER = "leadtrace-journey"
_BAGGAGE_PREFIXES = ("martech.", "leadtrace")
_BAGGAGE_KEY: Final[str | None] = baggage_key()
"""Where OpenTelemetry keeps baggage in the context (its own constant; None if it moved)."""
_MAX_PATH = 1024
_NO_COOKIE_STATUSES = frozenset({semconv.CONSENT_STATUS_DENIED, semconv.CONSENT_STATUS_WITHDRAWN})
# Requests without any consent signal still say so on every span (status ``unknown``).
_NO_SIGNAL = ConsentState()


@dataclass(frozen=True, slots=True)
class SetCookie:
    """A cookie the adapter must set on the response."""

    name: str
    value: str
    max_age: int
    secure: bool

    def header(self) -> str:
        """The ``Set-Cookie`` header value (``HttpOnly; SameSite=Lax; Path=/``)."""
        parts = [
            f"{self.name}={self.value}",
            f"Max-Age={self.max_age}",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    @classmethod
    def deletion(cls, name: str, secure: bool) -> SetCookie:
        """The cookie that deletes ``name`` in the browser (empty, ``Max-Age=0``)."""
        return cls(name=name, value="", max_age=0, secure=secure)

    def apply(self, response: Any) -> None:
        """Set the cookie on a framework response with a ``set_cookie`` method (Flask, Django)."""
        response.set_cookie(
            self.name,
            self.value,
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )


@dataclass(frozen=True, slots=True)
class CookiePlan:
    """What may happen to the first-touch cookie, decided at the response from the consent
    the request ended with (the app may have called ``annotate(consent=...)``).

    Attributes:
        name: cookie name.
        state: the journey state to store (None: nothing new to store).
        key: key signing the cookie.
        max_age: lifetime in seconds.
        secure: HTTPS request (the cookie gets ``Secure``).
        had_cookie: the request carried the cookie (a denial deletes it).
        continued: the journey continued from a valid cookie (consent was given before).
        opt_in: ``consent_policy`` is ``opt_in`` (write only once consent is granted).
        gpc: the request sent ``Sec-GPC: 1``.
    """

    name: str
    state: AttributionState | None
    key: bytes
    max_age: int
    secure: bool
    had_cookie: bool
    continued: bool
    opt_in: bool
    gpc: bool

    def decide(self, consent: ConsentState | None) -> tuple[SetCookie | None, str | None]:
        """The cookie to set for a request that ended with ``consent``, and the
        ``martech.campaign.cookie`` value that says so (None: leave it as it is)."""
        status = consent.status if consent is not None else None
        if self.gpc or status in _NO_COOKIE_STATUSES:
            if self.had_cookie:
                return SetCookie.deletion(self.name, self.secure), semconv.COOKIE_DELETED
            return None, None
        if self.state is None:
            return None, None
        if self.opt_in and not self.continued and status != semconv.CONSENT_STATUS_GRANTED:
            return None, semconv.COOKIE_WITHHELD
        cookie = SetCookie(
            self.name, encode_cookie(self.state, self.key), self.max_age, self.secure
        )
        return cookie, None if self.had_cookie else semconv.COOKIE_NEW


def request_from_asgi(scope: Mapping[str, Any]) -> RequestInfo:
    """A :class:`RequestInfo` from an ASGI HTTP ``scope``."""
    headers = header_map(scope.get("headers") or (), READ_HEADERS)
    client = scope.get("client")
    return RequestInfo(
        method=str(scope.get("method", "GET")).upper(),
        path=to_text(scope.get("path", "/"), _MAX_PATH),
        scheme=str(scope.get("scheme", "http")),
        host=host_of(headers.get("host")),
        client=str(client[0]) if client else None,
        params=parse_query(scope.get("query_string"), ATTRIBUTION_PARAMS),
        headers=headers,
        cookies=parse_cookies(headers.get("cookie")),
    )


# WSGI servers put headers under upper-case ``HTTP_*`` keys (any casing the client used ends
# up there), except Content-Type.
_WSGI_KEYS = tuple(
    (name, "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_"))
    for name in sorted(READ_HEADERS)
)


def _wsgi_text(value: Any) -> str:
    """PEP 3333 strings are latin-1 decoded bytes: recover them, then decode as UTF-8."""
    if not isinstance(value, str):
        return ""
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


def request_from_wsgi(environ: Mapping[str, Any], path: str | None = None) -> RequestInfo:
    """A :class:`RequestInfo` from a WSGI ``environ`` (also Django's ``request.META``)."""
    pairs: list[tuple[str, str]] = []
    for name, key in _WSGI_KEYS:
        value = environ.get(key)
        if value:
            pairs.append((name, _wsgi_text(value)))
    headers = header_map(pairs)
    query = environ.get("QUERY_STRING")
    raw_query = query.encode("latin-1", "replace") if isinstance(query, str) else None
    client = environ.get("REMOTE_ADDR")
    return RequestInfo(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        path=to_text(path if path is not None else _wsgi_text(environ.get("PATH_INFO")), _MAX_PATH)
        or "/",
        scheme=str(environ.get("wsgi.url_scheme", "http")),
        host=host_of(headers.get("host") or environ.get("SERVER_NAME")),
        client=client if isinstance(client, str) else None,
        params=parse_query(raw_query, ATTRIBUTION_PARAMS),
        headers=headers,
        cookies=parse_cookies(headers.get("cookie")),
    )


SteadyKey = tuple[Any, ...]
"""The raw request values a journey decision reads, as the server handed them over (see
:func:`asgi_steady_key`, :func:`wsgi_steady_key`)."""

_STEADY_ENVIRON: Final = (
    "HTTP_HOST",
    "SERVER_NAME",
    "HTTP_REFERER",
    "HTTP_COOKIE",
    "HTTP_SEC_GPC",
    "HTTP_" + _JOURNEY_HEADER.upper().replace("-", "_"),
    "HTTP_" + SYNTHETIC_HEADER.upper().replace("-", "_"),
    "QUERY_STRING",
    "REMOTE_ADDR",
)


def asgi_steady_key(scope: Mapping[str, Any]) -> SteadyKey | None:
    """The raw inputs of the journey decision of an ASGI request, without parsing anything.

    A returning visitor sends the same ones on every request, so :class:`WebJourneys` can
    answer from the decision it remembered for them. None when the headers are not in the
    plain shape (a name repeated or not in lower case, too many headers): such requests are
    always decided in full.
    """
    try:
        headers = scope["headers"]
        named = dict(headers)
        if len(named) != len(headers) or len(named) > MAX_HEADERS:
            return None
        if not b"".join(named).islower():
            return None
        client = scope.get("client")
        get = named.get
        # Literal names (the cheapest lookup); the last two are _JOURNEY_HEADER and
        # SYNTHETIC_HEADER, which a test pins.
        return (
            client[0] if client else None,
            scope.get("query_string"),
            get(b"host"),
            get(b"referer"),
            get(b"cookie"),
            get(b"sec-gpc"),
            get(b"leadtrace-journey"),
            get(b"leadtrace-synthetic"),
        )
    except Exception:
        return None


def wsgi_steady_key(environ: Mapping[str, Any]) -> SteadyKey:
    """The raw inputs of the journey decision of a WSGI request (see :func:`asgi_steady_key`).

    The server has already merged repeated headers and upper-cased the names.
    """
    return tuple(map(environ.get, _STEADY_ENVIRON))


@lru_cache(maxsize=1024)
def _cookie_context(state: AttributionState, synthetic: bool) -> BusinessContext:
    """The journey context of a returning visitor without consent signals (cached per cookie:
    its attributes are computed once, not on every request)."""
    return BusinessContext(
        journey_id=state.journey_id,
        started_at=state.started_at,
        campaign=state.first,
        consent=_NO_SIGNAL,
        synthetic=synthetic,
    )


def _make_rejected_counter(runtime: Leadtrace) -> Counter:
    return runtime.meter.create_counter(
        "leadtrace.web.rejected",
        unit="{input}",
        description="Untrusted request inputs the web integrations ignored, by reason.",
    )


_rejected_counters: PerHandle[Counter] = PerHandle(_make_rejected_counter)


_STEADY_MAX: Final = 1024
_STEADY_KEY_MAX: Final = 4096
"""Characters of raw input a remembered decision may be keyed by (longer: decided in full)."""


def _referrer_touches(
    referer: str | None, rules: ChannelRules, id_params: tuple[str, ...]
) -> tuple[Campaign, Campaign]:
    """First and last touch from the attribution parameters in a same-site ``Referer``."""
    query = referer.partition("?")[2].partition("#")[0] if referer else ""
    return touches(parse_query(query, ATTRIBUTION_PARAMS), None, None, rules, id_params)


class _Steady(NamedTuple):
    """The journey decision for a steady returning visit: the same cookie, no new touch to
    store, no rejected input, consent from the cached TCF decoding or none. Such a request
    is decided the same way every time, so it is remembered, keyed by the raw inputs the
    decision reads (:func:`asgi_steady_key`, :func:`wsgi_steady_key`)."""

    runtime: Leadtrace
    context: BusinessContext
    server_attributes: dict[str, Any]
    strip_baggage: bool
    cookie: CookiePlan


def _rememberable(key: SteadyKey) -> bool:
    """Whether a decision may be remembered under ``key``: bounded, and no part of it may
    hold personal data (the key keeps the raw referrer, query string and cookies)."""
    size = 0
    for part in key:
        if part is None:
            continue
        if part.__class__ is bytes:
            part = part.decode("latin-1")
        elif part.__class__ is not str:
            return False
        size += len(part)
        if size > _STEADY_KEY_MAX or might_contain_pii(part):
            return False
    return True


class WebJourneys:
    """Per-application configuration and logic of the web integrations.

    Settings not given here come from the active leadtrace configuration at request time
    (``LEADTRACE_COOKIE_*``, ``LEADTRACE_SESSION_EVENTS``, ``LEADTRACE_TRUSTED_NETWORKS``).

    Args:
        channel_rules: channel table; :data:`DEFAULT_CHANNEL_RULES` when omitted.
        session_events: emit ``session_started`` and ``campaign_attributed`` for new journeys.
        cookie_name: name of the first-touch cookie.
        cookie_key: key (>= 32 bytes) that signs the cookie.
        cookie_max_age_days: cookie lifetime in days.

    Raises:
        ConfigError: an option or the ``trusted_networks`` setting is invalid.
    """

    def __init__(
        self,
        *,
        channel_rules: ChannelRules | None = None,
        session_events: bool | None = None,
        cookie_name: str | None = None,
        cookie_key: bytes | str | None = None,
        cookie_max_age_days: int | None = None,
    ) -> None:
        if channel_rules is not None and not isinstance(channel_rules, ChannelRules):
            raise ConfigError(
                f"channel_rules must be a ChannelRules table, got {type(channel_rules).__name__}"
            )
        key = cookie_key.encode("utf-8") if isinstance(cookie_key, str) else cookie_key
        if key is not None and len(key) < MIN_HASH_KEY_BYTES:
            raise ConfigError(
                f"cookie_key must be at least {MIN_HASH_KEY_BYTES} bytes, got {len(key)}"
            )
        if cookie_max_age_days is not None and cookie_max_age_days <= 0:
            raise ConfigError(f"cookie_max_age_days must be positive, got {cookie_max_age_days}")
        if cookie_name is not None and (not cookie_name or any(c in cookie_name for c in ";=, ")):
            raise ConfigError(f"cookie_name {cookie_name!r} is not a valid cookie name")
        settings = current().settings
        unknown = [p for p in settings.campaign_id_params if p not in UTM_PARAMS]
        if unknown:
            raise ConfigError(
                f"setting 'campaign_id_params' names {unknown}, which are not UTM parameters; "
                f"use names from {list(UTM_PARAMS)}"
            )
        bad = invalid_networks(settings.trusted_networks)
        if bad:
            raise ConfigError(
                f"setting 'trusted_networks' has entries that are not CIDR networks: {bad}; "
                "write e.g. 10.0.0.0/8,127.0.0.1/32"
            )
        self.rules = channel_rules or DEFAULT_CHANNEL_RULES
        self._session_events = session_events
        self._cookie_name = cookie_name
        self._cookie_key = key
        self._max_age_days = cookie_max_age_days
        self._keys: tuple[Settings, bytes] | None = None
        self._steady: dict[SteadyKey, _Steady] = {}
        self._redaction: RequestRedaction | None = None

    def redact(self, server_span: Span) -> None:
        """Rewrite what OpenTelemetry put on ``server_span`` about the visitor (query values,
        client IP, user agent) as the ``url_query``, ``client_address`` and ``user_agent``
        settings say. Adapters call it first on every request. Never raises."""
        try:
            settings = current().settings
            redaction = self._redaction
            if redaction is None or redaction.settings is not settings:
                redaction = self._redaction = RequestRedaction(settings)
            redaction.apply(server_span)
        except Exception as exc:
            internal_error(exc, "web.redact")

    def _key(self, settings: Settings) -> bytes:
        if self._cookie_key is not None:
            return self._cookie_key
        cached = self._keys
        if cached is not None and cached[0] is settings:
            return cached[1]
        key = cookie_key(settings.cookie_key, settings.hash_key)
        self._keys = (settings, key)
        return key

    def _remember(self, key: SteadyKey, steady: _Steady) -> None:
        """Keep the decision for a returning visitor's request (bounded: cleared when full)."""
        if not _rememberable(key):
            return
        if len(self._steady) >= _STEADY_MAX:
            self._steady.clear()
        self._steady[key] = steady

    def remembered(self, key: SteadyKey, server_span: Span) -> WebRequest | None:
        """The journey of a steady returning visit already decided for the same raw inputs
        (``key``), described on ``server_span``; None when there is none (then call
        :meth:`begin`). Never raises."""
        try:
            try:
                steady = self._steady.get(key)
            except TypeError:  # a raw value no key can hold (not text or bytes): decide in full
                return None
            if steady is None:
                return None
            runtime = current()
            if steady.runtime is not runtime:
                return None
            if server_span.is_recording():
                add_attributes(server_span, steady.server_attributes)
            return WebRequest(
                runtime, steady.context, server_span, steady.strip_baggage, steady.cookie
            )
        except Exception as exc:
            internal_error(exc, "web.remembered")
            return None

    def begin(
        self, request: RequestInfo, server_span: Span, *, steady_key: SteadyKey | None = None
    ) -> WebRequest | None:
        """Decide the journey of ``request`` and describe it on ``server_span``.

        ``steady_key`` holds the request's raw inputs (:func:`asgi_steady_key`,
        :func:`wsgi_steady_key`): a steady returning visit's decision is remembered under it
        for :meth:`remembered`. Returns None (and the request runs without a journey) if
        leadtrace failed internally in lenient mode.
        """
        try:
            return self._begin(request, server_span, steady_key)
        except Exception as exc:
            internal_error(exc, "web.begin")
            return None

    def _begin(
        self, request: RequestInfo, server_span: Span, steady_key: SteadyKey | None
    ) -> WebRequest:
        runtime = current()
        settings = runtime.settings
        headers = request.headers
        name = self._cookie_name or settings.cookie_name
        referrer = referrer_host(headers.get("referer"))
        same_site = referrer is not None and referrer == request.host
        if same_site:
            referrer = None

        rejected: list[str] = []
        trusted = client_trusted(request.client, settings.trusted_networks)

        parsed = consent_from_request(headers, request.cookies, lower_case_headers=True)
        consent = parsed.state
        denied = parsed.gpc or (consent is not None and consent.status in _NO_COOKIE_STATUSES)
        id_params = settings.campaign_id_params
        first_touch, last_touch = touches(request.params, referrer, None, self.rules, id_params)

        parent: BusinessContext | None = None
        if _JOURNEY_HEADER in request.headers:
            if trusted:
                parent = extract(request.headers)
            else:
                rejected.append("untrusted_journey_header")
        synthetic = trusted and request.headers.get(SYNTHETIC_HEADER, "").strip() == "1"

        key = self._key(settings)
        state: AttributionState | None = None
        raw_cookie = request.cookies.get(name)
        cookie_status = semconv.COOKIE_NONE
        if raw_cookie is not None and not denied:  # a denial ignores the cookie (and deletes it)
            try:
                state = decode_cookie(raw_cookie, key)
                cookie_status = semconv.COOKIE_VALID
            except CookieRejectedError as exc:
                rejected.append(f"cookie_{exc.reason}")
                cookie_status = semconv.COOKIE_REJECTED

        new_state: AttributionState | None = None
        last: Campaign | None = None
        if parent is not None:
            origin = semconv.JOURNEY_ORIGIN_HEADER
            ctx = parent.replace(consent=consent) if consent is not None else parent
            if synthetic and not ctx.synthetic:
                ctx = ctx.replace(synthetic=True)
        elif state is not None:
            origin = semconv.JOURNEY_ORIGIN_COOKIE
            last = state.last
            if last_touch.channel != semconv.CHANNEL_DIRECT and not same_campaign(
                last_touch, state.last
            ):
                last = last_touch
                new_state = AttributionState(
                    state.journey_id, state.started_at, state.first, last_touch
                )
            if consent is None:
                ctx = _cookie_context(state, synthetic)
            else:
                ctx = BusinessContext(
                    journey_id=state.journey_id,
                    started_at=state.started_at,
                    campaign=state.first,
                    consent=consent,
                    synthetic=synthetic,
                )
        else:
            origin = semconv.JOURNEY_ORIGIN_NEW
            if same_site and not request.params and raw_cookie is None:
                # No cookie yet (consent pending): the page this request came from, on the
                # same site, carries the landing touch (a banner's Accept posting from it).
                first_touch, last_touch = _referrer_touches(
                    headers.get("referer"), self.rules, id_params
                )
            last = last_touch
            ctx = BusinessContext(
                journey_id=new_event_id(),
                started_at=now(),
                campaign=first_touch,
                consent=consent or _NO_SIGNAL,
                synthetic=synthetic,
            )
            new_state = AttributionState(ctx.journey_id, ctx.started_at, first_touch, last_touch)

        days = self._max_age_days or settings.cookie_max_age_days
        plan = CookiePlan(
            name=name,
            state=new_state,
            key=key,
            max_age=days * 86400,
            secure=request.scheme == "https",
            had_cookie=raw_cookie is not None,
            continued=origin == semconv.JOURNEY_ORIGIN_COOKIE,
            opt_in=settings.consent_policy == "opt_in",
            gpc=parsed.gpc,
        )

        if rejected:
            counter = _rejected_counters.get(runtime)
            for reason in rejected:
                counter.add(1, {"reason": reason})

        if server_span.is_recording():
            attrs: dict[str, Any] = dict(ctx.attributes)
            attrs[semconv.JOURNEY_ORIGIN] = origin
            attrs[semconv.CAMPAIGN_COOKIE] = cookie_status
            if last is not None and not (
                ctx.campaign is not None and same_campaign(last, ctx.campaign)
            ):
                attrs.update(last_touch_attributes(last))
            if referrer is not None:
                attrs[semconv.SESSION_REFERRER_HOST] = referrer
            add_attributes(server_span, attrs)  # all text: span-ready as they are
            if (
                steady_key is not None
                and origin == semconv.JOURNEY_ORIGIN_COOKIE
                and new_state is None
                and not rejected
                and (consent is None or parsed.tcf is not None)  # TCF states are cached too
            ):
                self._remember(steady_key, _Steady(runtime, ctx, attrs, not trusted, plan))

        session_events = (
            self._session_events if self._session_events is not None else settings.session_events
        )
        session = (
            SessionStart(request.path, referrer, self.rules.version)
            if session_events and origin == semconv.JOURNEY_ORIGIN_NEW
            else None
        )
        return WebRequest(runtime, ctx, server_span, not trusted, plan, session)


class SessionStart(NamedTuple):
    """What the ``session_started`` and ``campaign_attributed`` events of a new journey say."""

    landing_path: str
    referrer: str | None
    rule_version: str


class WebRequest:
    """One request's journey, entered around the app by a framework adapter.

    Args:
        runtime: the leadtrace runtime the request was decided under.
        context: the request's journey.
        server_span: the OpenTelemetry server span of the request.
        strip_baggage: remove business-looking inbound W3C baggage (untrusted client).
        cookie: what may happen to the first-touch cookie; :meth:`response_cookie` decides.
        session: emit the session events of a new journey with these values (None: do not).
    """

    __slots__ = (
        "_baggage_token",
        "_token",
        "context",
        "cookie",
        "runtime",
        "server_span",
        "session",
        "strip_baggage",
    )

    def __init__(
        self,
        runtime: Leadtrace,
        context: BusinessContext,
        server_span: Span,
        strip_baggage: bool,
        cookie: CookiePlan | None = None,
        session: SessionStart | None = None,
    ) -> None:
        # Positional: built on every request, and keyword arguments cost more to match.
        self.runtime = runtime
        self.context = context
        self.server_span = server_span
        self.strip_baggage = strip_baggage
        self.cookie = cookie
        self.session = session
        self._token: object | None = None
        self._baggage_token: object | None = None

    def enter(self) -> None:
        """Attach the journey to the current context and emit the session events.

        While attached, ``leadtrace.annotate()`` in the handler also updates the server
        span (a consent granted by the form replaces the initial ``unknown`` there too).
        """
        try:
            if self.strip_baggage:
                self._drop_inbound_baggage()
            self._token = attach_journey(self.context, self.server_span)
            session = self.session
            if session is not None:
                emit_with(
                    self.runtime,
                    "session_started",
                    {"landing_path": session.landing_path, "referrer_host": session.referrer},
                )
                emit_with(
                    self.runtime,
                    "campaign_attributed",
                    {"attribution_model": "first_touch", "rule_version": session.rule_version},
                )
        except Exception as exc:
            internal_error(exc, "web.enter")

    def _drop_inbound_baggage(self) -> None:
        """Remove business-looking W3C baggage a public client sent, before anything reads it."""
        if _BAGGAGE_KEY is not None and not current_context().get(_BAGGAGE_KEY):
            return  # the usual case: no baggage at all
        entries = baggage.get_all()
        doomed = [k for k in entries if k.lower().startswith(_BAGGAGE_PREFIXES)]
        if not doomed:
            return
        ctx = otel_context.get_current()
        for key in doomed:
            ctx = baggage.remove_baggage(key, ctx)
        self._baggage_token = otel_context.attach(ctx)
        _rejected_counters.get(self.runtime).add(len(doomed), {"reason": "untrusted_baggage"})

    def response_cookie(self) -> SetCookie | None:
        """The cookie to set on the response (None: leave the browser's cookie as it is).

        Call it inside the request, as the response starts: it reads the consent the journey
        ended with (the handler may have called ``leadtrace.annotate(consent=...)``), writes
        the first-touch cookie only as the ``consent_policy`` setting allows, and deletes it
        when consent was denied. The server span's ``martech.campaign.cookie`` says which.
        Never raises.
        """
        plan = self.cookie
        if plan is None:
            return None
        try:
            journey = current_journey()
            consent = (journey if journey is not None else self.context).consent
            cookie, status = plan.decide(consent)
            if status is not None and self.server_span.is_recording():
                self.server_span.set_attribute(semconv.CAMPAIGN_COOKIE, status)
            return cookie
        except Exception as exc:
            internal_error(exc, "web.response_cookie")
            return None

    def record_form(self, names: Iterable[str]) -> None:
        """Put the names (never the values) of a posted form's fields on the server span."""
        try:
            cleaned = field_names(names)
            if cleaned and self.server_span.is_recording():
                self.server_span.set_attribute(semconv.FORM_FIELD_NAMES, list(cleaned))
        except Exception as exc:
            internal_error(exc, "web.record_form")

    def exit(self) -> None:
        """Detach the journey (and the baggage clean-up) attached by :meth:`enter`."""
        if self._token is not None:
            token, self._token = self._token, None
            detach_journey(token)
        if self._baggage_token is not None:
            token, self._baggage_token = self._baggage_token, None
            with contextlib.suppress(Exception):
                otel_context.detach(token)  # type: ignore[arg-type]
