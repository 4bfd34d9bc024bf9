"""HubSpot (``hubspot-api-client``): one span per API operation, with its dedupe outcome.

::

    from leadtrace.integrations.hubspot import HubSpotInstrumentor
    HubSpotInstrumentor().instrument()

    client = hubspot.Client.create(access_token=token)
    client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={...}))

Each ``ApiClient.call_api`` (every generated sub-package has its own, ``hubspot.crm.contacts``,
``hubspot.crm.companies``, ...) becomes a span named ``hubspot <api> <operation>``, e.g.
``hubspot crm.contacts create`` or ``hubspot crm.contacts batch.upsert``, carrying the object
type, record id, HTTP status, dedupe outcome (201 created, batch ``new`` true / false, 409
``Existing ID`` conflict with the existing id), rate-limit headers, urllib3 retries and the
``correlationId``. Only property names and the keyed hash of ``email`` are recorded, never
property values. ``async_req=True`` calls run on the client's thread pool inside the caller's
trace. A landed create / update / upsert of a contact or lead also emits ``crm_updated``
(``instrument(emit_events=False)`` turns that off). The HubSpot span is the call's HTTP
client span: OpenTelemetry's urllib3 instrumentation makes no span under it and sends HubSpot
no trace header (``instrument(http_spans=True)`` keeps both).

Needs the ``hubspot`` extra: ``pip install 'leadtrace[hubspot]'``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sys
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

try:
    import hubspot  # noqa: F401  # the extra's import check
except ImportError as exc:  # pragma: no cover - exercised in a subprocess-free import test
    from leadtrace.integrations._vendor import missing_client

    raise missing_client(__name__, "hubspot-api-client", "hubspot", exc) from exc

import wrapt
from opentelemetry import context, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # mypy cannot see it
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Span
from urllib3 import HTTPHeaderDict

from leadtrace import semconv
from leadtrace._guard import internal_error
from leadtrace._runtime import current
from leadtrace._sdk import add_attributes
from leadtrace.integrations._vendor import (
    HTTP_REQUEST_METHOD,
    LEAD_OBJECTS,
    Outcome,
    VendorTracer,
    count_outcome,
    crm_write_failed,
    emit_crm_updated,
    existing_id_in,
    failure_of_exception,
    failure_of_status,
    hashed_email,
    http_guard,
    lower_headers,
    property_names,
    record_outcome,
    retry_after,
    server_attributes,
    singular,
    to_int,
)

__all__ = ["HubSpotInstrumentor"]

_INSTRUMENTS = ("hubspot-api-client >= 12.0, < 13",)
_SCOPE = "leadtrace.integrations.hubspot"

_VERSION_PART = re.compile(r"v\d+|\d{4}-\d{2}(-\d{2})?")
_ID_VERB = {"GET": "get", "PATCH": "update", "PUT": "replace", "DELETE": "delete"}
_LIST_VERB = {"GET": "list", "POST": "create"}
_CRM_OPERATIONS = {
    "create": semconv.CRM_OPERATION_CREATE,
    "batch.create": semconv.CRM_OPERATION_CREATE,
    "update": semconv.CRM_OPERATION_UPDATE,
    "batch.update": semconv.CRM_OPERATION_UPDATE,
    "batch.upsert": semconv.CRM_OPERATION_UPSERT,
    "delete": semconv.CRM_OPERATION_DELETE,
    "batch.archive": semconv.CRM_OPERATION_DELETE,
}
_WRITES = frozenset(
    {semconv.CRM_OPERATION_CREATE, semconv.CRM_OPERATION_UPDATE, semconv.CRM_OPERATION_UPSERT}
)
# Positions of call_api's parameters (the generated code passes the first five by position).
_RESOURCE_PATH, _METHOD, _PATH_PARAMS, _BODY, _ASYNC_REQ = 0, 1, 2, 5, 10


@dataclass(frozen=True)
class _Route:
    """What a URL template and method say about the call, computed once per template."""

    family: str
    object_type: str  # empty when the path names none; "{...}" when it is a parameter
    operation: str
    crm_operation: str | None
    method: str


@functools.lru_cache(maxsize=1024)
def _route(resource_path: str, method: str) -> _Route:
    parts = [p for p in resource_path.strip("/").split("/") if p and not _VERSION_PART.fullmatch(p)]
    method = method.upper()
    if len(parts) >= 3 and parts[0] == "crm" and parts[1] == "objects":
        family, object_type, rest = "crm", parts[2], parts[3:]
    elif len(parts) >= 2:
        family, object_type, rest = parts[0], parts[1], parts[2:]
    else:
        family, object_type, rest = (parts[0] if parts else "api"), "", []
    static = [p for p in rest if not p.startswith("{")]
    has_id = len(static) < len(rest)
    if static:
        operation = ".".join(static)
        if method != "POST":
            operation += "." + _ID_VERB.get(method, method.lower())
    else:
        verbs = _ID_VERB if has_id else _LIST_VERB
        operation = verbs.get(method, method.lower())
    return _Route(family, object_type, operation, _CRM_OPERATIONS.get(operation), method)


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _object_type(route: _Route, path_params: Any) -> str:
    object_type = route.object_type
    if object_type.startswith("{") and isinstance(path_params, dict):
        value = path_params.get(object_type.strip("{}"))
        return str(value) if value is not None else object_type
    return object_type


def _record_id(path_params: Any) -> str | None:
    if not isinstance(path_params, dict):
        return None
    for key, value in path_params.items():
        if key.endswith("Id") and key != "objectTypeId" and value is not None:
            return str(value)
    return None


def _properties(body: Any) -> tuple[tuple[str, ...], int | None, str | None]:
    """(property names, batch size, e-mail hash) of a request body; never its values."""
    if body is None:
        return (), None, None
    inputs = getattr(body, "inputs", None)
    if isinstance(inputs, list):
        names: set[str] = set()
        for item in inputs:
            names.update(property_names(getattr(item, "properties", None)))
        return tuple(sorted(names)[:128]), len(inputs), None
    props = getattr(body, "properties", None)
    if props is None and isinstance(body, dict):
        props = body.get("properties")
    return property_names(props), None, hashed_email(props)


def _from_headers(outcome: Outcome, headers: Any) -> None:
    # urllib3's HTTPHeaderDict (what the client hands back) looks names up in any case;
    # anything else is copied into a dict keyed by lower-case name first.
    found = headers if isinstance(headers, HTTPHeaderDict) else lower_headers(headers)
    outcome.rate_remaining = to_int(found.get("x-hubspot-ratelimit-remaining"))
    outcome.rate_limit = to_int(found.get("x-hubspot-ratelimit-max"))
    outcome.retry_after = retry_after(found.get("retry-after"))
    request_id = found.get("x-hubspot-correlation-id")
    if request_id is not None:
        outcome.request_id = request_id


def _success(instance: Any, result: Any, route: _Route, preloaded: bool) -> Outcome:
    outcome = Outcome()
    response = getattr(instance, "last_response", None) if preloaded else result
    if response is not None:
        outcome.status = getattr(response, "status", None)
        getheaders = getattr(response, "getheaders", None)
        if getheaders is not None:
            _from_headers(outcome, getheaders())
        raw = getattr(response, "urllib3_response", response)
        retries = getattr(raw, "retries", None)
        history = getattr(retries, "history", None)
        outcome.retries = len(history) if history is not None else 0
    if not preloaded:  # the caller reads the raw body itself: only the transport facts
        return outcome
    data = result[0] if isinstance(result, tuple) and result else result
    results = getattr(data, "results", None)
    if isinstance(results, list):
        created = updated = 0
        for item in results:
            new = getattr(item, "new", None)
            if new is None:
                new = route.crm_operation == semconv.CRM_OPERATION_CREATE
            dedupe = semconv.DEDUPE_CREATED if new else semconv.DEDUPE_UPDATED
            created += bool(new)
            updated += not new
            item_id = getattr(item, "id", None)
            outcome.records.append((str(item_id) if item_id is not None else None, dedupe))
        if route.crm_operation in _WRITES:
            outcome.created, outcome.updated = created, updated
            if results and not updated:
                outcome.dedupe = semconv.DEDUPE_CREATED
            elif results and not created:
                outcome.dedupe = semconv.DEDUPE_UPDATED
        return outcome
    record_id = getattr(data, "id", None)
    if record_id is not None:
        outcome.record_id = str(record_id)
    elif route.crm_operation in _WRITES:
        # The client turns an unreadable answer into an empty model instead of raising:
        # the write may have landed, but nobody knows which record it is.
        outcome.reason = semconv.FAILURE_SERVER_ERROR
        return outcome
    if route.crm_operation == semconv.CRM_OPERATION_CREATE:
        outcome.dedupe = semconv.DEDUPE_CREATED
    elif route.crm_operation in (semconv.CRM_OPERATION_UPDATE, semconv.CRM_OPERATION_UPSERT):
        new = getattr(data, "new", None)
        outcome.dedupe = semconv.DEDUPE_CREATED if new else semconv.DEDUPE_UPDATED
    if outcome.dedupe is not None:
        outcome.records.append((outcome.record_id, outcome.dedupe))
    return outcome


def _failure(exc: BaseException) -> Outcome:
    outcome = Outcome(error_type=type(exc).__name__)
    status = getattr(exc, "status", None)
    if not isinstance(status, int) or status == 0:
        # status 0: the client wrapped a transport failure (e.g. SSL) in ApiException
        outcome.reason = failure_of_exception(exc)
        return outcome
    outcome.status = status
    outcome.reason = failure_of_status(status)
    _from_headers(outcome, getattr(exc, "headers", None))
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    message = ""
    if isinstance(body, str) and body.startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            message = str(parsed.get("message") or "")
            correlation = parsed.get("correlationId")
            if correlation:
                outcome.request_id = str(correlation)
    if status == 409:
        outcome.dedupe = semconv.DEDUPE_CONFLICT
        outcome.existing_id = existing_id_in(message)
    return outcome


@dataclass(frozen=True)
class _Shape:
    """Span name and the attributes every call of one route and object type carries."""

    name: str
    operation: str
    crm_object: str
    emits: bool  # a write of a contact or lead: emits crm_updated
    attributes: dict[str, Any]


@functools.lru_cache(maxsize=1024)
def _shape(route: _Route, object_type: str) -> _Shape:
    operation = f"{route.family}.{object_type} {route.operation}"
    name = f"hubspot {operation}" if object_type else f"hubspot {route.family} {route.operation}"
    attrs: dict[str, Any] = {
        semconv.VENDOR_NAME: semconv.VENDOR_HUBSPOT,
        semconv.VENDOR_OPERATION: operation,
        HTTP_REQUEST_METHOD: route.method,
    }
    crm_object = singular(object_type)
    if route.family == "crm":
        attrs[semconv.CRM_SYSTEM] = semconv.VENDOR_HUBSPOT
        if object_type:
            attrs[semconv.CRM_OBJECT] = crm_object
    if route.crm_operation is not None:
        attrs[semconv.CRM_OPERATION] = route.crm_operation
    emits = crm_object in LEAD_OBJECTS and route.crm_operation in _WRITES
    return _Shape(name, operation, crm_object, emits, attrs)


def _start_attributes(
    span: Span, shape: _Shape, path_params: Any, body: Any, instance: Any
) -> None:
    attrs = shape.attributes.copy()
    host = getattr(getattr(instance, "configuration", None), "host", None)
    if isinstance(host, str):
        attrs.update(server_attributes(host))
    record_id = _record_id(path_params)
    if record_id is not None:
        attrs[semconv.CRM_RECORD_ID] = record_id
    names, batch, email_hash = _properties(body)
    if names:
        attrs[semconv.VENDOR_PROPERTY_NAMES] = names
    if batch is not None:
        attrs[semconv.VENDOR_BATCH_SIZE] = batch
    if email_hash is not None:
        attrs[semconv.IDENTITY_EMAIL_HASH] = email_hash
    add_attributes(span, attrs)  # built here: text, numbers and tuples of text only


class HubSpotInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Instruments every ``ApiClient.call_api`` of ``hubspot-api-client``.

    ``instrument()`` options:
        tracer_provider: provider for the spans; default: leadtrace's current handle.
        emit_events: emit ``crm_updated`` for landed contact / lead writes (default True).
        http_spans: keep the spans (and the ``traceparent`` / ``baggage`` headers) of
            OpenTelemetry's urllib3 instrumentation under each HubSpot span. Default False:
            the HubSpot span is the call's HTTP client span (method, server, status, retries).
    """

    _lock = threading.Lock()
    _hooked: set[str] = set()

    def instrumentation_dependencies(self) -> Collection[str]:
        """The client versions this instrumentor is tested with."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._tracer = VendorTracer(_SCOPE, kwargs.get("tracer_provider"))
        self._emit_events = bool(kwargs.get("emit_events", True))
        self._http = http_guard(bool(kwargs.get("http_spans", False)))
        self._wrapped: list[Any] = []
        self._active = True
        for name in _api_client_modules():
            if name in sys.modules:
                self._wrap_module(sys.modules[name])
                continue
            with self._lock:
                first = name not in self._hooked
                self._hooked.add(name)
            if first:
                # wrapt has no way to remove a post-import hook: the hook asks the current
                # instrumentor (or none) at import time.
                wrapt.register_post_import_hook(_on_import, name)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._active = False
        for module in self._wrapped:
            unwrap(module.ApiClient, "call_api")
        self._wrapped = []

    def _wrap_module(self, module: Any) -> None:
        api_client = getattr(module, "ApiClient", None)
        if api_client is None or isinstance(
            getattr(api_client, "call_api", None), wrapt.ObjectProxy
        ):
            return
        wrapt.wrap_function_wrapper(api_client, "call_api", self._call_api)
        self._wrapped.append(module)

    def _call_api(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _arg(args, kwargs, _ASYNC_REQ, "async_req"):
            return self._submit(wrapped, instance, args, kwargs)
        return self._traced(wrapped, instance, args, kwargs)

    def _submit(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run an ``async_req`` call on the client's pool, inside the caller's context."""
        try:
            if len(args) > _ASYNC_REQ:
                sync_args = (*args[:_ASYNC_REQ], False, *args[_ASYNC_REQ + 1 :])
                sync_kwargs = kwargs
            else:
                sync_args, sync_kwargs = args, {**kwargs, "async_req": False}
            parent = context.get_current()
            runtime = current()  # a test capture is active on this thread only
        except Exception as exc:
            internal_error(exc, "hubspot.async_req")
            return wrapped(*args, **kwargs)

        def run() -> Any:
            token = context.attach(parent)
            try:
                with runtime.activate():
                    return self._traced(wrapped, instance, sync_args, sync_kwargs)
            finally:
                context.detach(token)

        return instance.pool.apply_async(run)

    def _traced(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            route = _route(
                str(_arg(args, kwargs, _RESOURCE_PATH, "resource_path")),
                str(_arg(args, kwargs, _METHOD, "method")),
            )
            path_params = _arg(args, kwargs, _PATH_PARAMS, "path_params")
            shape = _shape(route, _object_type(route, path_params))
            span = self._tracer.start(shape.name)
            if span.is_recording():
                body = _arg(args, kwargs, _BODY, "body")
                _start_attributes(span, shape, path_params, body, instance)
            # Activated by hand: trace.use_span's generator costs more than the span's own
            # attributes; the span ends (without recording the exception) either way.
            token = context.attach(trace.set_span_in_context(span))
        except Exception as exc:
            internal_error(exc, "hubspot.start")
            return wrapped(*args, **kwargs)
        try:
            # The outcome is read whether or not the span is recorded: the vendor metrics
            # and the SLIs count every call, sampled or not.
            try:
                with self._http():
                    result = wrapped(*args, **kwargs)
            except Exception as exc:
                self._finish(span, shape, route, functools.partial(_failure, exc))
                raise
            preloaded = bool(kwargs.get("_preload_content", True))
            outcome = self._finish(
                span, shape, route, lambda: _success(instance, result, route, preloaded)
            )
            if (
                self._emit_events
                and shape.emits
                and outcome is not None
                and route.crm_operation is not None
            ):
                emit_crm_updated(
                    semconv.VENDOR_HUBSPOT,
                    shape.crm_object,
                    route.crm_operation,
                    outcome.records,
                )
            return result
        finally:
            context.detach(token)
            span.end()

    def _finish(self, span: Span, shape: _Shape, route: _Route, read: Any) -> Outcome | None:
        try:
            outcome: Outcome = read()
            count_outcome(
                semconv.VENDOR_HUBSPOT,
                shape.operation,
                shape.crm_object or None,
                outcome,
                semconv.LAYER_CRM,
            )
            record_outcome(span, outcome, semconv.LAYER_CRM)
            if self._emit_events and shape.emits and route.crm_operation is not None:
                crm_write_failed(
                    semconv.VENDOR_HUBSPOT, shape.crm_object, route.crm_operation, outcome
                )
            return outcome
        except Exception as exc:
            internal_error(exc, "hubspot.finish")
            return None


def _on_import(module: Any) -> None:
    instrumentor = HubSpotInstrumentor()  # a singleton: BaseInstrumentor.__new__
    if getattr(instrumentor, "_active", False):
        try:
            instrumentor._wrap_module(module)
        except Exception as exc:
            internal_error(exc, "hubspot.wrap")


@functools.cache
def _api_client_modules() -> tuple[str, ...]:
    """Every ``hubspot.<...>.api_client`` module of the installed client, without importing."""
    spec = importlib.util.find_spec("hubspot")
    roots = list(spec.submodule_search_locations or ()) if spec is not None else []
    names: list[str] = []
    for root in roots:
        for directory, _dirs, files in os.walk(root):
            if "api_client.py" in files:
                relative = os.path.relpath(directory, root)
                package = (
                    "hubspot" if relative == "." else "hubspot." + relative.replace(os.sep, ".")
                )
                names.append(package + ".api_client")
    return tuple(sorted(names))
