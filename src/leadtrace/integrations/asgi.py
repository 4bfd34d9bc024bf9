"""ASGI middleware (Starlette, FastAPI, any ASGI app): first-touch attribution and journeys.

Add it INSIDE the OpenTelemetry server span: OpenTelemetry's ASGI middleware starts each
request from a context extracted from the headers, so a journey attached outside it is lost.
With FastAPI, instrument and add the middleware in either order (FastAPIInstrumentor always
wraps the whole middleware stack)::

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from leadtrace.integrations.asgi import LeadtraceMiddleware

    app = FastAPI()
    app.add_middleware(LeadtraceMiddleware)
    FastAPIInstrumentor.instrument_app(app)

With plain Starlette or another ASGI app, OpenTelemetry's middleware goes outermost::

    app = OpenTelemetryMiddleware(LeadtraceMiddleware(app))

The middleware itself needs no framework; :func:`instrument_fastapi` does both steps and needs
the ``fastapi`` extra.

It also flushes telemetry on the ASGI lifespan shutdown (uvicorn runs it on SIGTERM, then ends
the process without ``atexit`` hooks): the last requests' spans are exported before the
process stops. An app that does not speak the lifespan protocol (Django's ASGI handler) gets
it spoken for it, so the flush still happens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import trace

from leadtrace._guard import internal_error
from leadtrace.integrations._attribution import ChannelRules
from leadtrace.integrations._request import MAX_BODY_SCAN, form_field_names, is_form
from leadtrace.integrations._web import (
    WebJourneys,
    WebRequest,
    asgi_steady_key,
    request_from_asgi,
)
from leadtrace.integrations.shutdown import DEFAULT_FLUSH_TIMEOUT_MILLIS, flush

__all__ = ["LeadtraceMiddleware", "instrument_fastapi"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})


class LeadtraceMiddleware:
    """Pure ASGI middleware: opens (or continues) a journey for every HTTP request.

    On each request it reads UTM parameters, click ids, the referrer host, ``Sec-GPC`` and
    the TCF cookie, verifies the signed first-touch cookie, puts campaign, consent and
    journey attributes on the server span, attaches the journey so every span and
    ``leadtrace.emit()`` in the handler carries them, records the field names of form posts,
    and sets the cookie on the response when the journey is new or the last touch changed.

    Args:
        app: the ASGI application to wrap.
        channel_rules: channel table (default :data:`DEFAULT_CHANNEL_RULES`).
        session_events: emit ``session_started`` / ``campaign_attributed`` for new journeys
            (default: the ``session_events`` setting).
        cookie_name: first-touch cookie name (default: the ``cookie_name`` setting).
        cookie_key: key signing the cookie (default: the ``cookie_key`` setting).
        cookie_max_age_days: cookie lifetime (default: the ``cookie_max_age_days`` setting).
        flush_on_shutdown: flush telemetry on the lifespan shutdown (default True), waiting at
            most ``flush_timeout_millis``.
        flush_timeout_millis: longest wait for the shutdown flush.

    Raises:
        ConfigError: an option is invalid.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        channel_rules: ChannelRules | None = None,
        session_events: bool | None = None,
        cookie_name: str | None = None,
        cookie_key: bytes | str | None = None,
        cookie_max_age_days: int | None = None,
        flush_on_shutdown: bool = True,
        flush_timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS,
    ) -> None:
        self.app = app
        self.flush_on_shutdown = flush_on_shutdown
        self.flush_timeout_millis = flush_timeout_millis
        self.journeys = WebJourneys(
            channel_rules=channel_rules,
            session_events=session_events,
            cookie_name=cookie_name,
            cookie_key=cookie_key,
            cookie_max_age_days=cookie_max_age_days,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app for one connection; only ``http`` scopes get a journey."""
        kind = scope.get("type")
        if kind != "http":
            if kind == "lifespan" and self.flush_on_shutdown:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        web = self._begin(scope)
        if web is None:
            await self.app(scope, receive, send)
            return
        web.enter()
        try:
            if web.cookie is not None:
                send = _cookie_send(send, web)
            if scope.get("method") != "GET":
                receive = _form_receive(scope, receive, web)
            await self.app(scope, receive, send)
        finally:
            web.exit()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app's lifespan, flushing before the shutdown is reported complete."""
        received: list[str] = []
        sent = False

        async def receive_noting() -> Message:
            message = await receive()
            received.append(str(message.get("type")))
            return message

        async def send_flushing(message: Message) -> None:
            nonlocal sent
            sent = True
            if message.get("type") in _SHUTDOWN_DONE:
                flush(self.flush_timeout_millis)
            await send(message)

        try:
            await self.app(scope, receive_noting, send_flushing)
        except Exception:
            if sent:
                raise  # the app speaks lifespan and failed in it: the server must know
            # The app does not speak lifespan (it raised before answering): speak it for it.
            await _serve_lifespan(receive, send, received, self.flush_timeout_millis)

    def _begin(self, scope: Scope) -> WebRequest | None:
        span = trace.get_current_span()
        self.journeys.redact(span)
        key = asgi_steady_key(scope)
        if key is not None:
            web = self.journeys.remembered(key, span)
            if web is not None:
                return web
        try:
            request = request_from_asgi(scope)
        except Exception as exc:
            internal_error(exc, "asgi.request")
            return None
        return self.journeys.begin(request, span, steady_key=key)


_SHUTDOWN_DONE = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})


