"""Where the report reads finished spans from: the local JSON-lines store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from leadtrace.testing._records import SpanRecord

__all__ = ["read_jsonl"]


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def read_jsonl(path: str | Path) -> Iterator[SpanRecord]:
    """Finished spans from a ``spans.jsonl`` written by the local exporter.

    A line that is not a JSON span (a torn last line of a crashed process) is skipped.
    """
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            try:
                span = json.loads(line)
                yield SpanRecord(
                    name=span["name"],
                    attributes={k: _freeze(v) for k, v in span["attributes"].items()},
                    trace_id=span["trace_id"] or "",
                    span_id=span["span_id"] or "",
                    parent_span_id=span.get("parent_span_id"),
                    start_ns=int(span["start_time_ns"] or 0),
                    end_ns=int(span["end_time_ns"] or 0),
                    error=span.get("status") == "ERROR",
                    service_name=str(span.get("resource", {}).get("service.name", "")),
                    sequence=number,
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
