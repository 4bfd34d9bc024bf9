"""Prometheus recording rules and multi-window multi-burn-rate alerts from SLO definitions.

The output reuses Sloth's rule names and labels (``slo:sli_error:ratio_rate5m`` ...
``slo:period_error_budget_remaining:ratio``, ``sloth_id`` / ``sloth_service`` /
``sloth_slo`` / ``sloth_window``), so dashboards and habits built for Sloth read it. Each
SLO gets one rule group (recording rules first, then alerts: one group keeps Prometheus's
evaluation order, which separate groups do not guarantee):

- error ratio over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO period;
- events seen over 1h and 6h (``leadtrace:sli_events:increase1h``), for the low-traffic guard;
- objective, error budget, period length, current and period burn rate, budget remaining;
- a ``page`` alert when 1h and 5m burn faster than 14.4x, or 6h and 30m faster than 6x, and
  the long window saw at least ``page_min_events`` events (no page for 2 bad out of 3);
- a ``ticket`` alert when 1d and 2h burn faster than 3x, or 3d and 6h faster than 1x;
- a ``ticket`` alert when the SLI's data is absent for 10 minutes.

Factors follow the SRE workbook for a 30-day period (2 %, 5 %, 10 %, 10 % of the budget) and
scale with other periods. Every alert carries ``severity``, ``sloth_severity`` and a
``runbook_url`` annotation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from leadtrace.slo.spec import SliFile

__all__ = [
    "BURN_WINDOWS",
    "SloRules",
    "from_slis",
    "render",
    "rule_groups",
]

WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""Windows of the ``slo:sli_error:ratio_rate<window>`` recording rules."""


@dataclass(frozen=True)
class BurnWindow:
    """One multi-window burn-rate condition."""

    severity: str
    long: str
    short: str
    budget_share: float
    """Share of the period's error budget this condition would consume in ``long``."""


BURN_WINDOWS: Final = (
    BurnWindow("page", "1h", "5m", 0.02),
    BurnWindow("page", "6h", "30m", 0.05),
    BurnWindow("ticket", "1d", "2h", 0.10),
    BurnWindow("ticket", "3d", "6h", 0.10),
)
"""The SRE workbook's four conditions (14.4x, 6x, 3x, 1x over 30 days)."""

FOR: Final = {"page": "2m", "ticket": "15m"}
"""Delay before an alert fires, so one scrape's blip never pages."""

GUARD_WINDOWS: Final = ("1h", "6h")
"""Long windows of the page conditions: the low-traffic guard counts events over these."""

_HOURS = {"m": 1 / 60, "h": 1.0, "d": 24.0}
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _hours(window: str) -> float:
    return int(window[:-1]) * _HOURS[window[-1]]


def _seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


@dataclass(frozen=True)
class SloRules:
    """What rule generation needs of one SLO, from our SLI file or a Sloth spec.

    ``ratio`` maps a window (``5m``) to the PromQL of the error ratio over it; ``events``
    maps a window to the PromQL of events per second over it.
    """

    service: str
    name: str
    objective: float
    description: str
    ratio: Callable[[str], str]
    events: Callable[[str], str]
    alert_name: str
    runbook_url: str
    period: str = "30d"
    page_min_events: int = 10
    labels: Mapping[str, str] = field(default_factory=dict)
    page_labels: Mapping[str, str] = field(default_factory=dict)
    ticket_labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def sloth_id(self) -> str:
        """Sloth's ``sloth_id``: ``<service>-<slo>``."""
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, e.g. 0.01 for 99 %."""
        return round(1 - self.objective / 100, 12)

    def factor(self, window: BurnWindow) -> float:
        """Burn-rate factor of ``window`` for this SLO's period (14.4 for 1h over 30d)."""
        return round(window.budget_share * _hours(self.period) / _hours(window.long), 6)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-\s]+", name) if part)


def _matchers(parts: Mapping[str, str], extra: str) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in parts.items())
    return ",".join(p for p in (text, extra.strip().strip("{}")) if p)


def from_slis(spec: SliFile) -> list[SloRules]:
    """One :class:`SloRules` per SLI of our file, reading leadtrace's SLI counters."""
    found: list[SloRules] = []
    for sli in spec.slis:
        selector: dict[str, str] = {"martech_sli_name": sli.name}
        if spec.exclude_synthetic:
            selector["martech_journey_synthetic"] = "false"
        matchers = _matchers(selector, spec.selector)

        def ratio(window: str, m: str = matchers) -> str:
            return (
                f"1 - (sum(rate(martech_sli_good_events_total{{{m}}}[{window}]))"
                f" / sum(rate(martech_sli_events_total{{{m}}}[{window}])))"
            )

        def events(window: str, m: str = matchers) -> str:
            return f"sum(rate(martech_sli_events_total{{{m}}}[{window}]))"

        found.append(
            SloRules(
                service=spec.service,
                name=sli.name,
                objective=sli.objective,
                description=sli.description,
                ratio=ratio,
                events=events,
                alert_name=f"{_camel(sli.name)}ErrorBudgetBurn",
                runbook_url=spec.runbook_url(sli),
                period=spec.period,
                page_min_events=spec.page_min_events,
                labels={**spec.labels, **({"layer": sli.layer} if sli.layer else {})},
            )
        )
    return found


def _window_labels(base: Mapping[str, str], window: str) -> dict[str, str]:
    return {**base, "sloth_window": window}


def _num(value: float) -> str:
    return repr(round(value, 12))


