"""The lead pipeline worker of the demo: dedupe, enrichment, routing, CRM write, sales hand-off.

A FastAPI service the landing page hands each demo request to (``POST /leads`` with the
``leadtrace-journey`` header), so the journey continues in a second process. Each step is a
leadtrace stage; the CRM write goes through the real ``hubspot-api-client``, instrumented by
``leadtrace.integrations.hubspot``, to the HubSpot stand-in (``hubspot_standin.py``, not
HubSpot). The instrumentor's span carries what HubSpot answered (status, dedupe outcome,
existing record id, rate-limit headers); the worker's own ``crm_updated`` stage carries the
fields it wrote (score, routing rule, owner), so the instrumentor's event is turned off.
The stand-ins behave like the real services do on a bad day, which is what the demo's
faults rely on:

- the enrichment provider does not answer in time for ``slow-corp.example``;
- routing rules version ``2026-12-02`` send Austria (``AT``) to the DACH owner ``U-DE``,
  while the territory plan says ``U-AT`` (a rule edit that drifted);
- the CRM answers 409 for a contact another system created first, and 503 while
  ``flaky-crm.example`` is being written.

Run: ``python examples/pipeline/worker.py --port 8081 --crm http://127.0.0.1:8090``.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

import leadtrace
from leadtrace.integrations.asgi import instrument_fastapi
from leadtrace.integrations.hubspot import HubSpotInstrumentor
from leadtrace.store import SQLiteSpanExporter

SLOW_COMPANIES = frozenset({"slow-corp.example"})
"""The enrichment provider does not answer in time for these companies."""
ENRICHMENT_BUDGET_S = 0.05
"""How long the worker waits for the provider before it carries on unenriched."""

RULES_VERSION = "2026-12-02"
ROUTING_RULES = {
    "DE": ("dach", "U-DE"),
    "AT": ("dach", "U-DE"),  # the drift: Austria moved to the DACH rule, its owner did not
    "CH": ("dach", "U-DE"),
    "FR": ("emea-west", "U-FR"),
    "GB": ("uk-ie", "U-GB"),
    "US": ("na", "U-US"),
}
"""Country -> (routing rule id, owner) in rules version ``RULES_VERSION``."""
TERRITORY_OWNERS = {"DE": "U-DE", "AT": "U-AT", "CH": "U-DE", "FR": "U-FR", "GB": "U-GB"}
"""The sales territory plan: who should own each country (checked on every routing)."""

_EXISTING = re.compile(r"Existing ID: (\d+)")


class Lead(BaseModel):
    """What the landing page hands over: the form's contents (never exported as values)."""

    lead_id: str
    email: str
    company: str = ""
    country: str = "US"


@dataclass(frozen=True)
class Assignment:
    """A routing decision and what the territory plan expected."""

    rule_id: str
    owner_id: str
    expected_owner_id: str


@dataclass(frozen=True)
class CrmWrite:
    """The CRM's answer: the record id and whether it was created or already existed."""

    record_id: str | None
    outcome: str


class CrmUnavailableError(RuntimeError):
    """The CRM kept answering 5xx through every retry."""


def enrich(lead: Lead) -> dict[str, Any]:
    """Ask the enrichment provider; past the budget the lead carries on unenriched."""
    if lead.company in SLOW_COMPANIES:
        time.sleep(ENRICHMENT_BUDGET_S)
        leadtrace.emit(
            "lead_enriched", lead_id=lead.lead_id, provider="firmographics", outcome="timeout"
        )
        return {}
    leadtrace.emit(
        "lead_enriched",
        lead_id=lead.lead_id,
        provider="firmographics",
        outcome="enriched",
        fields_added=["industry", "employees"],
        lead_score=72.5,
    )
    return {"lead_score": 72.5}


@leadtrace.stage(
    "lead_routed",
    capture=["lead_id"],
    result=lambda a: {
        "routing_rule_id": a.rule_id,
        "routing_rule_version": RULES_VERSION,
        "owner_id": a.owner_id,
        "expected_owner_id": a.expected_owner_id,
    },
)
def route(lead_id: str, country: str) -> Assignment:
    """Assign an owner by the routing rules, recording whom the territory plan expects."""
    rule_id, owner = ROUTING_RULES.get(country, ("na", "U-US"))
    return Assignment(rule_id, owner, TERRITORY_OWNERS.get(country, owner))


