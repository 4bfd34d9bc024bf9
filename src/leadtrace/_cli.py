"""Commands of the ``leadtrace`` CLI, built with click. Imported only by :mod:`leadtrace.cli`.

One group per concept: ``schema`` (export and compatibility check of event schemas),
``consent`` (audit-trail verification). Exit codes: 0 success, 1 a check failed, 2 usage.
"""

from __future__ import annotations

import click

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
