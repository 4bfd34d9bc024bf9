"""The health report over recorded journeys: which signals hold, which layer broke, and why.

``leadtrace report`` prints it; ``leadtrace report --html out.html`` writes it as one
self-contained page with charts::

    from leadtrace.report import build_report, read_jsonl, render_html, journey_slis

    report = build_report(read_jsonl(".leadtrace/spans.jsonl"))
    print(report.broken, "broken journeys")
"""

from __future__ import annotations

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
from leadtrace.report._sources import read_jsonl
from leadtrace.report._status import SliStatus, Status, status_of
from leadtrace.report._text import print_report

__all__ = [
    "CONSENT_CHECKPOINTS",
    "FUNNEL",
    "ROUTING_SLO_S",
    "Breakage",
    "HealthReport",
    "JourneySummary",
    "Ratio",
    "SliStatus",
    "Status",
    "build_report",
    "journey_slis",
    "print_report",
    "read_jsonl",
    "render_html",
    "status_of",
]


def journey_slis(report: HealthReport) -> list[SliStatus]:
    """The report's journey-level SLIs with the domain brief's default objectives."""
    healthy = Ratio(len(report.journeys) - report.broken, len(report.journeys))
    slis = [
        SliStatus("journeys without a broken stage", healthy, 0.95),
        SliStatus(f"routed within {ROUTING_SLO_S:g} s", report.routing_within_slo, 0.99),
    ]
    slis += [SliStatus(f"consent valid at {name}", ratio, 0.99) for name, ratio in report.consent]
    return slis
