"""Local default destination: spans as JSON lines a person can read, when no endpoint is set.

Owns: the JSON-lines exporter used when no endpoint is set.

May import: nothing of leadtrace.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["JsonLinesSpanExporter", "span_to_dict"]


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A JSON-friendly view of a finished span (ids in hex, times in ns)."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name,
        "start_time_ns": span.start_time,
        "end_time_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {
            k: list(v) if isinstance(v, tuple) else v for k, v in span.attributes.items()
        }
        if span.attributes
        else {},
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
        "resource": dict(span.resource.attributes) if span.resource else {},
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends every finished span as one JSON line to ``<dir>/spans.jsonl``."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "spans.jsonl"
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write ``spans``; a write error fails the batch (the SDK logs it)."""
        lines = "".join(json.dumps(span_to_dict(s), default=str) + "\n" for s in spans)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(lines)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: the file is opened per batch."""
