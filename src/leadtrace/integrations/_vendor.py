"""What the vendor client instrumentors share: tracer choice, outcomes, failures, events.

Each vendor module (:mod:`~leadtrace.integrations.hubspot`, ``salesforce``, ``segment``,
``rudderstack``) reads its client's own signals into a :class:`Outcome`; this module turns an
outcome into span attributes, a failure classification, a count on the vendor metrics
(:mod:`~leadtrace.integrations._vendormetrics`) and, for a write of a contact or lead, the
canonical ``crm_updated`` event when it landed or a failed one for the SLIs when it did not.
Request bodies never reach a span: only property names and keyed hashes of identity keys do.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from leadtrace import semconv
from leadtrace._emit import emit, event_attributes
from leadtrace._guard import internal_error
from leadtrace._runtime import VERSION, Leadtrace, current
from leadtrace._sdk import add_attributes
from leadtrace.context import current_journey
from leadtrace.events import CrmUpdated
from leadtrace.integrations._vendormetrics import count_call
from leadtrace.privacy import hash_value, normalize_email

__all__ = [
    "HTTP_REQUEST_METHOD",
    "LEAD_OBJECTS",
    "Outcome",
    "VendorTracer",
    "count_outcome",
    "crm_write_failed",
    "emit_crm_updated",
    "failure_layer",
    "failure_of_exception",
    "failure_of_status",
    "hashed_email",
    "http_guard",
    "lower_headers",
    "missing_client",
    "property_names",
    "record_outcome",
    "server_attributes",
]

LEAD_OBJECTS = frozenset({"contact", "lead"})
"""CRM objects (normalised: singular, lower case) whose writes emit ``crm_updated``."""

_TIMEOUT_NAMES = frozenset(
    {
        "ConnectTimeout",
        "ConnectTimeoutError",
        "ConnectionError",
        "MaxRetryError",
        "NewConnectionError",
        "ProtocolError",
        "ReadTimeout",
        "ReadTimeoutError",
        "Timeout",
        "TimeoutError",
    }
)
HTTP_REQUEST_METHOD = "http.request.method"
"""OpenTelemetry's attribute for the HTTP method; vendor spans carry it (they are the HTTP
client span of their call)."""
_HTTP_STATUS_CODE = "http.response.status_code"
_SERVER_ADDRESS = "server.address"
_SERVER_PORT = "server.port"
_ERROR_TYPE = "error.type"


class VendorTracer:
    """The tracer a vendor instrumentor starts its spans with.

    With a ``tracer_provider`` given to ``instrument()`` spans go there; otherwise they go to
    leadtrace's current handle (the configured global setup, or an active test capture),
    looked up per call so a capture opened after ``instrument()`` still sees them.
    """

    def __init__(self, scope: str, tracer_provider: TracerProvider | None) -> None:
        self._scope = scope
        self._fixed = (
            tracer_provider.get_tracer(scope, VERSION) if tracer_provider is not None else None
        )
        self._cached: tuple[Leadtrace, Tracer] | None = None

    def get(self, runtime: Leadtrace | None = None) -> Tracer:
        """The tracer for the span about to start (of ``runtime``, default the current one)."""
        if self._fixed is not None:
            return self._fixed
        if runtime is None:
            runtime = current()
        cached = self._cached
        if cached is not None and cached[0] is runtime:
            return cached[1]
        tracer = runtime.tracer_provider.get_tracer(self._scope, VERSION)
        self._cached = (runtime, tracer)
        return tracer

    def start(self, name: str, kind: SpanKind = SpanKind.CLIENT) -> Span:
        """Start (not activate) a span under the current context."""
        return self.get().start_span(name, kind=kind)


@dataclass
class Outcome:
    """What one vendor call did, read from the vendor's own answer.

    Attributes:
        status: HTTP status of the final answer.
        dedupe: one of ``semconv.DEDUPE_OUTCOMES``.
        record_id: id of the written or read record.
        existing_id: id of the record a create collided with.
        request_id: the vendor's request / correlation id.
        retries: retries before the final answer.
        rate_remaining: calls left in the rate-limit window.
        rate_limit: size of the rate-limit window.
        retry_after: seconds the vendor asked to wait.
        reason: failure reason (``semconv.FAILURE_*``); None when the call succeeded.
        error_type: class name of the vendor exception, when one was raised.
        created: batch records created.
        updated: batch records updated.
        records: ``(record id, dedupe outcome)`` of each record of a batch write.
        batch_size: records or messages the call carried, when only the answer says so.
        dropped: messages of an upload the client gave up on.
        requeued: messages of an upload the client put back on its queue.
    """

    status: int | None = None
    dedupe: str | None = None
    record_id: str | None = None
    existing_id: str | None = None
    request_id: str | None = None
    retries: int | None = None
    rate_remaining: int | None = None
    rate_limit: int | None = None
    retry_after: float | None = None
    reason: str | None = None
    error_type: str | None = None
    created: int | None = None
    updated: int | None = None
    records: list[tuple[str | None, str | None]] = field(default_factory=list)
    batch_size: int | None = None
    dropped: int | None = None
    requeued: int | None = None


def http_guard(http_spans: bool) -> Callable[[], AbstractContextManager[object]]:
    """What a vendor call's HTTP requests run under.

    By default OpenTelemetry's HTTP client instrumentations (urllib3, requests) stay quiet
    under a vendor span: the vendor span is the call's CLIENT span (one per operation, as
    OpenTelemetry's own botocore instrumentation does for AWS calls), no second span repeats
    it, and no ``traceparent`` or ``baggage`` header goes to the vendor. ``http_spans=True``
    keeps their spans (children of the vendor span) and their headers.
    """
    return contextlib.nullcontext if http_spans else suppress_http_instrumentation


@functools.lru_cache(maxsize=64)
def server_attributes(base_url: str) -> tuple[tuple[str, str | int], ...]:
    """``server.address`` and ``server.port`` of a vendor API's base URL, as attribute pairs.

    The vendor span stands for the HTTP call, so it says where the call went (the host, never
    the path: paths carry record ids). Empty for a URL without a host.
    """
    try:
        parts = urlsplit(base_url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return ()
    if not host:
        return ()
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    pairs: tuple[tuple[str, str | int], ...] = ((_SERVER_ADDRESS, host),)
    return pairs + (((_SERVER_PORT, port),) if port is not None else ())


def missing_client(module: str, library: str, extra: str, exc: ImportError) -> ImportError:
    """The ImportError of a vendor module whose client library is missing, naming the extra.

    A :class:`ModuleNotFoundError`: ``opentelemetry-instrument`` loads every
    ``opentelemetry_instrumentor`` entry point and skips those quietly, where any other
    ImportError would be logged with a traceback for each vendor the app does not use.
    """
    from leadtrace.integrations import missing_extra

    error = missing_extra(module, library, extra, exc)
    return ModuleNotFoundError(*error.args, name=exc.name)


def failure_of_status(status: int) -> str | None:
    """Failure reason of an HTTP status, or None for a success."""
    if status < 300:
        return None
    if status == 429:
        return semconv.FAILURE_RATE_LIMITED
    if status in (401, 403):
        return semconv.FAILURE_AUTH
    if status == 409:
        return semconv.FAILURE_CONFLICT
    if status == 300:
        return semconv.FAILURE_AMBIGUOUS
    if status == 408:
        return semconv.FAILURE_TIMEOUT
    if status >= 500:
        return semconv.FAILURE_SERVER_ERROR
    return semconv.FAILURE_VALIDATION


def failure_of_exception(exc: BaseException) -> str:
    """Failure reason of an exception that carries no HTTP status (transport, decoding)."""
    if isinstance(exc, json.JSONDecodeError):
        return semconv.FAILURE_SERVER_ERROR  # the vendor answered something unreadable
    for cls in type(exc).__mro__:
        if cls.__name__ in _TIMEOUT_NAMES:
            return semconv.FAILURE_TIMEOUT
    if isinstance(exc, OSError):
        return semconv.FAILURE_TIMEOUT
    return semconv.FAILURE_SERVER_ERROR


def lower_headers(headers: Any) -> dict[str, str]:
    """Response headers (a mapping or a list of pairs) as one dict keyed by lower-case name."""
    if headers is None:
        return {}
    items: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    return {str(key).lower(): str(value) for key, value in items}


def to_int(value: str | None) -> int | None:
    """``int(value)``, or None when it is missing or not a whole number."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; None otherwise."""
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def property_names(values: Any, limit: int = 128) -> tuple[str, ...]:
    """Sorted names of a mapping's keys (never the values), at most ``limit`` of them."""
    if not isinstance(values, Mapping):
        return ()
    return tuple(sorted(map(str, values))[:limit])


