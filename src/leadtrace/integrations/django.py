"""Django integration: first-touch attribution and journeys for every request.

List the middleware AFTER OpenTelemetry's (``DjangoInstrumentor().instrument()`` inserts its
own at the top of ``MIDDLEWARE``), so it runs inside the server span::

    MIDDLEWARE = [
        "leadtrace.integrations.django.LeadtraceMiddleware",
        "django.middleware.security.SecurityMiddleware",
        ...
    ]
    # optional, defaults come from the leadtrace settings:
    LEADTRACE_WEB = {"session_events": True, "cookie_max_age_days": 90}

Works for WSGI and ASGI deployments. Needs the ``django`` extra:
``pip install 'leadtrace[django]'``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings as django_settings
    from django.http import HttpRequest, HttpResponseBase
except ImportError as exc:  # pragma: no cover - exercised by a subprocess-free import test
    from leadtrace.integrations import missing_extra

    raise missing_extra(__name__, "django", "django", exc) from exc

from opentelemetry import trace

from leadtrace._guard import internal_error
from leadtrace.errors import ConfigError
from leadtrace.integrations._request import is_form
from leadtrace.integrations._web import (
    WebJourneys,
    WebRequest,
    request_from_wsgi,
    wsgi_steady_key,
)

__all__ = ["SETTINGS_NAME", "LeadtraceMiddleware"]

SETTINGS_NAME = "LEADTRACE_WEB"
"""Django setting (a dict of :class:`WebJourneys` keyword arguments) read by the middleware."""

_FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})


class LeadtraceMiddleware:
    """Django middleware (sync and async): opens or continues a journey per request.

    See :class:`leadtrace.integrations.asgi.LeadtraceMiddleware` for what happens on each
    request; options come from the ``LEADTRACE_WEB`` Django setting.

    Raises:
        ConfigError: ``LEADTRACE_WEB`` is not a dict or holds an invalid option.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], Any],
    ) -> None:
        options = getattr(django_settings, SETTINGS_NAME, None) or {}
        if not isinstance(options, dict):
            raise ConfigError(f"Django setting {SETTINGS_NAME} must be a dict of options")
        try:
            self.journeys = WebJourneys(**options)
        except TypeError as exc:
            raise ConfigError(f"Django setting {SETTINGS_NAME}: {exc}") from exc
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """Handle one request (returns a coroutine under ASGI)."""
        if self._async:
            return self._acall(request)
        web = self._begin(request)
        if web is None:
            return self.get_response(request)
        web.enter()
        try:
            response = self.get_response(request)
            self._finish(web, request, response)
            return response
        finally:
            web.exit()

    async def _acall(self, request: HttpRequest) -> Any:
        web = self._begin(request)
        handler: Callable[[HttpRequest], Awaitable[Any]] = self.get_response
        if web is None:
            return await handler(request)
        web.enter()
        try:
            response = await handler(request)
            self._finish(web, request, response)
            return response
        finally:
            web.exit()

    def _begin(self, request: HttpRequest) -> WebRequest | None:
        span = trace.get_current_span()
        self.journeys.redact(span)
        key = wsgi_steady_key(request.META)
        web = self.journeys.remembered(key, span)
        if web is not None:
            return web
        try:
            info = request_from_wsgi(request.META, request.path)
        except Exception as exc:
            internal_error(exc, "django.request")
            return None
        return self.journeys.begin(info, span, steady_key=key)

    @staticmethod
    def _finish(web: WebRequest, request: HttpRequest, response: HttpResponseBase) -> None:
        try:
            if request.method in _FORM_METHODS and is_form(request.content_type):
                _record_form(web, request)
            cookie = web.response_cookie()
            if cookie is not None:
                cookie.apply(response)
        except Exception as exc:
            internal_error(exc, "django.finish")


def _record_form(web: WebRequest, request: HttpRequest) -> None:
    try:
        names = [*request.POST.keys(), *request.FILES.keys()]
    except Exception:  # Django's own limits (TooManyFieldsSent, ...) decide; the view saw them
        return
    web.record_form(str(n) for n in names)
