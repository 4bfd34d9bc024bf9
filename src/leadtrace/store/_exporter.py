"""A span exporter writing to the embedded journey store (SQLite), bounded and never blocking.

Several processes (a web app and its worker) write to one file at once: WAL mode lets readers
and one writer work together, and a short busy timeout bounds the wait for the write lock.
When the store grows past its size limit the journeys seen least recently are deleted, with
their spans, until it fits again; freed pages are reused, so the file stops growing.

It runs on the batch span processor's thread, never on a request thread, and never raises: a
locked, unwritable or full store fails the batch, counts its spans in :attr:`dropped` and logs
one warning per minute at most.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from leadtrace import semconv
from leadtrace.store._schema import SCHEMA

__all__ = [
    "DEFAULT_MAX_BYTES",
    "STORE_FILE",
    "FanOutSpanExporter",
    "SQLiteSpanExporter",
    "local_exporters",
    "open_for_writing",
]

STORE_FILE: Final = "journeys.db"
"""File name of the store inside the local directory (``LEADTRACE_LOCAL_DIR``)."""
DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024
_BUSY_TIMEOUT_MS: Final = 250
_CHECK_SHARE: Final = 0.05
"""The size is checked (three pragma reads) each time about this share of ``max_bytes``
has been written since the last check, so the store exceeds its limit by at most that."""
_EVICT_TO: Final = 0.9
"""Once over the limit, journeys are deleted until the store is under this share of it."""
_EVICT_SHARE: Final = 0.1
_WARN_EVERY_S: Final = 60.0

_log = logging.getLogger("leadtrace.store")

_INSERT_SPAN: Final = """
INSERT OR REPLACE INTO spans (
    trace_id, span_id, parent_span_id, name, service, journey_id, event_name, stage,
    campaign_id, channel, start_ns, end_ns, error, status_description, attributes, exceptions
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_JOURNEY: Final = """
INSERT INTO journeys (journey_id, first_ns, last_ns, campaign_id, channel)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (journey_id) DO UPDATE SET
    first_ns = min(first_ns, excluded.first_ns),
    last_ns = max(last_ns, excluded.last_ns),
    campaign_id = coalesce(campaign_id, excluded.campaign_id),
    channel = coalesce(channel, excluded.channel)
"""


def open_for_writing(path: Path, busy_timeout_ms: int = _BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path`` in WAL mode with its schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    return conn


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _row(span: ReadableSpan) -> tuple[Any, ...]:
    ctx = span.get_span_context()
    attrs = span.attributes or {}
    exceptions = [
        [
            str((event.attributes or {}).get("exception.type", "")),
            str((event.attributes or {}).get("exception.message", "")),
        ]
        for event in span.events
        if event.name == "exception"
    ]
    resource = span.resource.attributes if span.resource is not None else {}
    start = span.start_time or 0
    return (
        f"{ctx.trace_id:032x}" if ctx is not None else "",
        f"{ctx.span_id:016x}" if ctx is not None else "",
        f"{span.parent.span_id:016x}" if span.parent is not None else None,
        span.name,
        str(resource.get("service.name", "")),
        _text(attrs.get(semconv.JOURNEY_ID)),
        _text(attrs.get(semconv.EVENT_NAME)),
        _text(attrs.get(semconv.JOURNEY_STAGE)),
        _text(attrs.get(semconv.CAMPAIGN_ID)),
        _text(attrs.get(semconv.CAMPAIGN_CHANNEL)),
        start,
        span.end_time or start,
        int(span.status.status_code is StatusCode.ERROR),
        span.status.description or "",
        json.dumps({k: _json_value(v) for k, v in attrs.items()}, default=str),
        json.dumps(exceptions),
    )


class SQLiteSpanExporter(SpanExporter):
    """Writes finished spans to the journey store at ``path``.

    Args:
        path: the SQLite file (its folder is created); ``<LEADTRACE_LOCAL_DIR>/journeys.db``
            when configure() installs it.
        max_bytes: size the store is kept under (pages in use, checked each time about 5 % of
            it was written); past it the journeys seen least recently are deleted until the
            store is under 90 % of it.
        busy_timeout_ms: longest wait for another process's write lock before the batch fails.
        meter_provider: where the ``leadtrace.store.dropped_spans`` and
            ``leadtrace.store.evicted_journeys`` counters go (the global provider by default).

    Attributes:
        dropped: spans that could not be written (locked, unwritable or full store).
        evicted_journeys: journeys deleted to stay under ``max_bytes``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        busy_timeout_ms: int = _BUSY_TIMEOUT_MS,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.busy_timeout_ms = busy_timeout_ms
        self.dropped = 0
        self.evicted_journeys = 0
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._written = max_bytes  # check the size at the first export
        self._last_warning = 0.0
        self._closed = False
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("leadtrace.store")
        meter.create_observable_counter(
            "leadtrace.store.dropped_spans",
            callbacks=[self._observe_dropped],
            unit="{span}",
            description="Spans the journey store could not write (locked, full or unwritable).",
        )
        meter.create_observable_counter(
            "leadtrace.store.evicted_journeys",
            callbacks=[self._observe_evicted],
            unit="{journey}",
            description="Journeys deleted to keep the journey store under its size limit.",
        )

    def _observe_dropped(self, _options: CallbackOptions) -> list[Observation]:
        return [Observation(self.dropped, {"store": str(self.path)})]

    def _observe_evicted(self, _options: CallbackOptions) -> list[Observation]:
        return [Observation(self.evicted_journeys, {"store": str(self.path)})]

    def __repr__(self) -> str:
        return f"<SQLiteSpanExporter {str(self.path)!r} dropped={self.dropped}>"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write ``spans`` in one transaction; on any failure count them and fail the batch."""
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            try:
                rows = [_row(span) for span in spans]
                conn = self._connection()
                journeys = [
                    (row[5], row[10], row[11], row[8], row[9]) for row in rows if row[5] is not None
                ]
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(_INSERT_SPAN, rows)
                    conn.executemany(_UPSERT_JOURNEY, journeys)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                # Each row takes about twice its JSON on disk (the row and its index entries).
                self._written += sum(2 * len(row[14]) + 200 for row in rows)
                if self._written >= self.max_bytes * _CHECK_SHARE:
                    self._written = 0
                    self._keep_under_limit(conn)
            except Exception as exc:  # a store problem must never reach the app
                self.dropped += len(spans)
                self._warn(exc, len(spans))
                self._reset_connection()
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def used_bytes(self) -> int:
        """Bytes of the store's pages in use (free pages are reused before the file grows)."""
        with self._lock:
            return self._used(self._connection())

    def shutdown(self) -> None:
        """Close the connection; later exports fail."""
        with self._lock:
            self._closed = True
            self._reset_connection()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: every export is committed."""
        return True

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_for_writing(self.path, self.busy_timeout_ms)
        return self._conn

    def _reset_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    @staticmethod
    def _used(conn: sqlite3.Connection) -> int:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def _keep_under_limit(self, conn: sqlite3.Connection) -> None:
        """Past the limit, delete the least recently seen journeys (a tenth at a time) until
        the store is under 90 % of it."""
        if self._used(conn) <= self.max_bytes:
            return
        for _ in range(50):
            if self._used(conn) <= self.max_bytes * _EVICT_TO:
                return
            (count,) = conn.execute("SELECT count(*) FROM journeys").fetchone()
            victims = conn.execute(
                "SELECT journey_id, last_ns FROM journeys ORDER BY last_ns LIMIT ?",
                (max(1, int(count * _EVICT_SHARE)),),
            ).fetchall()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if victims:
                    ids = [(journey_id,) for journey_id, _ in victims]
                    conn.executemany("DELETE FROM spans WHERE journey_id = ?", ids)
                    conn.executemany("DELETE FROM journeys WHERE journey_id = ?", ids)
                    cutoff = victims[-1][1]
                else:  # only spans outside journeys left: the oldest tenth of them
                    cutoff = conn.execute(
                        "SELECT start_ns FROM spans ORDER BY start_ns LIMIT 1 OFFSET "
                        "(SELECT count(*) / 10 FROM spans)"
                    ).fetchone()
                    cutoff = cutoff[0] if cutoff else None
                if cutoff is not None:
                    conn.execute(
                        "DELETE FROM spans WHERE journey_id IS NULL AND start_ns <= ?", (cutoff,)
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self.evicted_journeys += len(victims)
            if not victims and cutoff is None:
                return

    def _warn(self, exc: Exception, spans: int) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            _log.warning(
                "leadtrace: journey store %s refused %d spans (%s); %d dropped so far",
                self.path,
                spans,
                exc,
                self.dropped,
            )


def local_exporters(
    local_dir: str | Path, kinds: Sequence[str], max_bytes: int = DEFAULT_MAX_BYTES
) -> list[SpanExporter]:
    """The exporters of the local stores named in ``kinds`` (``sqlite``, ``jsonl``) under
    ``local_dir``: what ``configure()`` installs when no OTLP endpoint is set."""
    from leadtrace._local import JsonLinesSpanExporter

    exporters: list[SpanExporter] = []
    if "sqlite" in kinds:
        exporters.append(SQLiteSpanExporter(Path(local_dir) / STORE_FILE, max_bytes=max_bytes))
    if "jsonl" in kinds:
        exporters.append(JsonLinesSpanExporter(local_dir))
    return exporters


class FanOutSpanExporter(SpanExporter):
    """Exports every batch to each of several exporters (the local stores side by side).

    A batch counts as exported when at least one of them took it: retrying it would write it
    twice into those that did. Each store counts its own failures (the journey store in
    ``leadtrace.store.dropped_spans``).
    """

    def __init__(self, exporters: Sequence[SpanExporter]) -> None:
        self.exporters = tuple(exporters)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export ``spans`` to every exporter."""
        results = [exporter.export(spans) for exporter in self.exporters]
        if SpanExportResult.SUCCESS in results:
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Shut every exporter down."""
        for exporter in self.exporters:
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush every exporter."""
        return all(exporter.force_flush(timeout_millis) for exporter in self.exporters)
