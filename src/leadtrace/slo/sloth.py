"""Read Sloth's ``prometheus/v1`` SLO spec, so existing Sloth files generate the same alerts.

Supported: ``service``, ``labels``, and per SLO ``name``, ``objective``, ``description``,
``labels``, ``sli.events`` (``error_query`` / ``total_query`` with ``{{.window}}``) or
``sli.raw.error_ratio_query``, and ``alerting`` (``name``, ``labels``, ``annotations``,
``page_alert.labels``, ``ticket_alert.labels``). Sloth's plugins are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadtrace.errors import ConfigError
from leadtrace.slo.rules import SloRules, _camel

__all__ = ["SlothSpec", "from_sloth", "parse_sloth"]

Query = Callable[[str], str]

WINDOW = "{{.window}}"
DEFAULT_RUNBOOK = "https://example.invalid/leadtrace/docs/runbooks/README.md"
"""Runbook index linked from alerts of a Sloth spec that names no runbook."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Events(_Model):
    error_query: str = Field(min_length=1)
    total_query: str = Field(min_length=1)


class _Raw(_Model):
    error_ratio_query: str = Field(min_length=1)


class _Sli(_Model):
    events: _Events | None = None
    raw: _Raw | None = None


class _AlertLabels(_Model):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    disable: bool = False


class _Alerting(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: _AlertLabels = Field(default_factory=_AlertLabels)
    ticket_alert: _AlertLabels = Field(default_factory=_AlertLabels)


class _Slo(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    objective: float = Field(gt=0, lt=100)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    sli: _Sli
    alerting: _Alerting


class SlothSpec(_Model):
    """Sloth's ``prometheus/v1`` spec (the parts leadtrace reads)."""

    version: Literal["prometheus/v1"]
    service: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    labels: dict[str, str] = Field(default_factory=dict)
    slos: tuple[_Slo, ...] = Field(min_length=1)


def parse_sloth(data: Any, source: str) -> SlothSpec:
    """Validate parsed YAML as a Sloth spec.

    Raises:
        ConfigError: names ``source``, the field path and the rule.
    """
    try:
        spec = SlothSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        path = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"Sloth spec {source}: {path}: {first['msg']}") from None
    for slo in spec.slos:
        if (slo.sli.events is None) == (slo.sli.raw is None):
            raise ConfigError(
                f"Sloth spec {source}: SLO {slo.name!r}: give exactly one of sli.events "
                "(error_query + total_query) or sli.raw (error_ratio_query)"
            )
    return spec


def _queries(events: _Events | None, raw: _Raw | None) -> tuple[Query, Query]:
    """The error-ratio and events-per-second queries of one SLO, by window."""
    if events is not None:
        error_q, total_q = events.error_query, events.total_query
        return (
            lambda w: f"({error_q.replace(WINDOW, w)}) / ({total_q.replace(WINDOW, w)})",
            lambda w: total_q.replace(WINDOW, w),
        )
    assert raw is not None
    raw_q = raw.error_ratio_query
    return (lambda w: raw_q.replace(WINDOW, w),) * 2


def from_sloth(spec: SlothSpec) -> list[SloRules]:
    """One :class:`~leadtrace.slo.rules.SloRules` per SLO of a Sloth spec."""
    found: list[SloRules] = []
    for slo in spec.slos:
        events, raw = slo.sli.events, slo.sli.raw
        ratio, count = _queries(events, raw)
        alerting = slo.alerting
        annotations = {**alerting.annotations}
        runbook = annotations.pop("runbook_url", None) or annotations.pop("runbook", None)
        found.append(
            SloRules(
                service=spec.service,
                name=slo.name,
                objective=slo.objective,
                description=slo.description or f"SLO {slo.name} of {spec.service}.",
                ratio=ratio,
                events=count,
                alert_name=_camel(alerting.name),
                runbook_url=runbook or DEFAULT_RUNBOOK,
                # Without an event count (raw ratio) the low-traffic guard cannot apply.
                page_min_events=10 if events is not None else 0,
                labels={**spec.labels, **slo.labels},
                page_labels={**alerting.labels, **alerting.page_alert.labels},
                ticket_labels={**alerting.labels, **alerting.ticket_alert.labels},
                annotations=annotations,
            )
        )
    return found
