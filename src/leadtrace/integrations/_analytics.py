"""Segment-style analytics clients (Segment, RudderStack): message stamps and upload spans.

Both clients queue messages on the caller's thread (``Client._enqueue``) and send them in
batches from a consumer thread (``Consumer.request``). Each ``track`` / ``identify`` / ... call
writes the trace id and span id of the span that produced the message, and the journey and
campaign ids, into the message's ``context`` (``leadtrace_trace_id``, ...), so a warehouse row
joins back to its trace and journey. The producing span is the caller's current span; with
``producer_spans=True`` each call gets a PRODUCER span of its own, which records the
``messageId``. The consumer's upload span has no parent: it links to every producing span of its
batch and reports batch size, retries and messages dropped or re-queued. With
``sync_mode=True`` the client posts each message from inside ``Client._enqueue`` (through the
``post`` its client module imported): that upload span is a child of the caller's span, and its
error, raised through ``track``, is counted once.

The keys are flat (``context.leadtrace_trace_id``, not ``context.leadtrace.trace_id``):
warehouses flatten both into the same column, and the client cleans and JSON-encodes each
message three times, so a nested object costs every message more.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanContext, SpanKind, TraceFlags

from leadtrace import semconv
from leadtrace._config import parse_bool
from leadtrace._guard import internal_error
from leadtrace._pii import scrub_text
from leadtrace._runtime import Leadtrace, current
from leadtrace._sdk import add_attributes
from leadtrace.context import BusinessContext, current_journey
from leadtrace.integrations._vendor import (
    HTTP_REQUEST_METHOD,
    Outcome,
    VendorTracer,
    count_outcome,
    failure_of_exception,
    failure_of_status,
    hashed_email,
    http_guard,
    property_names,
    record_outcome,
    retry_after,
    server_attributes,
)

__all__ = ["MAX_LINKS", "PRODUCER_SPANS_ENV", "AnalyticsClient", "producer_spans_option"]

MAX_LINKS = 128
"""Links an upload span keeps at most (the SDK's default span link limit)."""

PRODUCER_SPANS_ENV = "LEADTRACE_PRODUCER_SPANS"
"""Environment variable giving ``producer_spans`` when ``instrument()`` was not given it."""


def producer_spans_option(options: dict[str, Any]) -> bool:
    """``producer_spans`` from ``instrument()``'s options, else ``$LEADTRACE_PRODUCER_SPANS``.

    Default False. A value other than true / false in the variable raises ``ConfigError``.
    """
    value = options.get("producer_spans")
    if value is not None:
        return bool(value)
    raw = os.environ.get(PRODUCER_SPANS_ENV)
    return parse_bool(PRODUCER_SPANS_ENV, raw) if raw is not None else False


_EMPTY = Context()


@dataclass
class _Upload:
    attempts: int = 0
    status: int | None = None


_upload: ContextVar[_Upload | None] = ContextVar("leadtrace_analytics_upload", default=None)
_counted: ContextVar[BaseException | None] = ContextVar("leadtrace_analytics_counted", default=None)
"""The error of a ``sync_mode`` upload, already counted as an upload failure."""


def _producer(message: Any) -> tuple[str, str] | None:
    """``(trace_id, span_id)`` hex of the span that produced ``message`` (its stamp)."""
    if not isinstance(message, dict):
        return None
    context = message.get("context")
    if not isinstance(context, dict):
        return None
    trace_id, span_id = context.get(semconv.MESSAGE_TRACE_ID), context.get(semconv.MESSAGE_SPAN_ID)
    if not isinstance(trace_id, str) or not isinstance(span_id, str):
        return None
    return trace_id, span_id


def _links(messages: list[Any]) -> list[Link]:
    """One link per distinct producing span of ``messages`` (at most :data:`MAX_LINKS`).

    Links carry no attributes (the message holds its ``messageId`` and the ids of the span it
    links to). Messages tracked under one span (several events of one request) share its link.
    """
    links: list[Link] = []
    seen: set[tuple[str, str]] = set()
    for message in messages:
        ids = _producer(message)
        if ids is None or ids in seen:
            continue
        seen.add(ids)
        try:
            trace_id, span_id = int(ids[0], 16), int(ids[1], 16)
        except ValueError:
            continue
        if trace_id and span_id:
            flags = TraceFlags(TraceFlags.SAMPLED)
            links.append(Link(SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)))
            if len(links) == MAX_LINKS:
                break
    return links


