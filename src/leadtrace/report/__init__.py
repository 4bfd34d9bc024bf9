"""The health report over recorded journeys: which signals hold, which layer broke, and why.

``leadtrace report`` prints it; ``leadtrace report --html out.html`` writes it as one
self-contained page with charts::

    from leadtrace.report import build_report, read_jsonl, render_html, journey_slis

    report = build_report(read_jsonl(".leadtrace/spans.jsonl"))
    print(report.broken, "broken journeys")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from leadtrace.report._health import (
    CONSENT_CHECKPOINTS,
    FUNNEL,
    ROUTING_SLO_S,
    Breakage,
    HealthReport,
    JourneySummary,
    Ratio,
    build_report,
)
from leadtrace.report._html import render_html
from leadtrace.report._slis import GROUPS, file_slis, grouped_slis
from leadtrace.report._sources import read_jsonl
from leadtrace.report._status import SliStatus, Status, status_of
from leadtrace.report._text import print_grouped, print_report
from leadtrace.testing._records import SpanRecord

__all__ = [
    "CONSENT_CHECKPOINTS",
    "FUNNEL",
    "GROUPS",
    "ROUTING_SLO_S",
    "Breakage",
    "HealthReport",
    "JourneySummary",
    "Ratio",
    "SliStatus",
    "Status",
    "build_report",
    "file_slis",
    "grouped_slis",
    "journey_slis",
    "print_grouped",
    "print_report",
    "read_jsonl",
    "render_html",
    "status_of",
    "statuses_for",
]


def journey_slis(report: HealthReport) -> list[SliStatus]:
    """The report's journey-level SLIs with the domain brief's default objectives (the SLI
    file's own SLIs come from :func:`file_slis`)."""
    healthy = Ratio(len(report.journeys) - report.broken, len(report.journeys))
    slis = [
        SliStatus("journeys without a broken stage", healthy, 0.95),
        SliStatus(f"routed within {ROUTING_SLO_S:g} s", report.routing_within_slo, 0.99),
    ]
    slis += [SliStatus(f"consent valid at {name}", ratio, 0.99) for name, ratio in report.consent]
    return slis


def statuses_for(
    report: HealthReport, records: Iterable[SpanRecord], slis: str | Path | None = None
) -> list[SliStatus]:
    """Journeys without a broken stage, then every SLI of the SLI file (the built-in one by
    default) over ``records``: the same definitions as the in-process counters and the
    Prometheus rules.

    Raises:
        ConfigError: the SLI file is invalid, or PyYAML (extra ``slo``) is missing.
    """
    from leadtrace.slo.spec import load_slis

    return [journey_slis(report)[0], *file_slis(records, load_slis(slis))]
