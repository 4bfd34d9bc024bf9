"""Emit one full campaign-to-sales journey and show where its spans went (``make demo``).

Runs with no collector: spans go to the local store (``.leadtrace/spans.jsonl``). Set
``OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`` to send them to a collector instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import leadtrace
from leadtrace import Campaign, ConsentState, semconv
from leadtrace.consent import verify_audit_log

LOCAL_DIR = Path(os.environ.get("LEADTRACE_LOCAL_DIR", ".leadtrace"))


@leadtrace.stage(
    "lead_routed",
    capture=["lead_id"],
    result=lambda owner: {
        "routing_rule_id": "emea-smb",
        "routing_rule_version": "7",
        "owner_id": owner,
        "territory": "EMEA",
    },
)
def route(lead_id: str) -> str:
    """Pretend routing engine: every EMEA lead goes to U-7."""
    return "U-7"


def run_journey() -> str:
    """One prospect from ad click to sales acknowledgement; returns the journey id."""
    campaign = Campaign(
        id="spring-launch",
        source="google",
        medium="cpc",
        name="spring",
        channel="paid_search",
        click_id_type="gclid",
        touch="first",
    )
    consent = ConsentState(
        status="granted",
        purposes=frozenset({"analytics", "marketing", "sales_contact"}),
        basis="consent",
        source="banner",
    )
    who = leadtrace.identity(email="Jane.Doe@Example.com", anonymous_id="anon-42")
    with leadtrace.journey(campaign=campaign, consent=consent, identity=who) as journey:
        leadtrace.emit("session_started", landing_path="/pricing", referrer_host="www.google.com")
        leadtrace.emit("campaign_attributed", attribution_model="first_touch", rule_version="3")
        leadtrace.emit("form_viewed", form_id="demo-request", form_version="4")
        leadtrace.emit("consent_captured", consent=consent)
        leadtrace.emit(
            "form_submitted",
            form_id="demo-request",
            form_version="4",
            field_names=["email", "company", "country"],
        )
        leadtrace.emit(
            "lead_created", lead_id="L-1001", dedupe_outcome="created", identity_match="new"
        )
        leadtrace.emit(
            "lead_enriched",
            lead_id="L-1001",
            provider="firmographics",
            fields_added=["industry", "employees"],
            lead_score=82.0,
        )
        route("L-1001")
        leadtrace.emit(
            "crm_updated",
            crm_system="hubspot",
            crm_object="contact",
            operation="create",
            record_id="501",
            lead_id="L-1001",
            dedupe_outcome="created",
            lead_score=82.0,
            routing_rule_id="emea-smb",
            owner_id="U-7",
        )
        leadtrace.emit(
            "sales_acknowledged", lead_id="L-1001", owner_id="U-7", acknowledged_by="U-7"
        )
        return journey.journey_id


def main() -> int:
    """Configure, run the journey, flush, and print a summary of the exported spans."""
    handle = leadtrace.configure(service_name="quickstart", environment="demo")
    journey_id = run_journey()
    handle.force_flush()
    handle.shutdown()  # also drains the consent audit log's writer
    if handle.settings.endpoint:
        print(f"journey {journey_id}: spans sent over OTLP to {handle.settings.endpoint}")
        return 0
    path = LOCAL_DIR / "spans.jsonl"
    spans = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    mine = [s for s in spans if s["attributes"].get(semconv.JOURNEY_ID) == journey_id]
    print(f"journey {journey_id}: {len(mine)} spans written to {path}\n")
    print(f"{'stage':<22}{'layer':<12}{'complete':<10}missing")
    for span in mine:
        attrs = span["attributes"]
        missing = ", ".join(attrs.get(semconv.QUALITY_MISSING, [])) or "-"
        complete = attrs.get(semconv.QUALITY_COMPLETE, "-")
        print(
            f"{span['name']:<22}{attrs.get(semconv.EVENT_LAYER, '-'):<12}{complete!s:<10}{missing}"
        )
    audit = LOCAL_DIR / "consent-audit.jsonl"
    if audit.exists():
        report = verify_audit_log(audit)
        state = "intact" if report.ok else f"BROKEN at line {report.first_bad_line}"
        print(
            f"\nconsent audit log {audit}: {report.records} record"
            f"{'' if report.records == 1 else 's'}, hash chain {state}"
        )
    raw = path.read_text(encoding="utf-8")
    leaked = "jane.doe@example.com" in raw.lower()
    print(f"raw e-mail in the exported file: {'YES (bug!)' if leaked else 'no'}")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
