"""Consent audit trail: an append-only, hash-chained JSON-lines log of consent decisions.

Every ``consent_captured`` event becomes one record (not a ``consent_captured`` ``@stage``
that raised: no consent was captured). Each record carries ``prev`` (the
SHA-256 of the previous record) and ``hash`` (the SHA-256 of its own canonical JSON without
``hash``), so an edited, deleted, inserted or reordered record breaks the chain at a line
:func:`verify` reports. Records hold consent facts and hashed identity keys only::

    {"at":"2026-03-02T10:00:00.000Z","event_id":"9c1f...","hash":"5e0b...","journey_id":"7f3c...",
     "consent":{"status":"granted","purposes":["analytics"],...},"prev":"0000...","seq":1,"v":1}

Writing happens on a background thread (:class:`ConsentAuditTrail`): the request path only
enqueues. The default :class:`FileAuditSink` appends a batch and fsyncs it before it counts as
written; a torn last line left by a crash is moved aside to ``<file>.torn`` on the next start
and a ``recovered_torn_tail`` record keeps its SHA-256 in the chain. Sinks are pluggable
(:class:`AuditSink`). Failures are counted (``leadtrace.consent.audit.failures``) and logged,
never raised into the application.

A chain cannot show that whole records were cut off its end: keep the ``head`` hash that
:func:`verify` prints somewhere else (a ticket, another system's log) to anchor it.

Owns: the consent audit trail: consent events -> sealed records on a background thread.

May import: ``_auditlog`` (the record format it re-exports), ``_pii``, ``context`` (the
journey's identity), ``errors`` and ``semconv``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leadtrace import semconv
from leadtrace._auditlog import (
    GENESIS,
    AuditReport,
    AuditSink,
    FileAuditSink,
    record_hash,
    seal_records,
    verify,
)
from leadtrace._pii import scrub_text, scrub_value
from leadtrace.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

    from leadtrace._config import Settings
    from leadtrace._runtime import Leadtrace
    from leadtrace.events import Event

__all__ = [
    "GENESIS",
    "AuditReport",
    "AuditSink",
    "ConsentAuditTrail",
    "FileAuditSink",
    "audit_log_path",
    "consent_record",
    "install_audit_trail",
    "record_hash",
    "seal_records",
    "verify",
]

_log = logging.getLogger("leadtrace.audit")
_LOG_INTERVAL_S = 60.0
_MAX_BATCH = 512

# --- the trail ----------------------------------------------------------------------------------


def consent_record(event: Event, service: str) -> dict[str, Any]:
    """The audit body of a ``consent_captured`` event: consent facts and hashed ids only,
    scrubbed like span attributes (no raw e-mail address or phone number, whatever the field).

    Identity keys come from the event, else from the current journey. They are kept even when
    analytics consent is denied: proving a refusal was honoured needs to know whose it was, and
    only keyed hashes and opaque ids are ever stored.
    """
    from leadtrace.context import current_journey  # deferred: context imports consent

    journey = current_journey()
    consent = getattr(event, "consent", None)
    identity = getattr(event, "identity", None) or (journey.identity if journey else None)
    body: dict[str, Any] = {
        "kind": "consent_captured",
        "at": _iso(getattr(event, "occurred_at", None)),
        "event_id": getattr(event, "event_id", None),
        "journey_id": getattr(event, "journey_id", None)
        or (journey.journey_id if journey else None),
        "service": service,
    }
    if consent is not None:
        body["consent"] = {
            "status": consent.status,
            "purposes": sorted(consent.purposes),
            "basis": consent.basis,
            "source": consent.source,
            "gpc": consent.gpc,
            "captured_at": _iso(consent.captured_at),
        }
    if identity is not None:
        body["identity"] = identity.model_dump(exclude_none=True)
    if getattr(event, "synthetic", False) or (journey is not None and journey.synthetic):
        body["synthetic"] = True
    # The same net as spans: an e-mail address or phone number given as an id, a purpose or
    # a journey id is redacted here too (the record is sealed as it is written).
    cleaned: dict[str, Any] = scrub_value(body)
    return cleaned


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text: str = value.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class ConsentAuditTrail:
    """Event hook that appends every ``consent_captured`` event to an :class:`AuditSink`.

    Register it with ``handle.on_event(trail)`` (``configure()`` does when the audit log is
    on). The hook only builds the record and enqueues it (bounded queue); a background thread
    writes batches, so an fsync never blocks a request. A full queue or a failed write is
    counted in ``leadtrace.consent.audit.failures`` (``error.type`` = ``queue_full`` /
    ``write_error``) and logged at most once a minute; it is never raised.

    Args:
        sink: where records go.
        meter: meter for ``leadtrace.consent.audit.records`` and ``...failures``.
        service: service name written into each record.
        max_queue: records waiting to be written before new ones are dropped (and counted).
        retries: attempts per batch before its records are dropped (and counted).
    """

    def __init__(
        self,
        sink: AuditSink,
        meter: Meter,
        *,
        service: str = "",
        max_queue: int = 10_000,
        retries: int = 3,
    ) -> None:
        self.sink = sink
        self.service = service
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._retries = max(1, retries)
        self._records = meter.create_counter(
            "leadtrace.consent.audit.records",
            unit="{record}",
            description="Consent records durably appended to the audit log.",
        )
        self._failures = meter.create_counter(
            "leadtrace.consent.audit.failures",
            unit="{record}",
            description="Consent records that could not be queued or written to the audit log.",
        )
        self._last_logged: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def __call__(self, event: Event, attributes: Mapping[str, Any]) -> None:
        """Enqueue ``event`` when it is a ``consent_captured`` event; never raises."""
        if getattr(event, "event_name", None) != "consent_captured" or self._closed:
            return
        if attributes.get(semconv.FAILURE_LAYER) is not None:
            return  # a consent_captured stage that raised: no consent was captured
        try:
            body = consent_record(event, self.service)
        except Exception as exc:
            self._fail("record_error", 1, exc)
            return
        self._ensure_thread()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self._fail("queue_full", 1, None)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="leadtrace-consent-audit", daemon=True
                )
                self._thread.start()

    def _fail(self, kind: str, count: int, exc: BaseException | None) -> None:
        with contextlib.suppress(Exception):
            self._failures.add(count, {"error.type": kind})
        now = time.monotonic()
        if now - self._last_logged.get(kind, -_LOG_INTERVAL_S) >= _LOG_INTERVAL_S:
            self._last_logged[kind] = now
            _log.error(
                "consent audit log: %d record(s) lost (%s)%s",
                count,
                kind,
                f": {scrub_text(f'{type(exc).__name__}: {exc}')}" if exc is not None else "",
            )

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[dict[str, Any]] = []
            item = self._queue.get()
            taken = 1
            if item is None:
                stop = True
            else:
                batch.append(item)
            while not stop and len(batch) < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                taken += 1
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                self._write(batch)
            for _ in range(taken):
                self._queue.task_done()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        error: BaseException | None = None
        for attempt in range(self._retries):
            try:
                self.sink.append(batch)
            except Exception as exc:
                error = exc
                time.sleep(0.05 * (attempt + 1))
                continue
            with contextlib.suppress(Exception):
                self._records.add(len(batch))
            return
        self._fail("write_error", len(batch), error)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record was written (or failed); True when done in time."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, stop the thread and close the sink."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            try:
                self._queue.put(None, timeout=timeout_s)
            except queue.Full:
                self._fail("queue_full", 1, None)
            self._thread.join(timeout_s)
        with contextlib.suppress(Exception):
            self.sink.close()


def audit_log_path(settings: Settings, *, local: bool) -> Path | None:
    """The consent audit log file of a setup, or None when it keeps none (see below)."""
    configured = settings.consent_audit_log
    if configured is not None and configured.lower() == "off":
        return None
    if configured is None and local:
        return None
    return Path(configured) if configured else Path(settings.local_dir) / "consent-audit.jsonl"


def install_audit_trail(handle: Leadtrace) -> ConsentAuditTrail | None:
    """Attach the consent audit trail ``configure()`` asks for to ``handle``.

    The ``consent_audit_log`` setting names the file; unset means
    ``<local_dir>/consent-audit.jsonl`` for a global setup and no trail for a local one;
    ``off`` disables it. The trail is closed (queue drained) on ``handle.shutdown()``.

    Raises:
        ConfigError: the file cannot be opened for appending.
    """
    settings = handle.settings
    path = audit_log_path(settings, local=handle.local)
    if path is None:
        return None
    try:
        sink = FileAuditSink(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"setting 'consent_audit_log' (LEADTRACE_CONSENT_AUDIT_LOG): cannot append to "
            f"{str(path)!r}: {exc}; point it at a writable file or set it to 'off'"
        ) from exc
    trail = ConsentAuditTrail(sink, handle.meter, service=settings.service_name)
    handle.on_event(trail)
    handle.add_shutdown_hook(trail.close)
    return trail
