"""``leadtrace journeys`` and ``leadtrace journey ID``: the journey store as rich tables.

Registered on the ``leadtrace`` command group by :mod:`leadtrace._cli`; needs the ``cli``
extra (click and rich).
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from leadtrace.errors import ConfigError
from leadtrace.store._exporter import STORE_FILE

if TYPE_CHECKING:
    from leadtrace.store.queries import JourneyStore

__all__ = ["journey", "journeys", "parse_age"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """Seconds in an age such as ``90s``, ``15m``, ``1h`` or ``2d``.

    Raises:
        click.BadParameter: not a number followed by s, m, h or d.
    """
    match = _AGE.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not an age such as 90s, 15m, 1h or 2d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _default_db() -> str:
    return str(Path(os.environ.get("LEADTRACE_LOCAL_DIR", ".leadtrace")) / STORE_FILE)


STORE_OPTION = click.option(
    "--db",
    default=_default_db,
    show_default="<LEADTRACE_LOCAL_DIR>/journeys.db",
    type=click.Path(dir_okay=False, path_type=str),
    help="The journey store to read.",
)


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def open_store(db: str) -> JourneyStore:
    """The journey store at ``db``; a file that is not one is a usage error naming it."""
    from leadtrace.store.queries import JourneyStore

    try:
        return JourneyStore(db)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("journeys")
@STORE_OPTION
@click.option("--broken", is_flag=True, help="Only journeys with a broken stage.")
@click.option("--campaign", default=None, metavar="ID", help="Only journeys of this campaign id.")
@click.option("--since", default=None, metavar="AGE", help="Only journeys started since, e.g. 1h.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
def journeys(db: str, broken: bool, campaign: str | None, since: str | None, limit: int) -> None:
    """List recorded journeys, newest first: stages, completeness and first broken layer."""
    store = open_store(db)
    since_ns = None if since is None else int((time.time() - parse_age(since)) * 1e9)
    found = store.journeys(
        since_ns=since_ns, campaign=campaign, broken=True if broken else None, limit=limit
    )
    table = Table(title=f"{len(found)} journeys in {db}", title_justify="left")
    for column in ("journey", "started (UTC)", "campaign", "channel", "stages", "status"):
        table.add_column(column, overflow="fold")
    for summary in found:
        if summary.failure is None:
            status = "[green]healthy[/]" if summary.complete else "[yellow]incomplete[/]"
        else:
            status = (
                f"[red]broken: {summary.failure.layer}[/] at {summary.failure.stage} "
                f"({summary.failure.problem})"
            )
        table.add_row(
            summary.journey_id,
            _when(summary.started_ns),
            summary.campaign or "-",
            summary.channel or "-",
            " > ".join(summary.stages) or "-",
            status,
        )
    Console(soft_wrap=False).print(table)


@click.command("journey")
@click.argument("journey_id")
@STORE_OPTION
def journey(journey_id: str, db: str) -> None:
    """Show one journey's timeline across every process that recorded it."""
    store = open_store(db)
    try:
        loaded = store.journey(journey_id)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    records = loaded.spans
    failure = loaded.first_failure()
    start = records[0].start_ns
    table = Table(title=f"journey {journey_id}", title_justify="left")
    for column in ("at", "service", "span", "stage", "duration", "problem"):
        table.add_column(column, overflow="fold")
    for record in records:
        problem = ""
        if record.error:
            problem = f"[red]error[/] {record.status_description}".strip()
        if failure is not None and record is failure.record:
            problem = f"[red]{failure.layer}: {failure.problem}[/] (arrived {failure.arrived})"
        table.add_row(
            f"+{(record.start_ns - start) / 1e9:.3f}s",
            record.service_name,
            record.name,
            record.stage or "",
            f"{(record.end_ns - record.start_ns) / 1e6:.1f} ms",
            problem,
        )
    console = Console(soft_wrap=False)
    console.print(table)
    if failure is None:
        console.print(f"[green]healthy[/]: {len(loaded.stages())} stages")
    else:
        console.print(
            f"[red]broken[/] at stage {failure.stage} (layer {failure.layer}): {failure.problem}"
        )
