"""The embedded journey store: a local SQLite file of finished spans, for a laptop, CI and demos.

When no OTLP endpoint is set, ``configure()`` writes spans to ``<LEADTRACE_LOCAL_DIR>/journeys.db``
with :class:`SQLiteSpanExporter` (and, by default, also to ``spans.jsonl``: see
``LEADTRACE_LOCAL_STORE``). Read it with :class:`leadtrace.store.queries.JourneyStore` or the
CLI (``leadtrace journeys``, ``leadtrace journey ID``). It is never a replacement for a
tracing backend: see ``docs/deploy.md``.
"""

from __future__ import annotations

from leadtrace.store._exporter import (
    DEFAULT_MAX_BYTES,
    STORE_FILE,
    FanOutSpanExporter,
    SQLiteSpanExporter,
    local_exporters,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "STORE_FILE",
    "FanOutSpanExporter",
    "SQLiteSpanExporter",
    "local_exporters",
]