async def _serve_lifespan(
    receive: Receive, send: Send, received: list[str], timeout_millis: int
) -> None:
    """Answer the lifespan protocol for an app without it: start at once, flush at shutdown."""
    if "lifespan.shutdown" in received:
        flush(timeout_millis)
        await send({"type": "lifespan.shutdown.complete"})
        return
    if "lifespan.startup" not in received:
        await receive()
    await send({"type": "lifespan.startup.complete"})
    while (await receive()).get("type") != "lifespan.shutdown":
        pass
    flush(timeout_millis)
    await send({"type": "lifespan.shutdown.complete"})


def _cookie_send(send: Send, web: WebRequest) -> Send:
    """Wrap ``send``: add the ``Set-Cookie`` header, if consent allows one, at the response
    start."""

    async def send_with_cookie(message: Message) -> None:
        if message.get("type") == "http.response.start":
            try:
                cookie = web.response_cookie()
                if cookie is not None:
                    headers = list(message.get("headers") or ())
                    headers.append((b"set-cookie", cookie.header().encode("latin-1")))
                    message["headers"] = headers
            except Exception as exc:
                internal_error(exc, "asgi.set_cookie")
        await send(message)

    return send_with_cookie


def _form_receive(scope: Scope, receive: Receive, web: WebRequest) -> Receive:
    """Wrap ``receive`` to read field names from a form body as the app consumes it.

    The body still goes to the app untouched; only the first :data:`MAX_BODY_SCAN` bytes are
    copied, once.
    """
    content_type = None
    if str(scope.get("method", "")).upper() in _FORM_METHODS:
        for name, value in scope.get("headers") or ():
            if name.lower() == b"content-type":
                content_type = value.decode("latin-1")
                break
    if not is_form(content_type):
        return receive
    buffer = bytearray()
    done = False

    async def receive_form() -> Message:
        nonlocal done
        message = await receive()
        if done or message.get("type") != "http.request":
            return message
        try:
            chunk = message.get("body") or b""
            buffer.extend(chunk[: MAX_BODY_SCAN - len(buffer)])
            if not message.get("more_body", False) or len(buffer) >= MAX_BODY_SCAN:
                done = True
                web.record_form(form_field_names(content_type, bytes(buffer)))
        except Exception as exc:
            done = True
            internal_error(exc, "asgi.form")
        return message

    return receive_form


def instrument_fastapi(app: Any, **options: Any) -> None:
    """Instrument a FastAPI app with OpenTelemetry and leadtrace, in the order that works.

    Calls ``FastAPIInstrumentor.instrument_app(app, tracer_provider=..., meter_provider=...)``
    with the active leadtrace handle's providers, then adds :class:`LeadtraceMiddleware`
    (``options`` are its keyword arguments).

    Raises:
        ImportError: the ``fastapi`` extra is not installed.
    """
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    except ImportError as exc:
        from leadtrace.integrations import missing_extra

        library = "opentelemetry-instrumentation-fastapi"
        raise missing_extra(__name__, library, "fastapi", exc) from exc
    from leadtrace._runtime import current

    runtime = current()
    app.add_middleware(LeadtraceMiddleware, **options)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=runtime.tracer_provider, meter_provider=runtime.meter_provider
    )
