"""Commands of the ``leadtrace`` CLI, built with click. Imported only by :mod:`leadtrace.cli`.

One group per concept: ``schema`` (export and compatibility check of event schemas),
``consent`` (audit-trail verification), ``slo`` (SLO file check, Prometheus rule generation),
``change`` (record a deployment / schema / routing-rule / vendor change), ``dashboard``
(the Grafana campaign signal health dashboard), ``report`` (the health report over recorded
journeys), ``journeys`` / ``journey`` (the local journey store), ``demo``.
Exit codes: 0 success, 1 a check failed, 2 usage.

Owns: the ``leadtrace`` command's groups, options and exit codes.

May import: any part it drives (``changes``, ``consent``, ``dashboards``, ``errors``,
``report``, ``schemas``, ``scrubbing``, ``slo``, ``store``), each inside the command that needs
it so ``leadtrace --help`` stays fast; never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from leadtrace.errors import ConfigError
from leadtrace.store._commands import STORE_OPTION

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])


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


def _output_option(what: str) -> Callable[[F], F]:
    """The ``-o/--output`` option of a generating command (``-``: standard output)."""
    return click.option(
        "-o",
        "--output",
        default="-",
        show_default=True,
        type=click.Path(dir_okay=False, path_type=str),
        help=f"{what} to write ('-' for standard output).",
    )


def _write_output(text: str, output: str) -> bool:
    """Write ``text`` to the file ``output``, or to standard output for ``-``; True for a file."""
    if output == "-":
        click.echo(text, nl=False)
        return False
    try:
        with open(output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    return True


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
@click.option(
    "--slis",
    "slis_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    help="Your SLI file (default: the built-in SLIs, as `leadtrace slo` uses them).",
)
@click.option(
    "--by",
    type=click.Choice(["campaign", "channel"]),
    default=None,
    help="Also show every SLI per campaign id or per channel.",
)
def report_command(
    db: str, spans_path: str | None, since: str | None, html_path: str | None,
    include_synthetic: bool, slis_path: str | None, by: str | None,
) -> None:  # fmt: skip
    """Which signals hold, which layer broke, for how many journeys, and why."""
    from pathlib import Path

    from leadtrace.report import build_report, print_report, render_html, statuses_for

    records = _report_records(db, spans_path, since)
    report = build_report(records, include_synthetic=include_synthetic)
    try:
        statuses = statuses_for(report, records, slis_path)
        grouped = None
        if by is not None:
            from leadtrace.report import grouped_slis
            from leadtrace.slo.spec import load_slis

            grouped = grouped_slis(records, load_slis(slis_path), by)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    print_report(report, statuses)
    if grouped is not None:
        from leadtrace.report import print_grouped

        print_grouped(grouped, by or "")
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


@cli.group()
def slo() -> None:
    """Check SLO files and generate Prometheus recording rules and burn-rate alerts."""


_SLO_FILE = click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=str)
)


@slo.command("check")
@_SLO_FILE
def slo_check(file: str | None) -> None:
    """Validate an SLO FILE (leadtrace SLIs or Sloth prometheus/v1) without writing anything.

    Without FILE, checks the built-in SLIs. Exit 0 when valid, 1 with the line and the rule
    when not.
    """
    from leadtrace.errors import ConfigError
    from leadtrace.slo import load_slos

    try:
        slos = load_slos(file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for found in slos:
        click.echo(f"ok   {found.name}: {found.objective:g} % over {found.period}")
    click.echo(f"{file or 'built-in SLIs'}: {len(slos)} SLOs valid")


@slo.command("generate")
@_SLO_FILE
@_output_option("Rules file")
def slo_generate(file: str | None, output: str) -> None:
    """Write Prometheus rules for an SLO FILE: recording rules and burn-rate alerts.

    Without FILE, uses the built-in SLIs. Load the output with Prometheus's rule_files.
    """
    from leadtrace.errors import ConfigError
    from leadtrace.slo import generate

    try:
        text = generate(file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if _write_output(text, output):
        rules = text.count("\n  - record: ") + text.count("\n  - alert: ")
        click.echo(f"wrote {output}: {rules} rules", err=True)


@cli.group()
def change() -> None:
    """Record changes (deployments, schema changes, routing-rule edits, vendor incidents)."""


@change.command("record")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(
        ["deployment", "schema_change", "routing_rule", "vendor_incident", "configuration"]
    ),
    help="What changed.",
)
@click.option("--summary", required=True, help="One line: what changed and why.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="NAME=VALUE",
    help="A label for the span and the annotation's tags, e.g. rule_version=43 (repeatable).",
)
@click.option("--service", default=None, help="Service name (default: OTEL_SERVICE_NAME).")
@click.option(
    "--grafana-url",
    envvar="LEADTRACE_GRAFANA_URL",
    default=None,
    help="Grafana base URL; with a token, the change is posted as an annotation.",
)
@click.option(
    "--grafana-token",
    envvar="LEADTRACE_GRAFANA_TOKEN",
    default=None,
    help="Grafana service-account token (annotations:write). Read from the environment.",
)
def change_record(
    kind: str,
    summary: str,
    labels: tuple[str, ...],
    service: str | None,
    grafana_url: str | None,
    grafana_token: str | None,
) -> None:
    """Record a change from a deploy script or CI job.

    The change goes out over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (log record and
    ``martech.changes`` counter) and to Grafana's annotations API with --grafana-url and a
    token. A failed Grafana post is reported on stderr; it never fails the command.
    """
    import os

    import leadtrace
    from leadtrace.changes import GrafanaAnnotations, record_change
    from leadtrace.errors import ConfigError
    from leadtrace.scrubbing import scrub_text

    parsed: dict[str, str] = {}
    for item in labels:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--label {item!r} must look like NAME=VALUE")
        parsed[name.strip()] = value
    try:
        if grafana_url and not grafana_token:
            raise ConfigError("--grafana-url needs a token: set LEADTRACE_GRAFANA_TOKEN")
        grafana = GrafanaAnnotations(grafana_url, grafana_token or "") if grafana_url else None
        handle = leadtrace.configure(
            service_name=service or os.environ.get("OTEL_SERVICE_NAME") or "leadtrace-cli",
            local=True,
        )
        thread = record_change(handle, kind, summary, scrub=scrub_text, grafana=grafana, **parsed)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if thread is not None:
        thread.join(timeout=(grafana.timeout if grafana else 0) + 1)
    handle.force_flush()
    handle.shutdown()
    click.echo(f"recorded {kind}: {scrub_text(summary)}")
    if grafana is not None:
        if grafana.failures or (thread is not None and thread.is_alive()):
            click.echo(f"warning: annotation not posted to {grafana.endpoint}", err=True)
        else:
            click.echo(f"annotation posted to {grafana.endpoint}")


@cli.group()
def dashboard() -> None:
    """Generate the Grafana campaign signal health dashboard."""


@dashboard.command("generate")
@click.option(
    "--slos",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    help="Your SLI file (default: the built-in SLIs).",
)
@_output_option("Dashboard JSON")
def dashboard_generate(slos: str | None, output: str) -> None:
    """Write the dashboard JSON (import it in Grafana, then pick the data sources).

    Needs the 'dashboards' extra (grafana-foundation-sdk, Python 3.11 or newer).
    """
    from leadtrace.dashboards import render
    from leadtrace.errors import ConfigError
    from leadtrace.slo.spec import load_slis

    try:
        text = render(load_slis(slos))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if _write_output(text, output):
        click.echo(f"wrote {output}", err=True)
