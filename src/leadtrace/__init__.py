"""leadtrace: prove campaign activity becomes trustworthy sales data, with OpenTelemetry.

The public API::

    import leadtrace
    leadtrace.configure(service_name="landing-web", environment="staging")

    with leadtrace.journey(campaign=leadtrace.Campaign(id="spring-launch", source="google")):
        leadtrace.emit("form_submitted", form_id="demo-request", field_names=["email"])

    @leadtrace.stage("lead_routed", capture=["lead_id"])
    def route(lead_id: str) -> str: ...

Everything not listed in ``__all__`` is private or lives in a documented submodule
(:mod:`leadtrace.events`, :mod:`leadtrace.semconv`, :mod:`leadtrace.errors`,
:mod:`leadtrace.logging`, :mod:`leadtrace.testing`, ...).

Owns: the public face: what ``import leadtrace`` offers, re-exported from the parts.

May import: the parts it re-exports (``_describe``, ``_emit``, ``_runtime``, ``_stage``,
``changes``, ``consent``, ``context``, ``errors``, ``events``, ``privacy``, ``scrubbing``,
``semconv``).
"""

from __future__ import annotations

import threading
from typing import Any

from leadtrace import changes as _changes
from leadtrace import events, semconv
from leadtrace._describe import describe
from leadtrace._emit import emit
from leadtrace._runtime import VERSION, Leadtrace, configure, current
from leadtrace._stage import stage
from leadtrace.consent import ConsentState
from leadtrace.context import (
    BusinessContext,
    annotate,
    current_journey,
    extract,
    inject,
    journey,
)
from leadtrace.errors import ConfigError, EventValidationError, LeadtraceError
from leadtrace.events import Campaign, Event
from leadtrace.privacy import IdentityKeys, identity

__version__ = VERSION


def record_change(
    kind: str,
    summary: str,
    *,
    grafana: _changes.GrafanaAnnotations | None = None,
    **labels: Any,
) -> threading.Thread | None:
    """Record a deployment, schema change, routing-rule edit or vendor incident.

    The change becomes a log record, a ``leadtrace.change`` event on the current span, a
    ``martech.changes`` counter sample
    (``martech.change.kind`` only) and, with ``grafana``, a Grafana annotation posted in the
    background. See :mod:`leadtrace.changes`::

        leadtrace.record_change("routing_rule", "EMEA split by company size", rule_version="43")

    Raises:
        ConfigError: ``kind`` is not one of ``changes.CHANGE_KINDS``, the summary is empty or
            a label name is not snake_case.
    """
    from leadtrace.scrubbing import scrub_text

    return _changes.record_change(
        current(), kind, summary, scrub=scrub_text, grafana=grafana, **labels
    )


__all__ = [
    "BusinessContext",
    "Campaign",
    "ConfigError",
    "ConsentState",
    "Event",
    "EventValidationError",
    "IdentityKeys",
    "Leadtrace",
    "LeadtraceError",
    "__version__",
    "annotate",
    "configure",
    "current_journey",
    "describe",
    "emit",
    "events",
    "extract",
    "identity",
    "inject",
    "journey",
    "record_change",
    "semconv",
    "stage",
]