_EMAIL_KEYS = ("email", "Email", "EMAIL")


def hashed_email(values: Any) -> str | None:
    """Keyed hash of the e-mail address in a property mapping, if there is one."""
    if not isinstance(values, Mapping):
        return None
    for key in _EMAIL_KEYS:
        raw = values.get(key)
        if isinstance(raw, str) and "@" in raw:
            return hash_value(normalize_email(raw))
    return None


def singular(name: str) -> str:
    """Normalised CRM object name: lower case, singular (``contacts`` -> ``contact``)."""
    lowered = name.lower()
    if lowered.endswith("ies"):
        return lowered[:-3] + "y"
    if lowered.endswith("s") and not lowered.endswith("ss"):
        return lowered[:-1]
    return lowered


_EXISTING_ID = re.compile(r"Existing ID:\s*([0-9A-Za-z_-]+)")


def existing_id_in(message: str) -> str | None:
    """The id in a HubSpot ``... Existing ID: <id>`` conflict message."""
    match = _EXISTING_ID.search(message)
    return match.group(1) if match else None


def failure_layer(outcome: Outcome, layer: str) -> str:
    """Layer a failed call fails in: ``identity`` for duplicate / ambiguous, else ``layer``."""
    if outcome.dedupe in (semconv.DEDUPE_DUPLICATE, semconv.DEDUPE_AMBIGUOUS):
        return semconv.LAYER_IDENTITY
    return layer


