"""Healthy / Degraded / Broken: an SLI's status from how fast it burns its error budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leadtrace.report._health import Ratio

__all__ = ["PAGE_BURN", "SliStatus", "Status", "status_of"]

Status = Literal["Healthy", "Degraded", "Broken", "No data"]

PAGE_BURN = 6.0
"""Burn rate from which a signal counts as broken: the slower of the two paging alerts
(6x over 6 h spends 5 % of a 30-day budget); a faster burn pages."""


def status_of(ratio: Ratio, objective: float) -> Status:
    """``Broken`` at a paging burn rate, ``Degraded`` above budget, else ``Healthy``.

    Burn rate is the error rate over the error budget: ``(1 - good/total) / (1 - objective)``.
    """
    value = ratio.value
    if value is None:
        return "No data"
    budget = 1.0 - objective
    burn = (1.0 - value) / budget if budget > 0 else (0.0 if value >= 1.0 else float("inf"))
    if burn >= PAGE_BURN:
        return "Broken"
    if burn > 1.0:
        return "Degraded"
    return "Healthy"


@dataclass(frozen=True)
class SliStatus:
    """One SLI over the report's journeys, its objective and status."""

    name: str
    ratio: Ratio
    objective: float

    @property
    def status(self) -> Status:
        """Healthy / Degraded / Broken / No data (see :func:`status_of`)."""
        return status_of(self.ratio, self.objective)
