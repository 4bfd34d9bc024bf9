"""The health report as rich tables in a terminal (``leadtrace report``, ``leadtrace demo``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from leadtrace.report._health import HealthReport
from leadtrace.report._status import SliStatus

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["print_grouped", "print_report"]


def print_report(
    report: HealthReport, statuses: Sequence[SliStatus], console: Console | None = None
) -> None:
    """Print ``report`` as rich tables: SLI status, then broken journeys by where they broke."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    total = len(report.journeys)
    console.print(f"[bold]{total} journeys[/bold], {report.broken} broken")
    slis = Table(title="SLI status", title_justify="left")
    for column in ("SLI", "value", "good/total", "objective", "status"):
        slis.add_column(column, justify="right" if column != "SLI" else "left")
    colours = {"Healthy": "green", "Degraded": "yellow", "Broken": "red", "No data": "dim"}
    for sli in statuses:
        value = sli.ratio.value
        slis.add_row(
            sli.name,
            "n/a" if value is None else f"{value * 100:.1f}%",
            f"{sli.ratio.good}/{sli.ratio.total}",
            f"{sli.objective * 100:g}%",
            f"[{colours[sli.status]}]{sli.status}[/]",
        )
    console.print(slis)
    broken = Table(title="Broken journeys by where they broke", title_justify="left")
    for column in ("layer", "stage", "problem", "journeys", "example journey"):
        broken.add_column(column, justify="right" if column == "journeys" else "left")
    for b in report.breakages:
        broken.add_row(b.layer, b.stage, b.problem, str(b.journeys), b.example)
    if report.breakages:
        console.print(broken)
    else:
        console.print("No broken journeys.")


def print_grouped(
    grouped: Mapping[str, Sequence[SliStatus]], by: str, console: Console | None = None
) -> None:
    """Print each SLI's value per group (campaign or channel), coloured by status."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"SLIs by {by}", title_justify="left")
    table.add_column("SLI")
    names = list(grouped)
    for name in names:
        table.add_column(name, justify="right")
    colours = {"Healthy": "green", "Degraded": "yellow", "Broken": "red", "No data": "dim"}
    rows: dict[str, list[str]] = {}
    for statuses in grouped.values():
        for sli in statuses:
            value = sli.ratio.value
            text = "-" if value is None else f"{value * 100:.1f}%"
            rows.setdefault(sli.name, []).append(f"[{colours[sli.status]}]{text}[/]")
    for sli_name, cells in rows.items():
        table.add_row(sli_name, *cells)
    console.print(table)