def count_outcome(
    vendor: str,
    operation: str,
    crm_object: str | None,
    outcome: Outcome,
    layer: str,
    handle: Leadtrace | None = None,
) -> None:
    """Count the call on the vendor metrics (``martech.vendor.*``), recorded span or not."""
    try:
        count_call(
            vendor,
            operation,
            crm_object,
            failure_layer=failure_layer(outcome, layer) if outcome.reason is not None else None,
            failure_reason=outcome.reason,
            retries=outcome.retries,
            rate_remaining=outcome.rate_remaining,
            handle=handle,
        )
    except Exception as exc:
        internal_error(exc, f"{vendor}.metrics")


def record_outcome(span: Span, outcome: Outcome, layer: str) -> None:
    """Put ``outcome`` on ``span``; a failure also sets its layer, reason and ERROR status.

    Duplicate and ambiguous outcomes are identity failures; everything else fails in
    ``layer``. The vendor's error message is not recorded: it can quote the request body.
    """
    if not span.is_recording():
        return
    attrs: dict[str, Any] = {}
    if outcome.status is not None:
        attrs[_HTTP_STATUS_CODE] = outcome.status
    if outcome.dedupe is not None:
        attrs[semconv.LEAD_DEDUPE_OUTCOME] = outcome.dedupe
    if outcome.record_id is not None:
        attrs[semconv.CRM_RECORD_ID] = outcome.record_id
    if outcome.existing_id is not None:
        attrs[semconv.CRM_EXISTING_RECORD_ID] = outcome.existing_id
    if outcome.request_id is not None:
        attrs[semconv.VENDOR_REQUEST_ID] = outcome.request_id
    if outcome.retries is not None:
        attrs[semconv.VENDOR_RETRY_COUNT] = outcome.retries
    if outcome.rate_remaining is not None:
        attrs[semconv.VENDOR_RATE_LIMIT_REMAINING] = outcome.rate_remaining
    if outcome.rate_limit is not None:
        attrs[semconv.VENDOR_RATE_LIMIT_LIMIT] = outcome.rate_limit
    if outcome.retry_after is not None:
        attrs[semconv.VENDOR_RETRY_AFTER] = outcome.retry_after
    if outcome.created is not None:
        attrs[semconv.VENDOR_BATCH_CREATED] = outcome.created
    if outcome.updated is not None:
        attrs[semconv.VENDOR_BATCH_UPDATED] = outcome.updated
    if outcome.batch_size is not None:
        attrs[semconv.VENDOR_BATCH_SIZE] = outcome.batch_size
    if outcome.dropped is not None:
        attrs[semconv.VENDOR_BATCH_DROPPED] = outcome.dropped
    if outcome.requeued is not None:
        attrs[semconv.VENDOR_BATCH_REQUEUED] = outcome.requeued
    if outcome.reason is not None:
        attrs[semconv.FAILURE_LAYER] = failure_layer(outcome, layer)
        attrs[semconv.FAILURE_REASON] = outcome.reason
        if outcome.error_type is not None:
            attrs[_ERROR_TYPE] = outcome.error_type
        description = outcome.reason
        if outcome.status is not None:
            description = f"{outcome.reason} (HTTP {outcome.status})"
        span.set_status(Status(StatusCode.ERROR, description))
    add_attributes(span, attrs)  # built here: text, numbers and flags only