def rule_groups(slos: list[SloRules]) -> list[dict[str, Any]]:
    """Prometheus rule groups (as plain data) for ``slos``: one group per SLO."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        ids = {
            "sloth_id": slo.sloth_id,
            "sloth_service": slo.service,
            "sloth_slo": slo.name,
        }
        base = {**slo.labels, **ids}
        sel = _matchers(ids, "")
        rules: list[dict[str, Any]] = []
        for window in WINDOWS:
            rules.append(
                {
                    "record": f"slo:sli_error:ratio_rate{window}",
                    "expr": f"({slo.ratio(window)})",
                    "labels": _window_labels(base, window),
                }
            )
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{slo.period}",
                "expr": (
                    f"sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[{slo.period}])"
                    f" / ignoring (sloth_window)"
                    f" count_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[{slo.period}])"
                ),
                "labels": _window_labels(base, slo.period),
            }
        )
        for window in GUARD_WINDOWS:
            rules.append(
                {
                    "record": f"leadtrace:sli_events:increase{window}",
                    "expr": f"({slo.events(window)}) * {_seconds(window)}",
                    "labels": _window_labels(base, window),
                }
            )
        budget = _num(slo.error_budget)
        rules += [
            {"record": "slo:objective:ratio", "expr": f"vector({_num(slo.objective / 100)})"},
            {"record": "slo:error_budget:ratio", "expr": f"vector({budget})"},
            {"record": "slo:time_period:days", "expr": f"vector({_num(_hours(slo.period) / 24)})"},
            {
                "record": "slo:current_burn_rate:ratio",
                "expr": (
                    f"slo:sli_error:ratio_rate5m{{{sel}}}"
                    f" / on(sloth_id, sloth_slo, sloth_service) group_left"
                    f" slo:error_budget:ratio{{{sel}}}"
                ),
            },
            {
                "record": "slo:period_burn_rate:ratio",
                "expr": (
                    f"slo:sli_error:ratio_rate{slo.period}{{{sel}}}"
                    f" / on(sloth_id, sloth_slo, sloth_service) group_left"
                    f" slo:error_budget:ratio{{{sel}}}"
                ),
            },
            {
                "record": "slo:period_error_budget_remaining:ratio",
                "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
            },
            {
                "record": "sloth_slo_info",
                "expr": "vector(1)",
                "labels": {
                    **base,
                    "sloth_mode": "leadtrace",
                    "sloth_objective": _num(slo.objective),
                },
            },
        ]
        for rule in rules[len(WINDOWS) + 1 + len(GUARD_WINDOWS) :]:
            rule.setdefault("labels", dict(base))
        for severity in ("page", "ticket"):
            rules.append(_burn_alert(slo, severity, base, sel))
        rules.append(
            {
                "alert": f"{_camel(slo.name)}SLIDataMissing"
                if slo.alert_name.endswith("ErrorBudgetBurn")
                else f"{slo.alert_name}NoData",
                "expr": f"absent({slo.events('5m')})",
                "for": "10m",
                "labels": {**base, "severity": "ticket", "sloth_severity": "ticket"},
                "annotations": {
                    **slo.annotations,
                    "summary": f"No SLI data for {slo.service} {slo.name} in 10 minutes.",
                    "description": (
                        "The SLI's counters are not being scraped: the service is down, its "
                        "metrics endpoint is unreachable, or the SLI file no longer defines it."
                    ),
                    "runbook_url": slo.runbook_url,
                },
            }
        )
        groups.append({"name": f"sloth-slo-{slo.sloth_id}", "rules": rules})
    return groups


def _burn_alert(slo: SloRules, severity: str, base: Mapping[str, str], sel: str) -> dict[str, Any]:
    budget = _num(slo.error_budget)
    branches: list[str] = []
    for window in (w for w in BURN_WINDOWS if w.severity == severity):
        limit = f"({_num(slo.factor(window))} * {budget})"
        parts = [
            f"max(slo:sli_error:ratio_rate{w}{{{sel}}} > {limit}) without (sloth_window)"
            for w in (window.short, window.long)
        ]
        if severity == "page" and slo.page_min_events > 0:
            parts.append(
                f"max(leadtrace:sli_events:increase{window.long}{{{sel}}}"
                f" >= {slo.page_min_events}) without (sloth_window)"
            )
        branches.append("(" + " and ".join(parts) + ")")
    extra = slo.page_labels if severity == "page" else slo.ticket_labels
    speed = "too fast" if severity == "page" else "too high"
    return {
        "alert": slo.alert_name,
        "expr": " or ".join(branches),
        "for": FOR[severity],
        "labels": {**base, "severity": severity, "sloth_severity": severity, **extra},
        "annotations": {
            **slo.annotations,
            "summary": f"{slo.service} {slo.name}: error budget burn rate is {speed}.",
            "title": f"({severity}) {slo.service} {slo.name} SLO error budget burn is {speed}.",
            "description": f"{slo.description} Objective {_num(slo.objective)} % per {slo.period}.",
            "runbook_url": slo.runbook_url,
        },
    }


def render(slos: list[SloRules], source: str) -> str:
    """The rules file as YAML text, deterministic for a given input."""
    import yaml

    header = (
        f"# Generated by `leadtrace slo generate` from {source}. Do not edit: change the SLO\n"
        "# file and generate again. Rule names follow Sloth (slo:sli_error:ratio_rate5m ...).\n"
    )
    body = yaml.safe_dump(
        {"groups": rule_groups(slos)}, sort_keys=False, width=10_000, allow_unicode=True
    )
    return header + body
