"""Zero-code setup: ``opentelemetry-instrument`` runs :func:`leadtrace.configure` for you.

Installing leadtrace registers an ``opentelemetry_configurator`` and an
``opentelemetry_distro`` entry point, both named ``leadtrace``. Under
``opentelemetry-instrument python app.py`` the configurator calls ``configure()``, which reads
every setting from ``LEADTRACE_*`` / ``OTEL_*`` variables (``docs/configuration.md``); then the
instrumentors registered under ``opentelemetry_instrumentor`` load, leadtrace's vendor clients
(HubSpot, Salesforce, Segment, RudderStack) among them. When ``opentelemetry-distro`` is
installed too, its configurator competes with ours: set ``OTEL_PYTHON_DISTRO=leadtrace`` and
``OTEL_PYTHON_CONFIGURATOR=leadtrace``. Needs the ``auto`` extra (or any vendor extra).

Owns: the ``opentelemetry_configurator`` / ``opentelemetry_distro`` entry points.

May import: ``_runtime`` (it calls ``configure()``); top level, nothing imports it.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from leadtrace._runtime import configure

__all__ = ["CONFIGURATOR", "LeadtraceConfigurator", "LeadtraceDistro"]

CONFIGURATOR = "leadtrace"
"""Name of the ``opentelemetry_configurator`` entry point (``OTEL_PYTHON_CONFIGURATOR``)."""


class LeadtraceConfigurator:
    """The ``opentelemetry_configurator`` entry point: leadtrace's setup from the environment.

    Bad settings raise :class:`~leadtrace.errors.ConfigError` at start-up, as a direct
    ``configure()`` call would: loud at setup.
    """

    def configure(self, **kwargs: Any) -> None:
        """Run :func:`leadtrace.configure` from ``LEADTRACE_*`` / ``OTEL_*`` variables."""
        configure()


class LeadtraceDistro(BaseDistro):  # type: ignore[misc]  # untyped base
    """The ``opentelemetry_distro`` entry point: makes leadtrace's configurator the default."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", CONFIGURATOR)
