"""Salesforce (``simple-salesforce``): one span per record operation and per bulk job.

::

    from leadtrace.integrations.salesforce import SalesforceInstrumentor
    SalesforceInstrumentor().instrument()

    sf = Salesforce(instance_url=url, session_id=token)
    sf.Lead.upsert("Email_Key__c/k-123", {"LastName": "Lovelace", "Company": "ACME"})

``SFType.create / upsert / update / delete / get`` become spans named
``salesforce <object> <operation>`` (``salesforce Lead upsert``) with the object type, record
id, HTTP status, dedupe outcome (upsert 201 created / 204 updated, ``DUPLICATES_DETECTED``
duplicate with the matched record's id, 300 ambiguous), ``Sforce-Limit-Info`` usage and
session-refresh retries. An upsert by external id records the field name, never the matched
value. Bulk jobs (``sf.bulk.Lead.upsert(...)``) become ``salesforce <object> bulk.<operation>``
spans; their worker threads run inside the job's trace. A landed create / update / upsert of
a Lead or Contact also emits ``crm_updated`` (``instrument(emit_events=False)`` turns that
off).

Needs the ``salesforce`` extra: ``pip install 'leadtrace[salesforce]'``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

try:
    import simple_salesforce.api
    import simple_salesforce.bulk
    import simple_salesforce.bulk2
except ImportError as exc:  # pragma: no cover - exercised in a subprocess-free import test
    from leadtrace.integrations._vendor import missing_client

    raise missing_client(__name__, "simple-salesforce", "salesforce", exc) from exc

import wrapt
from opentelemetry import context, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # mypy cannot see it
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Span

from leadtrace import semconv
from leadtrace._guard import internal_error
from leadtrace._runtime import Leadtrace, current
from leadtrace._sdk import add_attributes
from leadtrace.integrations._vendor import (
    HTTP_REQUEST_METHOD,
    LEAD_OBJECTS,
    Outcome,
    VendorTracer,
    count_outcome,
    crm_write_failed,
    emit_crm_updated,
    failure_of_exception,
    failure_of_status,
    hashed_email,
    http_guard,
    property_names,
    record_outcome,
    server_attributes,
    singular,
)

__all__ = ["SalesforceInstrumentor"]

_INSTRUMENTS = ("simple-salesforce >= 1.12, < 1.13",)
_SCOPE = "leadtrace.integrations.salesforce"

_SFTYPE = simple_salesforce.api.SFType
_BULK = simple_salesforce.bulk.SFBulkType
_BULK2 = simple_salesforce.bulk2.SFBulk2Type

# method -> (operation, CRM operation, index of the record id argument, of the data argument,
# HTTP method it sends)
_OPERATIONS: dict[str, tuple[str, str | None, int | None, int | None, str]] = {
    "create": ("create", semconv.CRM_OPERATION_CREATE, None, 0, "POST"),
    "upsert": ("upsert", semconv.CRM_OPERATION_UPSERT, 0, 1, "PATCH"),
    "update": ("update", semconv.CRM_OPERATION_UPDATE, 0, 1, "PATCH"),
    "delete": ("delete", semconv.CRM_OPERATION_DELETE, 0, None, "DELETE"),
    "get": ("get", None, 0, None, "GET"),
}
_BULK_CRM = {
    "insert": semconv.CRM_OPERATION_CREATE,
    "upsert": semconv.CRM_OPERATION_UPSERT,
    "update": semconv.CRM_OPERATION_UPDATE,
    "delete": semconv.CRM_OPERATION_DELETE,
    "hardDelete": semconv.CRM_OPERATION_DELETE,
}
_WRITES = frozenset(
    {semconv.CRM_OPERATION_CREATE, semconv.CRM_OPERATION_UPDATE, semconv.CRM_OPERATION_UPSERT}
)
_DUPLICATE_CODES = frozenset({"DUPLICATES_DETECTED", "DUPLICATE_VALUE"})
_RATE_LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})
_AUTH_CODES = frozenset({"INVALID_SESSION_ID"})


@dataclass
class _Call:
    """What the transport saw for the record operation in progress."""

    attempts: int = 0
    response: Any = None


_pending: ContextVar[_Call | None] = ContextVar("leadtrace_salesforce_call", default=None)
_bulk_jobs: ContextVar[list[str] | None] = ContextVar("leadtrace_salesforce_jobs", default=None)


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int | None, name: str) -> Any:
    if index is None:
        return None
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def _limits(outcome: Outcome, headers: Any) -> None:
    """``Sforce-Limit-Info: api-usage=25/15000`` -> remaining 14975 of 15000."""
    info = headers.get("Sforce-Limit-Info") if headers is not None else None
    if not info or "api-usage=" not in info:
        return
    usage = info.split("api-usage=", 1)[1].split(",", 1)[0]
    used, _, limit = usage.partition("/")
    try:
        outcome.rate_limit = int(limit)
        outcome.rate_remaining = int(limit) - int(used)
    except ValueError:
        return


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _success(call: _Call, result: Any, crm_operation: str | None, record_id: Any) -> Outcome:
    outcome = Outcome(retries=max(call.attempts - 1, 0))
    response = call.response
    status = getattr(response, "status_code", None)
    if response is not None:
        outcome.status = status
        _limits(outcome, getattr(response, "headers", None))
    if isinstance(record_id, str) and "/" not in record_id:
        outcome.record_id = record_id
    if crm_operation == semconv.CRM_OPERATION_CREATE:
        outcome.dedupe = semconv.DEDUPE_CREATED
        if isinstance(result, dict) and result.get("id"):
            outcome.record_id = str(result["id"])
    elif crm_operation == semconv.CRM_OPERATION_UPDATE:
        outcome.dedupe = semconv.DEDUPE_UPDATED
    elif crm_operation == semconv.CRM_OPERATION_UPSERT:
        body = _json(response) if status in (200, 201) else None
        created = status == 201
        if isinstance(body, dict):
            created = bool(body.get("created", created))
            if body.get("id"):
                outcome.record_id = str(body["id"])
        outcome.dedupe = semconv.DEDUPE_CREATED if created else semconv.DEDUPE_UPDATED
    if outcome.dedupe is not None:
        outcome.records.append((outcome.record_id, outcome.dedupe))
    return outcome


def _first_error(content: Any) -> dict[str, Any]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0]
    return {}


def _matched_id(error: dict[str, Any]) -> str | None:
    """Id of the first record a duplicate rule matched, when Salesforce says which."""
    for match in (error.get("duplicateResult") or {}).get("matchResults") or ():
        for record in match.get("matchRecords") or ():
            record_id = (record.get("record") or {}).get("Id")
            if record_id:
                return str(record_id)
    return None


def _failure(call: _Call, exc: BaseException) -> Outcome:
    outcome = Outcome(retries=max(call.attempts - 1, 0), error_type=type(exc).__name__)
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        if call.response is not None:  # the answer arrived but could not be read
            outcome.status = getattr(call.response, "status_code", None)
        outcome.reason = failure_of_exception(exc)
        return outcome
    outcome.status = status
    outcome.reason = failure_of_status(status)
    error = _first_error(getattr(exc, "content", None))
    code = str(error.get("errorCode") or "")
    if status == 300:
        outcome.dedupe = semconv.DEDUPE_AMBIGUOUS
    elif code in _DUPLICATE_CODES:
        outcome.dedupe = semconv.DEDUPE_DUPLICATE
        outcome.reason = semconv.FAILURE_DUPLICATE
        outcome.existing_id = _matched_id(error)
    elif code in _RATE_LIMIT_CODES:
        outcome.reason = semconv.FAILURE_RATE_LIMITED
    elif code in _AUTH_CODES:
        outcome.reason = semconv.FAILURE_AUTH
    return outcome


@dataclass(frozen=True)
class _Shape:
    """Span name and the attributes every call of one object and operation carries."""

    name: str
    operation: str
    crm_object: str
    crm_operation: str | None
    emits: bool  # a write of a Lead or Contact: emits crm_updated
    attributes: dict[str, Any]


@functools.lru_cache(maxsize=1024)
def _shape(object_name: str, operation: str, crm_operation: str | None) -> _Shape:
    label = f"{object_name} {operation}"
    crm_object = singular(object_name)
    attrs: dict[str, Any] = {
        semconv.VENDOR_NAME: semconv.VENDOR_SALESFORCE,
        semconv.VENDOR_OPERATION: label,
        semconv.CRM_SYSTEM: semconv.VENDOR_SALESFORCE,
        semconv.CRM_OBJECT: crm_object,
    }
    if crm_operation is not None:
        attrs[semconv.CRM_OPERATION] = crm_operation
    emits = crm_operation in _WRITES and crm_object in LEAD_OBJECTS
    return _Shape(f"salesforce {label}", label, crm_object, crm_operation, emits, attrs)


class SalesforceInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Instruments ``simple_salesforce`` record operations and bulk (v1) jobs.

    ``instrument()`` options:
        tracer_provider: provider for the spans; default: leadtrace's current handle.
        emit_events: emit ``crm_updated`` for landed Lead / Contact writes (default True).
        http_spans: keep the spans (and the ``traceparent`` / ``baggage`` headers) of
            OpenTelemetry's requests instrumentation under each record operation's span.
            Default False: the Salesforce span is the call's HTTP client span (method,
            server, status). Bulk jobs, many requests each, always keep them.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """The client versions this instrumentor is tested with."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._tracer = VendorTracer(_SCOPE, kwargs.get("tracer_provider"))
        self._emit_events = bool(kwargs.get("emit_events", True))
        self._http = http_guard(bool(kwargs.get("http_spans", False)))
        self._jobs: dict[str, tuple[context.Context, Leadtrace]] = {}
        self._jobs_lock = threading.Lock()
        for method, spec in _OPERATIONS.items():
            wrapt.wrap_function_wrapper(_SFTYPE, method, self._operation(method, *spec))
        wrapt.wrap_function_wrapper(_SFTYPE, "_call_salesforce", _transport)
        wrapt.wrap_function_wrapper(_BULK, "_bulk_operation", self._bulk_operation)
        wrapt.wrap_function_wrapper(_BULK, "_create_job", self._create_job)
        wrapt.wrap_function_wrapper(_BULK, "worker", self._worker)
        self._bulk2: dict[int, tuple[context.Context, Leadtrace]] = {}
        wrapt.wrap_function_wrapper(_BULK2, "_upload_file", self._upload_file)
        wrapt.wrap_function_wrapper(_BULK2, "_upload_data", self._upload_data)

    def _uninstrument(self, **kwargs: Any) -> None:
        for method in (*_OPERATIONS, "_call_salesforce"):
            unwrap(_SFTYPE, method)
        for method in ("_bulk_operation", "_create_job", "worker"):
            unwrap(_BULK, method)
        for method in ("_upload_file", "_upload_data"):
            unwrap(_BULK2, method)

    def _operation(
        self,
        method: str,
        operation: str,
        crm_operation: str | None,
        id_index: int | None,
        data_index: int | None,
        http_method: str,
    ) -> Callable[..., Any]:
        def wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            try:
                shape = _shape(str(instance.name), operation, crm_operation)
                record_id = _arg(args, kwargs, id_index, "record_id")
                span = self._tracer.start(shape.name)
                if span.is_recording():
                    attrs = shape.attributes.copy()
                    attrs[HTTP_REQUEST_METHOD] = http_method
                    base_url = getattr(instance, "base_url", None)
                    if isinstance(base_url, str):
                        attrs.update(server_attributes(base_url))
                    if isinstance(record_id, str):
                        field, slash, _value = record_id.partition("/")
                        attrs[semconv.CRM_EXTERNAL_ID_FIELD if slash else semconv.CRM_RECORD_ID] = (
                            field
                        )
                    data = _arg(args, kwargs, data_index, "data")
                    names = property_names(data)
                    if names:
                        attrs[semconv.VENDOR_PROPERTY_NAMES] = names
                    email_hash = hashed_email(data)
                    if email_hash is not None:
                        attrs[semconv.IDENTITY_EMAIL_HASH] = email_hash
                    add_attributes(span, attrs)  # built here: text and tuples of text only
                emit = self._emit_events and shape.emits
                call = _Call()
                token = _pending.set(call)
                # Activated by hand: trace.use_span's generator costs more than the span's
                # own attributes; the span ends (without recording the exception) either way.
                active = context.attach(trace.set_span_in_context(span))
            except Exception as exc:
                internal_error(exc, "salesforce.start")
                return wrapped(*args, **kwargs)
            # The outcome is read whether or not the span is recorded: the vendor metrics
            # and the SLIs count every call, sampled or not.
            try:
                try:
                    with self._http():
                        result = wrapped(*args, **kwargs)
                except Exception as exc:
                    self._finish(span, shape, emit, functools.partial(_failure, call, exc))
                    raise
                outcome = self._finish(
                    span, shape, emit, lambda: _success(call, result, crm_operation, record_id)
                )
                if emit and outcome is not None and crm_operation is not None:
                    emit_crm_updated(
                        semconv.VENDOR_SALESFORCE,
                        shape.crm_object,
                        crm_operation,
                        outcome.records,
                    )
                return result
            finally:
                context.detach(active)
                span.end()
                _pending.reset(token)

        wrapper.__name__ = f"leadtrace_salesforce_{method}"
        return wrapper

    def _finish(
        self, span: Span, shape: _Shape, emits: bool, read: Callable[[], Outcome]
    ) -> Outcome | None:
        """Count the call, put its outcome on ``span``; a failed lead write counts as bad."""
        try:
            outcome = read()
            count_outcome(
                semconv.VENDOR_SALESFORCE,
                shape.operation,
                shape.crm_object,
                outcome,
                semconv.LAYER_CRM,
            )
            record_outcome(span, outcome, semconv.LAYER_CRM)
            if emits and shape.crm_operation is not None:
                crm_write_failed(
                    semconv.VENDOR_SALESFORCE, shape.crm_object, shape.crm_operation, outcome
                )
            return outcome
        except Exception as exc:
            internal_error(exc, "salesforce.finish")
            return None

    # --- bulk (v1) -----------------------------------------------------------------------------

    def _bulk_operation(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            operation = str(_arg(args, kwargs, 0, "operation"))
            object_name = str(instance.object_name)
            shape = _shape(object_name, f"bulk.{operation}", _BULK_CRM.get(operation))
            span = self._tracer.start(shape.name)
            if span.is_recording():
                attrs = shape.attributes.copy()
                data = _arg(args, kwargs, 1, "data")
                if isinstance(data, list):
                    attrs[semconv.VENDOR_BATCH_SIZE] = len(data)
                    names: set[str] = set()
                    for record in data[:200]:  # names only; a sample bounds the cost
                        names.update(property_names(record))
                    if names:
                        attrs[semconv.VENDOR_PROPERTY_NAMES] = tuple(sorted(names)[:128])
                external = kwargs.get("external_id_field")
                if external:
                    attrs[semconv.CRM_EXTERNAL_ID_FIELD] = str(external)
                span.set_attributes(attrs)
        except Exception as exc:
            internal_error(exc, "salesforce.bulk.start")
            return wrapped(*args, **kwargs)
        jobs: list[str] = []
        token = _bulk_jobs.set(jobs)
        try:
            with trace.use_span(
                span, end_on_exit=True, record_exception=False, set_status_on_exception=False
            ):
                try:
                    results = wrapped(*args, **kwargs)
                except Exception as exc:
                    self._finish(span, shape, False, functools.partial(_failure, _Call(), exc))
                    raise
                self._finish(span, shape, False, lambda: _bulk_outcome(results))
                return results
        finally:
            _bulk_jobs.reset(token)
            with self._jobs_lock:
                for job_id in jobs:
                    self._jobs.pop(job_id, None)

    def _create_job(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        job = wrapped(*args, **kwargs)
        try:
            job_id = job.get("id") if isinstance(job, dict) else None
            jobs = _bulk_jobs.get()
            if job_id and jobs is not None:
                jobs.append(str(job_id))
                with self._jobs_lock:
                    self._jobs[str(job_id)] = (context.get_current(), current())
        except Exception as exc:
            internal_error(exc, "salesforce.bulk.job")
        return job

    def _worker(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        batch = _arg(args, kwargs, 0, "batch")
        job_id = batch.get("jobId") if isinstance(batch, dict) else None
        with self._jobs_lock:
            found = self._jobs.get(str(job_id)) if job_id else None
        if found is None:
            return wrapped(*args, **kwargs)
        parent, runtime = found
        token = context.attach(parent)
        try:
            with runtime.activate():
                return wrapped(*args, **kwargs)
        finally:
            context.detach(token)

    # --- bulk 2.0 -------------------------------------------------------------------------------

    def _upload_file(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            raw = _arg(args, kwargs, 0, "operation")
            operation = str(getattr(raw, "value", raw))
            object_name = str(instance.object_name)
            shape = _shape(object_name, f"bulk2.{operation}", _BULK_CRM.get(operation))
            span = self._tracer.start(shape.name)
            if span.is_recording():
                attrs = shape.attributes.copy()
                external = kwargs.get("external_id_field")
                if external:
                    attrs[semconv.CRM_EXTERNAL_ID_FIELD] = str(external)
                span.set_attributes(attrs)
            key = id(instance)
        except Exception as exc:
            internal_error(exc, "salesforce.bulk2.start")
            return wrapped(*args, **kwargs)
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            with self._jobs_lock:
                self._bulk2[key] = (context.get_current(), current())
            try:
                results = wrapped(*args, **kwargs)
            except Exception as exc:
                self._finish(span, shape, False, functools.partial(_failure, _Call(), exc))
                raise
            finally:
                with self._jobs_lock:
                    self._bulk2.pop(key, None)
            self._finish(span, shape, False, functools.partial(_bulk2_outcome, results))
            return results

    def _upload_data(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if trace.get_current_span().get_span_context().is_valid:
            return wrapped(*args, **kwargs)  # the caller's thread: already in the job's trace
        with self._jobs_lock:
            found = self._bulk2.get(id(instance))
        if found is None:
            return wrapped(*args, **kwargs)
        parent, runtime = found
        token = context.attach(parent)
        try:
            with runtime.activate():
                return wrapped(*args, **kwargs)
        finally:
            context.detach(token)


def _bulk2_outcome(results: Any) -> Outcome:
    """Bulk 2.0 reports processed and failed counts per job, not created / updated."""
    outcome = Outcome()
    if isinstance(results, list):
        total = sum(int(r.get("numberRecordsTotal", 0)) for r in results if isinstance(r, dict))
        outcome.batch_size = total
    return outcome


def _bulk_outcome(results: Any) -> Outcome:
    outcome = Outcome()
    if not isinstance(results, list):
        return outcome
    created = updated = 0
    for item in results:
        if isinstance(item, dict) and item.get("success"):
            if item.get("created"):
                created += 1
            else:
                updated += 1
    outcome.created, outcome.updated = created, updated
    return outcome


def _transport(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Note each HTTP attempt (session refreshes retry) and the final answer."""
    call = _pending.get()
    if call is None:
        return wrapped(*args, **kwargs)
    call.attempts += 1
    result = wrapped(*args, **kwargs)
    call.response = result
    return result
