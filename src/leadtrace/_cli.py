"""Commands of the ``leadtrace`` CLI, built with click. Imported only by :mod:`leadtrace.cli`.

One group per concept: ``schema`` (export and compatibility check of event schemas),
``consent`` (audit-trail verification), ``report`` (the health report over recorded
journeys). Exit codes: 0 success, 1 a check failed, 2 usage.
"""

from __future__ import annotations

from typing import Any

import click

from leadtrace.store._commands import STORE_OPTION

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="leadtrace")
def cli() -> None:
    """leadtrace: prove campaign activity becomes trustworthy sales data."""


@cli.group()
def schema() -> None:
    """Export event JSON Schemas and check schema evolution (SchemaVer)."""


@cli.group()
def consent() -> None:
    """Consent audit trail tools."""


@consent.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=str))
def consent_verify(file: str) -> None:
    """Check the hash chain of a consent audit log FILE.

    Exit 0 when every record is intact, 1 with the first broken record's line number.
    """
    from leadtrace.consent import verify_audit_log

    try:
        report = verify_audit_log(file)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from exc
    if report.ok:
        click.echo(f"{file}: ok, {_count(report.records, 'record')}, head {report.head}")
        return
    click.echo(
        f"{file}:{report.first_bad_line}: broken: {report.reason} "
        f"({_count(report.records, 'valid record')} before it, last valid head {report.head})",
        err=True,
    )
    raise SystemExit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _import_modules(modules: tuple[str, ...]) -> None:
    """Import each module as ``python -m`` and pytest would: the current directory first."""
    import importlib
    import os
    import sys

    cwd = os.getcwd()
    if modules and cwd not in sys.path:
        sys.path.insert(0, cwd)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise click.UsageError(
                f"cannot import {module!r} to register its events: {exc}. "
                f"leadtrace looked in the current directory ({cwd}) and on sys.path: run it "
                "from your project's root (the directory that holds the package), inside the "
                "environment where the package is installed, or fix the module path."
            ) from exc


_IMPORT = click.option(
    "--import",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE first so the events it registers are included (repeatable).",
)


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@_IMPORT
def schema_export(directory: str, modules: tuple[str, ...]) -> None:
    """Write the closed JSON Schema of every event version to DIRECTORY/<event>/<version>.json."""
    from leadtrace import schemas

    _import_modules(modules)
    written = schemas.export(directory)
    for path in written:
        click.echo(str(path))
    click.echo(f"exported {len(written)} schemas to {directory}")


@schema.command("check")
@click.option(
    "--baseline",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="A directory written earlier by 'leadtrace schema export' (e.g. from main).",
)
@_IMPORT
def schema_check(baseline: str, modules: tuple[str, ...]) -> None:
    """Fail when an event's SchemaVer bump is smaller than its change needs.

    Exit 0 when every event passes, 1 when one does not (each problem names the event, the
    field and the version to declare).
    """
    from leadtrace import schemas

    _import_modules(modules)
    try:
        published = schemas.load_baseline(baseline)
    except (FileNotFoundError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    report = schemas.check(published)
    for event in report.events:
        status = "ok  " if event.ok else "FAIL"
        since = f" (baseline {event.baseline_version})" if event.baseline_version else " (new)"
        needed = f", needs {event.needed.name}" if event.changes else ""
        click.echo(f"{status} {event.event} {event.version}{since}{needed}")
        for change in event.changes:
            click.echo(f"       {change}")
        for problem in event.problems:
            click.echo(f"  error: {problem}", err=True)
    for note in report.notes:
        click.echo(f"note: {note}")
    failed = sum(not e.ok for e in report.events)
    click.echo(
        f"{len(report.events)} event versions checked, {failed} failed",
        err=bool(failed),
    )
    if failed:
        raise SystemExit(1)


def _report_records(db: str, spans_path: str | None, since: str | None) -> list[Any]:
    """The finished spans to report on: the journey store, or JSON lines with ``--spans``."""
    import time
    from pathlib import Path

    from leadtrace.report import read_jsonl
    from leadtrace.store._commands import open_store, parse_age

    since_ns = None if since is None else int((time.time() - parse_age(since)) * 1e9)
    if spans_path is not None:
        if not Path(spans_path).is_file():
            raise click.ClickException(f"no spans at {spans_path}")
        return [r for r in read_jsonl(spans_path) if since_ns is None or r.start_ns >= since_ns]
    if not Path(db).is_file():
        raise click.ClickException(
            f"no journey store at {db}: run your app (or `leadtrace demo`) with no OTLP "
            "endpoint set so spans land in the local store, or pass --db / --spans"
        )
    return open_store(db).records(since_ns=since_ns)


@cli.command("report")
@STORE_OPTION
@click.option(
    "--spans",
    "spans_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=str),
    help="Report on spans written as JSON lines (LEADTRACE_LOCAL_STORE=jsonl) instead.",
)
@click.option("--since", default=None, metavar="AGE", help="Only spans since, e.g. 1h.")
@click.option(
    "--html",
    "html_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=str),
    help="Also write the report as one self-contained HTML page with charts.",
)
@click.option(
    "--include-synthetic/--exclude-synthetic",
    default=True,
    show_default=True,
    help="Count synthetic (test) journeys.",
)
def report_command(
    db: str, spans_path: str | None, since: str | None, html_path: str | None,
    include_synthetic: bool,
) -> None:  # fmt: skip
    """Which signals hold, which layer broke, for how many journeys, and why."""
    from pathlib import Path

    from leadtrace.report import build_report, journey_slis, print_report, render_html

    records = _report_records(db, spans_path, since)
    report = build_report(records, include_synthetic=include_synthetic)
    statuses = journey_slis(report)
    print_report(report, statuses)
    if html_path:
        page = render_html(report, statuses, title="Campaign signal health")
        Path(html_path).write_text(page, encoding="utf-8")
        click.echo(f"HTML report: {html_path}")


@cli.command("demo", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo_command(args: tuple[str, ...]) -> None:
    """Run the demo stack of examples/ (landing page, lead worker, CRM stand-in) with faults.

    Options go to examples/demo.py: --journeys N, --faults NAME=N%,..., --seed, --store DIR,
    --html FILE; `leadtrace demo -- --help` lists them.
    """
    import subprocess
    import sys
    from pathlib import Path

    script = Path("examples") / "demo.py"
    if not script.is_file():
        raise click.ClickException(
            "leadtrace demo runs the stack in examples/ of a leadtrace checkout: run it from "
            "the checkout's root (make demo does)"
        )
    raise SystemExit(subprocess.call([sys.executable, str(script), *args]))  # noqa: S603


def _add_store_commands() -> None:
    from leadtrace.store._commands import journey, journeys

    cli.add_command(journeys)
    cli.add_command(journey)


_add_store_commands()