def emit_crm_updated(
    system: str, crm_object: str, operation: str, records: Iterable[tuple[str | None, str | None]]
) -> None:
    """Emit ``crm_updated`` for each landed ``(record id, dedupe outcome)`` of a lead write.

    Runs inside the internal-error guard: a fault here never reaches the caller.
    """
    try:
        for record_id, dedupe in records:
            emit(
                CrmUpdated(
                    crm_system=system,
                    crm_object=crm_object,
                    operation=operation,  # callers pass a CRM_OPERATION_* value
                    record_id=record_id,
                    dedupe_outcome=dedupe,  # one of DEDUPE_OUTCOMES
                )
            )
    except Exception as exc:
        internal_error(exc, f"{system}.crm_updated")


def crm_write_failed(system: str, crm_object: str, operation: str, outcome: Outcome) -> None:
    """Hand the event hooks (SLI counts) a ``crm_updated`` of a lead write that failed.

    Like a ``@stage`` that raised: the SLIs naming ``crm_updated`` (CRM write success) count
    it as not good, and its dedupe answer (conflict, duplicate, ambiguous) is counted with
    the other dedupe outcomes; hooks that record what happened (the consent audit trail)
    skip it. No span is made: the vendor span already shows the failure. Nothing happens
    for a call that succeeded. Runs inside the internal-error guard.
    """
    reason = outcome.reason
    if reason is None:
        return
    runtime = current()
    if not runtime.event_hooks:
        return
    try:
        instance = CrmUpdated(
            crm_system=system,
            crm_object=crm_object,
            operation=operation,  # callers pass a CRM_OPERATION_* value
            dedupe_outcome=outcome.dedupe,  # one of DEDUPE_OUTCOMES or None
        )
        attrs = event_attributes(CrmUpdated, instance, current_journey())
        attrs[semconv.FAILURE_LAYER] = failure_layer(outcome, semconv.LAYER_CRM)
        attrs[semconv.FAILURE_REASON] = reason
        for hook in runtime.event_hooks:
            hook(instance, attrs)
    except Exception as exc:
        internal_error(exc, f"{system}.crm_write_failed")