def make_crm(url: str) -> Any:
    """A real HubSpot client pointed at ``url`` (the stand-in), retrying 5xx twice."""
    import hubspot
    from urllib3.util.retry import Retry

    retry = Retry(total=2, backoff_factor=0, status_forcelist=(500, 502, 503, 504))
    token = "demo-token"  # noqa: S105 - the stand-in accepts any token
    return hubspot.Client.create(access_token=token, host=url, retry=retry)


def write_crm(crm: Any, lead: Lead, fields: dict[str, Any]) -> CrmWrite:
    """Create the contact; a 409 from the CRM is the ``conflict`` dedupe outcome."""
    from hubspot.crm.contacts import ApiException, SimplePublicObjectInputForCreate

    body = SimplePublicObjectInputForCreate(
        properties={"email": lead.email, "company": lead.company, "country": lead.country}
    )
    try:
        created = crm.crm.contacts.basic_api.create(simple_public_object_input_for_create=body)
    except ApiException as exc:
        if exc.status == 409:
            existing = _EXISTING.search(str(exc.body or ""))
            return CrmWrite(existing.group(1) if existing else None, "conflict")
        raise CrmUnavailableError(f"CRM answered {exc.status}") from exc
    except Exception as exc:  # urllib3 gave up retrying: MaxRetryError and friends
        raise CrmUnavailableError(type(exc).__name__) from exc
    return CrmWrite(created.id, "created")


@leadtrace.stage(
    "crm_updated",
    capture=["lead_id"],
    result=lambda w: {
        "crm_system": "hubspot",
        "crm_object": "contact",
        "operation": "create",
        "record_id": w[0].record_id,
        "dedupe_outcome": w[0].outcome,
        **w[1],
    },
    reason=lambda exc: "server_error",
)
def record_in_crm(
    lead_id: str, crm: Any, lead: Lead, fields: dict[str, Any]
) -> tuple[CrmWrite, dict[str, Any]]:
    """The CRM write as a journey stage (the fields it wrote travel on the span)."""
    return write_crm(crm, lead, fields), fields


def written_score(written: dict[str, Any]) -> dict[str, Any]:
    """The lead score, when enrichment gave one."""
    return {"lead_score": written["lead_score"]} if "lead_score" in written else {}


def process(crm: Any, lead: Lead) -> dict[str, Any]:
    """Run one lead through the pipeline inside its journey; return what happened."""
    leadtrace.annotate(identity=leadtrace.identity(email=lead.email))
    leadtrace.emit(
        "lead_created", lead_id=lead.lead_id, dedupe_outcome="created", identity_match="new"
    )
    written: dict[str, Any] = enrich(lead)
    assignment = route(lead.lead_id, lead.country)
    written.update(routing_rule_id=assignment.rule_id, owner_id=assignment.owner_id)
    try:
        write, _ = record_in_crm(lead.lead_id, crm, lead, written)
    except CrmUnavailableError:
        return {"lead_id": lead.lead_id, "crm": "unavailable"}
    if write.outcome == "created" and assignment.owner_id == assignment.expected_owner_id:
        leadtrace.emit(
            "sales_acknowledged",
            lead_id=lead.lead_id,
            owner_id=assignment.owner_id,
            acknowledged_by=assignment.owner_id,
        )
        leadtrace.emit(
            "lead_qualified", lead_id=lead.lead_id, qualification="sql", **written_score(written)
        )
    return {"lead_id": lead.lead_id, "crm": write.outcome, "owner_id": assignment.owner_id}


def create_app(crm_url: str) -> FastAPI:
    """The worker service, instrumented with the active leadtrace configuration."""
    app = FastAPI(title="Acme lead pipeline worker")
    crm = make_crm(crm_url)

    @app.post("/leads")
    def leads(lead: Lead) -> dict[str, Any]:
        return process(crm, lead)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    instrument_fastapi(app)
    return app


def main() -> None:
    """Configure leadtrace and serve the worker with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--crm", default=os.environ.get("DEMO_CRM_URL", "http://127.0.0.1:8090"))
    args = parser.parse_args()
    store = os.environ.get("DEMO_STORE")  # leadtrace demo's journey store, beside any collector
    leadtrace.configure(
        service_name="lead-worker", span_exporters=[SQLiteSpanExporter(store)] if store else None
    )
    HubSpotInstrumentor().instrument(emit_events=False)
    print(leadtrace.describe(), flush=True)
    uvicorn.run(create_app(args.crm), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
