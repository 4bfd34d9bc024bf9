"""Flask integration: first-touch attribution and journeys for every request.

Call :func:`init_app` AFTER OpenTelemetry's Flask instrumentation, so leadtrace's
``before_request`` runs inside the server span (Flask runs ``before_request`` functions in
registration order and ``teardown_request`` functions in reverse)::

    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from leadtrace.integrations.flask import init_app

    app = Flask(__name__)
    FlaskInstrumentor().instrument_app(app)
    init_app(app)

Needs the ``flask`` extra: ``pip install 'leadtrace[flask]'``.
"""

from __future__ import annotations

import logging
from typing import Any

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised by a subprocess-free import test
    from leadtrace.integrations import missing_extra

    raise missing_extra(__name__, "flask", "flask", exc) from exc

from opentelemetry import trace

from leadtrace._guard import internal_error
from leadtrace._sdk import instrumented_app
from leadtrace.integrations._attribution import ChannelRules
from leadtrace.integrations._request import is_form
from leadtrace.integrations._web import (
    WebJourneys,
    WebRequest,
    request_from_wsgi,
    wsgi_steady_key,
)

__all__ = ["EXTENSION_KEY", "init_app"]

EXTENSION_KEY = "leadtrace"
"""Key of the :class:`WebJourneys` in ``app.extensions``."""

_ENVIRON_KEY = "leadtrace.web_request"
_OTEL_SPAN_KEY = "opentelemetry-flask.span_key"
_FORM_METHODS = frozenset({"POST", "PUT", "PATCH"})
_log = logging.getLogger("leadtrace")


def init_app(
    app: flask.Flask,
    *,
    channel_rules: ChannelRules | None = None,
    session_events: bool | None = None,
    cookie_name: str | None = None,
    cookie_key: bytes | str | None = None,
    cookie_max_age_days: int | None = None,
) -> WebJourneys:
    """Register leadtrace's request hooks on ``app``; returns the configured engine.

    Every request gets a journey (new, or continued from the signed first-touch cookie or a
    trusted ``leadtrace-journey`` header); its campaign, consent and journey attributes go on
    the server span and on every span started while the request runs; form posts record
    their field names; the first-touch cookie is set when the journey is new or the last
    touch changed. Options default to the leadtrace settings.

    Raises:
        ConfigError: an option is invalid.
    """
    journeys = WebJourneys(
        channel_rules=channel_rules,
        session_events=session_events,
        cookie_name=cookie_name,
        cookie_key=cookie_key,
        cookie_max_age_days=cookie_max_age_days,
    )
    if not instrumented_app(app):
        _log.warning(
            "leadtrace.integrations.flask.init_app: the app is not instrumented by "
            "OpenTelemetry yet; call FlaskInstrumentor().instrument_app(app) before init_app "
            "so journeys are attached inside the server span"
        )

    def leadtrace_before_request() -> None:
        environ = flask.request.environ
        span = trace.get_current_span()
        journeys.redact(span)
        key = wsgi_steady_key(environ)
        web = journeys.remembered(key, span)
        if web is None:
            try:
                request = request_from_wsgi(environ, flask.request.path)
            except Exception as exc:
                internal_error(exc, "flask.request")
                return
            web = journeys.begin(request, span, steady_key=key)
        if web is not None:
            environ[_ENVIRON_KEY] = web
            web.enter()

    def leadtrace_after_request(response: flask.Response) -> flask.Response:
        web: WebRequest | None = flask.request.environ.get(_ENVIRON_KEY)
        if web is None:
            return response
        try:
            _record_form(web)
            cookie = web.response_cookie()
            if cookie is not None:
                cookie.apply(response)
        except Exception as exc:
            internal_error(exc, "flask.after_request")
        return response

    def leadtrace_teardown_request(_exc: BaseException | None) -> None:
        web: WebRequest | None = flask.request.environ.pop(_ENVIRON_KEY, None)
        if web is not None:
            web.exit()

    app.before_request(leadtrace_before_request)
    app.after_request(leadtrace_after_request)
    app.teardown_request(leadtrace_teardown_request)
    app.extensions[EXTENSION_KEY] = journeys
    return journeys


def _record_form(web: WebRequest) -> None:
    request = flask.request
    if request.method not in _FORM_METHODS or not is_form(request.content_type):
        return
    try:
        names: list[Any] = [*request.form.keys(), *request.files.keys()]
    except Exception:  # werkzeug's own limits (413 etc.) decide; the app saw the same error
        return
    web.record_form(str(n) for n in names)
