"""docs/runbooks/: one runbook per failure the domain brief names, each with every section."""

from __future__ import annotations

from pathlib import Path

import pytest

RUNBOOKS = Path(__file__).parents[2] / "docs" / "runbooks"
FAILURES = [
    "missing-attribution",
    "consent-mismatch",
    "enrichment-lag",
    "duplicate-leads",
    "crm-sync-failure",
    "routing-rule-drift",
]
SECTIONS = [
    "## Detection",
    "## Impact",
    "## First checks",
    "## Containment",
    "## Verification",
    "## Recovery",
    "## Escalation",
]


@pytest.mark.parametrize("name", FAILURES)
def test_runbook_has_every_section_and_both_query_languages(name: str) -> None:
    """Each runbook has the seven sections, a PromQL and a TraceQL query on martech.*."""
    text = (RUNBOOKS / f"{name}.md").read_text()
    assert [s for s in SECTIONS if s not in text] == []
    assert "```promql" in text
    assert "```traceql" in text
    assert "span.martech." in text


@pytest.mark.parametrize("name", FAILURES)
def test_runbook_states_the_containment_decision(name: str) -> None:
    """Each runbook's containment says whether to queue, reroute, route or halt."""
    containment = (RUNBOOKS / f"{name}.md").read_text().split("## Containment")[1]
    containment = containment.split("## Verification")[0]
    assert "Decision" in containment or "Halt" in containment or "halt" in containment
