"""The worker process of the two-process journey test: enrichment, routing and CRM write.

Reads the web process's messages (one JSON line each, with journey headers) from stdin,
continues each journey with ``leadtrace.extract``, and runs the lead through an enrichment
provider, the routing rules and a CRM. The provider, rules and CRM are small in-process
stand-ins with the behaviours the test needs: a provider that times out for one company, a
routing rule that sends one country to the wrong owner, a CRM that answers 409 when a
contact with the same address already exists. Exports over OTLP/HTTP to ``--endpoint``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any

import leadtrace
from leadtrace import Campaign

SLOW_COMPANY = "slow-corp.example"
"""The enrichment provider never answers in time for this company."""

CRM_CONTACTS: dict[str, str] = {}
"""The CRM's contacts by address: creating one that exists answers 409 Conflict."""

ROUTING_RULES = {"DE": ("dach-v2", "U-DE"), "AT": ("dach-v2", "U-DE"), "FR": ("emea-v1", "U-FR")}
"""Country -> (rule id, owner). The AT line is the bug: AT belongs to U-AT."""

TERRITORY_OWNERS = {"DE": "U-DE", "AT": "U-AT", "FR": "U-FR"}
"""The territory plan: who should own each country (the routing check)."""


class EnrichmentTimeoutError(TimeoutError):
    """The enrichment provider did not answer in time."""


@dataclass(frozen=True)
class Enrichment:
    """What the enrichment provider returned."""

    fields: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class Assignment:
    """The routing decision."""

    rule_id: str
    owner_id: str
    expected_owner_id: str


@dataclass(frozen=True)
class CrmResult:
    """The CRM's answer to a create."""

    status: int
    record_id: str | None


def provider_lookup(company: str) -> Enrichment:
    """The enrichment provider."""
    if company == SLOW_COMPANY:
        raise EnrichmentTimeoutError(f"provider did not answer within 2.0 s for {company}")
    return Enrichment(fields=("industry", "employees"), score=72.5)


def crm_create(email: str) -> CrmResult:
    """The CRM's create-contact call."""
    key = email.strip().lower()
    if key in CRM_CONTACTS:
        return CrmResult(status=409, record_id=None)
    CRM_CONTACTS[key] = f"C-{len(CRM_CONTACTS) + 101}"
    return CrmResult(status=201, record_id=CRM_CONTACTS[key])


@leadtrace.stage(
    "lead_enriched",
    capture=["lead_id"],
    result=lambda e: {
        "lead_id": e[0],
        "provider": "stand-in",
        "fields_added": e[1].fields,
        "lead_score": e[1].score,
    },
)
def enrich(lead_id: str, company: str) -> tuple[str, Enrichment]:
    """Enrich a lead; a provider timeout propagates (and fails the stage span)."""
    return lead_id, provider_lookup(company)


@leadtrace.stage(
    "lead_routed",
    capture=["lead_id"],
    result=lambda a: {
        "lead_id": a[0],
        "routing_rule_id": a[1].rule_id,
        "owner_id": a[1].owner_id,
        "expected_owner_id": a[1].expected_owner_id,
    },
)
def route(lead_id: str, country: str) -> tuple[str, Assignment]:
    """Assign an owner by the routing rules, recording who the territory plan expects."""
    rule_id, owner = ROUTING_RULES[country]
    return lead_id, Assignment(rule_id, owner, TERRITORY_OWNERS[country])


def _crm_fields(r: tuple[dict[str, Any], CrmResult]) -> dict[str, Any]:
    written, result = r
    return {
        **written,
        "crm_system": "stand-in-crm",
        "crm_object": "contact",
        "operation": "create",
        "record_id": result.record_id,
        "dedupe_outcome": "created" if result.status == 201 else "conflict",
    }


@leadtrace.stage("crm_updated", capture=["lead_id"], result=_crm_fields)
def write_crm(
    lead_id: str, email: str, written: dict[str, Any]
) -> tuple[dict[str, Any], CrmResult]:
    """Create the contact; a 409 is reported as a ``conflict`` dedupe outcome."""
    return written, crm_create(email)


def process(message: dict[str, Any]) -> None:
    """Continue the journey of one lead message."""
    lead = message["lead"]
    parent = leadtrace.extract(message["headers"])
    campaign = None
    if parent is not None and parent.campaign is not None:
        campaign = Campaign(
            id=parent.campaign.id,
            channel=parent.campaign.channel,
            source=lead["utm_source"],
            medium=lead["utm_medium"],
        )
    with leadtrace.journey(parent=parent, campaign=campaign):
        score: float | None = None
        try:
            _, enrichment = enrich(lead["lead_id"], lead["company"])
            score = enrichment.score
        except TimeoutError:
            pass  # carry on unenriched, as the real pipeline does; the span records the failure
        _, assignment = route(lead["lead_id"], lead["country"])
        written: dict[str, Any] = {"lead_id": lead["lead_id"], "owner_id": assignment.owner_id}
        written["routing_rule_id"] = assignment.rule_id
        if score is not None:
            written["lead_score"] = score
        _, result = write_crm(lead["lead_id"], lead["email"], written)
        if result.status == 201:
            leadtrace.emit(
                "sales_acknowledged",
                lead_id=lead["lead_id"],
                owner_id=assignment.owner_id,
                acknowledged_by=assignment.owner_id,
            )


def main() -> None:
    """Process every message on stdin, then flush telemetry and exit."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args()
    handle = leadtrace.configure(
        service_name="lead-worker", environment="e2e", endpoint=args.endpoint
    )
    for line in sys.stdin:
        process(json.loads(line))
    handle.shutdown()


if __name__ == "__main__":
    main()