class AnalyticsClient:
    """Instrumentation of one Segment-style client library.

    Args:
        vendor: ``semconv.VENDOR_*`` value; also the first word of span names.
        client: the library's ``Client`` class.
        client_module: the module ``Client._enqueue`` looks ``post`` up in (``sync_mode``).
        consumer: the library's ``Consumer`` class.
        consumer_module: the module ``Consumer.request`` looks ``post`` up in.
        tracer: where spans go.
        producer_spans: True makes a PRODUCER span per message; by default the message is
            stamped with the caller's current span, and the upload span links to that span.
        http_spans: keep the spans of OpenTelemetry's requests instrumentation under the
            upload span (default False: the upload span is the HTTP client span).
        default_host: where the client sends when it was given no host.
    """

    def __init__(
        self,
        vendor: str,
        client: type,
        client_module: Any,
        consumer: type,
        consumer_module: Any,
        tracer: VendorTracer,
        producer_spans: bool = False,
        http_spans: bool = False,
        default_host: str | None = None,
    ) -> None:
        self.vendor = vendor
        self.producer_spans = producer_spans
        self._http = http_guard(http_spans)
        self.default_host = default_host
        self.client = client
        self.client_module = client_module
        self.consumer = consumer
        self.consumer_module = consumer_module
        self.tracer = tracer
        # The handle each client queue was last filled under: the consumer thread uploads
        # to it (a test capture is active on the caller's thread only).
        self._owners: weakref.WeakKeyDictionary[Any, Leadtrace] = weakref.WeakKeyDictionary()
        # The last span context stamped and its ids as hex: a request that tracks several
        # messages formats them once.
        self._last_ids: tuple[SpanContext, str, str] | None = None
        # The last journey stamped and its journey and campaign ids, scrubbed.
        self._last_journey: tuple[BusinessContext, str, str | None] | None = None

    def wrap(self) -> None:
        """Install the wrappers."""
        enqueue = self._produce if self.producer_spans else self._enqueue
        wrapt.wrap_function_wrapper(self.client, "_enqueue", enqueue)
        wrapt.wrap_function_wrapper(self.consumer, "request", self._request)
        wrapt.wrap_function_wrapper(self.consumer_module, "post", _post)
        wrapt.wrap_function_wrapper(self.client_module, "post", self._sync_post)

    def unwrap(self) -> None:
        """Remove the wrappers."""
        unwrap(self.client, "_enqueue")
        unwrap(self.consumer, "request")
        unwrap(self.consumer_module, "post")
        unwrap(self.client_module, "post")

    # --- producer: the caller's thread ---------------------------------------------------------

    def _own(self, instance: Any, runtime: Leadtrace) -> None:
        """Note ``runtime`` as the handle ``instance``'s queue is filled under."""
        queue = getattr(instance, "queue", None)
        if queue is not None and self._owners.get(queue) is not runtime:
            self._owners[queue] = runtime

    def _enqueue(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Default: stamp the message with the caller's current span, journey and campaign."""
        try:
            msg = args[0] if args else kwargs.get("msg")
            runtime = current()
            self._stamp(trace.get_current_span(), msg, runtime)
            self._own(instance, runtime)
        except Exception as exc:
            internal_error(exc, f"{self.vendor}.enqueue")
            return wrapped(*args, **kwargs)
        # A message the client refused (full queue) or an enqueue that raised is counted on
        # the vendor metrics, sampled or not.
        try:
            result = wrapped(*args, **kwargs)
        except Exception as exc:
            if not _already_counted(exc):
                self._finish(INVALID_SPAN, functools.partial(_failure, exc), runtime, _kind(msg))
            raise
        if result.__class__ is tuple and len(result) == 2 and not result[0]:  # queue full
            full = functools.partial(Outcome, reason=semconv.FAILURE_QUEUE_FULL)
            self._finish(INVALID_SPAN, full, runtime, _kind(msg))
        return result

    def _produce(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``producer_spans=True``: a PRODUCER span per message, which the stamp names."""
        try:
            msg = args[0] if args else kwargs.get("msg")
            kind = _kind(msg)
            runtime = current()
            self._own(instance, runtime)
            span = self.tracer.get(runtime).start_span(
                f"{self.vendor} {kind}", kind=SpanKind.PRODUCER
            )
            if span.is_recording():
                self._producer_attributes(span, kind, msg)
            self._stamp(span, msg, runtime)
            # Activated by hand: trace.use_span's generator costs more than the span's own
            # attributes; the span ends (without recording the exception) either way.
            token = context.attach(trace.set_span_in_context(span))
        except Exception as exc:
            internal_error(exc, f"{self.vendor}.enqueue")
            return wrapped(*args, **kwargs)
        try:
            try:
                result = wrapped(*args, **kwargs)
            except Exception as exc:
                if not _already_counted(exc):
                    self._finish(span, functools.partial(_failure, exc), runtime, kind)
                raise
            self._finish(span, functools.partial(_queued, span, result), runtime, kind)
            return result
        finally:
            context.detach(token)
            span.end()

    def _producer_attributes(self, span: Span, kind: str, msg: Any) -> None:
        attrs: dict[str, Any] = {semconv.VENDOR_NAME: self.vendor, semconv.VENDOR_OPERATION: kind}
        if isinstance(msg, dict):
            event = msg.get("event")
            if isinstance(event, str) and event:
                attrs[semconv.VENDOR_EVENT] = event[:256]
            values = msg.get("properties") or msg.get("traits")
            if values is None and isinstance(msg.get("context"), dict):
                values = msg["context"].get("traits")  # where RudderStack puts them
            names = property_names(values)
            if names:
                attrs[semconv.VENDOR_PROPERTY_NAMES] = names
            email_hash = hashed_email(values)
            if email_hash is not None:
                attrs[semconv.IDENTITY_EMAIL_HASH] = email_hash
            message_id = msg.get("messageId")
            if message_id is not None:
                attrs[semconv.VENDOR_MESSAGE_ID] = str(message_id)
        add_attributes(span, attrs)  # built here: text and tuples of text only

    def _stamp(self, span: Span, msg: Any, runtime: Leadtrace) -> None:
        """Write the producing span's, journey's and campaign's ids into ``msg["context"]``.

        The message goes to a third party: a journey or campaign id holding an e-mail address
        or phone number is scrubbed as on spans (so the two still match).
        """
        if not isinstance(msg, dict):
            return
        stamp = msg.get("context")
        if not isinstance(stamp, dict):
            return
        span_context = span.get_span_context()
        if span_context.is_valid:
            last = self._last_ids
            if last is None or last[0] is not span_context:
                trace_id, span_id = f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"
                last = self._last_ids = (span_context, trace_id, span_id)
            stamp[semconv.MESSAGE_TRACE_ID] = last[1]
            stamp[semconv.MESSAGE_SPAN_ID] = last[2]
        journey = current_journey()
        if journey is not None:
            ids = self._last_journey
            if ids is None or ids[0] is not journey:
                ids = self._last_journey = (journey, *_journey_ids(journey, runtime))
            stamp[semconv.MESSAGE_JOURNEY_ID] = ids[1]
            if ids[2] is not None:
                stamp[semconv.MESSAGE_CAMPAIGN_ID] = ids[2]

    # --- consumer: the upload thread -----------------------------------------------------------

    def _request(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """The consumer thread's upload of a batch: a root span linking to its producers."""
        try:
            batch = args[0] if args else kwargs.get("batch")
            queue = getattr(instance, "queue", None)
            owner = self._owners.get(queue) if queue is not None else None
            host = getattr(instance, "host", None)
        except Exception as exc:
            internal_error(exc, f"{self.vendor}.upload")
            return wrapped(*args, **kwargs)
        return self._upload(wrapped, args, kwargs, batch, host, owner)

    def _sync_post(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``sync_mode=True``: the client posts each message from inside ``track`` on the
        caller's thread, once; the upload span is a child of the caller's (or producer) span."""

        def post(*args: Any, **kwargs: Any) -> Any:
            return _post(wrapped, instance, args, kwargs)

        host = args[1] if len(args) > 1 else kwargs.get("host")
        return self._upload(post, args, kwargs, kwargs.get("batch"), host, None, sync=True)

    def _upload(
        self,
        call: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        batch: Any,
        host: Any,
        owner: Leadtrace | None,
        sync: bool = False,
    ) -> Any:
        """Run ``call`` (one upload of ``batch``) under the upload span and count it."""
        try:
            messages = batch if isinstance(batch, list) else []
            span = self.tracer.get(owner).start_span(
                f"{self.vendor} upload",
                context=None if sync else _EMPTY,
                kind=SpanKind.CLIENT,
                links=None if sync else _links(messages),
            )
            if span.is_recording():
                attrs: dict[str, Any] = {
                    semconv.VENDOR_NAME: self.vendor,
                    semconv.VENDOR_OPERATION: "upload",
                    semconv.VENDOR_BATCH_SIZE: len(messages),
                    HTTP_REQUEST_METHOD: "POST",
                }
                host = host or self.default_host
                if isinstance(host, str):
                    attrs.update(server_attributes(host))
                span.set_attributes(attrs)
            upload = _Upload()
            token = _upload.set(upload)
        except Exception as exc:
            internal_error(exc, f"{self.vendor}.upload")
            return call(*args, **kwargs)
        try:
            with trace.use_span(
                span, end_on_exit=True, record_exception=False, set_status_on_exception=False
            ):
                # Read whether or not the span is recorded: the vendor metrics count every
                # upload, sampled or not.
                try:
                    with self._http():
                        result = call(*args, **kwargs)
                except Exception as exc:
                    self._finish(
                        span,
                        functools.partial(_upload_failure, upload, exc, len(messages)),
                        owner or current(),
                    )
                    if sync:
                        _counted.set(exc)  # the track() it raises through counts it no more
                    raise
                self._finish(span, functools.partial(_upload_success, upload), owner or current())
                return result
        finally:
            _upload.reset(token)

    def _finish(
        self,
        span: Span,
        read: Callable[[], Outcome | None],
        counted_on: Leadtrace,
        operation: str = "upload",
    ) -> None:
        """Count the outcome on ``counted_on``'s vendor metrics and put it on ``span``.

        Uploads always have an outcome; a producer call only when it failed.
        """
        try:
            outcome = read()
            if outcome is None:
                return
            count_outcome(self.vendor, operation, None, outcome, semconv.LAYER_CAPTURE, counted_on)
            record_outcome(span, outcome, semconv.LAYER_CAPTURE)
        except Exception as exc:
            internal_error(exc, f"{self.vendor}.finish")


def _journey_ids(journey: BusinessContext, runtime: Leadtrace) -> tuple[str, str | None]:
    """The journey id and campaign id (None without one) as the message may carry them."""
    scrubber = runtime.scrubber
    scrub = scrubber.scrub if scrubber is not None else scrub_text
    campaign = journey.campaign.id if journey.campaign is not None else None
    return scrub(journey.journey_id), scrub(campaign) if campaign else None


def _already_counted(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``sync_mode`` upload's error its upload span counted (forgets it)."""
    counted = _counted.get()
    if counted is None:
        return False
    _counted.set(None)
    return counted is exc


def _kind(msg: Any) -> str:
    """The message's ``type`` (``track``, ``identify``, ...): its operation name."""
    return str(msg.get("type", "message")) if isinstance(msg, dict) else "message"


def _queued(span: Span, result: Any) -> Outcome | None:
    """Record the ``messageId`` the client assigned; a full queue dropped the message."""
    if not (isinstance(result, tuple) and len(result) == 2):
        return None
    success, msg = result
    recording = span.is_recording()
    if recording and isinstance(msg, dict) and msg.get("messageId") is not None:
        span.set_attribute(semconv.VENDOR_MESSAGE_ID, str(msg["messageId"]))
    if success:
        return None
    if recording:
        span.set_attribute(semconv.VENDOR_QUEUED, False)
    return Outcome(reason=semconv.FAILURE_QUEUE_FULL)


def _failure(exc: BaseException) -> Outcome:
    outcome = Outcome(error_type=type(exc).__name__)
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        outcome.status = status
        outcome.reason = failure_of_status(status)
        response = getattr(exc, "response", None)  # Segment keeps it; RudderStack does not
        headers = getattr(response, "headers", None)
        if headers is not None:
            outcome.retry_after = retry_after(headers.get("Retry-After"))
    else:
        outcome.reason = failure_of_exception(exc)
    return outcome


def _upload_success(upload: _Upload) -> Outcome:
    return Outcome(status=upload.status, retries=max(upload.attempts - 1, 0), dropped=0)


def _upload_failure(upload: _Upload, exc: BaseException, size: int) -> Outcome:
    outcome = _failure(exc)
    outcome.retries = max(upload.attempts - 1, 0)
    if getattr(exc, "rate_limited", False) or type(exc).__name__ == "ShutdownInterrupted":
        # Segment puts the batch back on its queue and uploads it later.
        outcome.reason = outcome.reason or semconv.FAILURE_RATE_LIMITED
        outcome.requeued = size
    else:
        outcome.dropped = size
    return outcome


def _post(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Count the attempts of the upload in progress and note the last answer's status."""
    upload = _upload.get()
    if upload is None:
        return wrapped(*args, **kwargs)
    upload.attempts += 1
    try:
        response = wrapped(*args, **kwargs)
    except Exception as exc:
        status = getattr(exc, "status", None)
        upload.status = status if isinstance(status, int) else None
        raise
    status = getattr(response, "status_code", None)
    upload.status = status if isinstance(status, int) else None
    return response
