"""Counting what delivery could not deliver: a metric, a rate-limited warning, a local file.

Every span leadtrace's delivery loses is counted once, by reason, in
``leadtrace.spans.dropped{reason}``. A warning line sums the drops at most every
``interval`` seconds (the first one at once), and when telemetry goes to the local store the
same summary is appended to ``<local_dir>/drops.jsonl``, so drops are visible without a
collector too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

from opentelemetry.metrics import Meter

__all__ = ["REASONS", "Drops"]

_log = logging.getLogger("leadtrace")

REASONS: Final = (
    "queue_full",
    "spool_full",
    "export_failed",
    "rejected",
    "shutdown",
    "unencodable",
)
"""Why spans were dropped:

- ``queue_full``: the in-memory queue was full and no spool could take the span.
- ``spool_full``: the spool was at its size cap.
- ``export_failed``: no spool, and the collector failed every attempt within the timeout.
- ``rejected``: the collector refused the span for good (HTTP 4xx, partial success).
- ``shutdown``: shutdown ran out of time with the span neither sent nor spooled.
- ``unencodable``: the span could not be encoded as OTLP even after repair.
"""


class Drops:
    """Counts dropped spans; thread-safe.

    Args:
        meter: meter of the ``leadtrace.spans.dropped`` counter.
        local_file: a JSON-lines file to append each warning's summary to.
        interval: seconds between two warnings.
    """

    def __init__(
        self, meter: Meter, *, local_file: str | Path | None = None, interval: float = 10.0
    ) -> None:
        self._counter = meter.create_counter(
            "leadtrace.spans.dropped",
            unit="{span}",
            description="Spans leadtrace's delivery dropped, by reason.",
        )
        self._spooled = meter.create_counter(
            "leadtrace.spans.spooled",
            unit="{span}",
            description="Spans written to the on-disk spool while the collector was unavailable.",
        )
        self._replayed = meter.create_counter(
            "leadtrace.spans.replayed",
            unit="{span}",
            description="Spans sent from the on-disk spool once the collector took them again.",
        )
        self._local_file = Path(local_file) if local_file is not None else None
        self._interval = interval
        self._lock = threading.Lock()
        self.totals: dict[str, int] = dict.fromkeys(REASONS, 0)
        self._unreported: dict[str, int] = {}
        self._last_report = -interval

    @property
    def total(self) -> int:
        """Spans dropped so far, all reasons."""
        return sum(self.totals.values())

    def spooled(self, count: int) -> None:
        """Count ``count`` spans written to the spool."""
        if count:
            self._spooled.add(count)

    def replayed(self, count: int) -> None:
        """Count ``count`` spans sent from the spool."""
        if count:
            self._replayed.add(count)

    def add(self, reason: str, count: int) -> None:
        """Count ``count`` spans dropped for ``reason``; warn unless a warning was recent."""
        if count <= 0:
            return
        self._counter.add(count, {"reason": reason})
        with self._lock:
            self.totals[reason] = self.totals.get(reason, 0) + count
            self._unreported[reason] = self._unreported.get(reason, 0) + count
            now = time.monotonic()
            due = now - self._last_report >= self._interval
        if due:
            self.report()

    def report(self) -> None:
        """Log (and write locally) the drops not reported yet, if any."""
        with self._lock:
            unreported, self._unreported = self._unreported, {}
            totals = dict(self.totals)
            self._last_report = time.monotonic()
        if not unreported:
            return
        summary = ", ".join(f"{count} {reason}" for reason, count in sorted(unreported.items()))
        _log.warning(
            "leadtrace dropped spans: %s (totals since start: %s); see docs/delivery.md",
            summary,
            ", ".join(f"{c} {r}" for r, c in sorted(totals.items()) if c),
        )
        self._write_local(unreported, totals)

    def _write_local(self, unreported: Mapping[str, int], totals: Mapping[str, int]) -> None:
        if self._local_file is None:
            return
        line = json.dumps(
            {
                "time": datetime.now(timezone.utc).isoformat(),
                "dropped": dict(unreported),
                "totals": {r: c for r, c in totals.items() if c},
            }
        )
        try:
            self._local_file.parent.mkdir(parents=True, exist_ok=True)
            with self._local_file.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            _log.warning("leadtrace: cannot write %s: %s", self._local_file, exc)
