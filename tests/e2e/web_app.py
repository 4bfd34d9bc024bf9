"""The web process of the two-process journey test: a landing page that takes form posts.

Reads one form post per line of JSON on stdin (query string parameters, form fields, a
client reference), runs it through what a landing page does (campaign capture, consent,
lead creation) inside a journey, and hands each lead to the worker as a message with
journey headers (``leadtrace.inject``) on stdout. The response to each post (reference and
journey id) goes to the ``--responses`` file. Exports over OTLP/HTTP to ``--endpoint``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace.testing import is_synthetic_email

_PAID = {"cpc", "ppc", "paid"}


def campaign_from(query: dict[str, str]) -> Campaign | None:
    """The campaign a landing-page URL carries, or None without any UTM parameter."""
    if not any(k.startswith("utm_") for k in query):
        return None
    medium = query.get("utm_medium")
    return Campaign(
        id=query.get("utm_id"),
        source=query.get("utm_source"),
        medium=medium,
        name=query.get("utm_campaign"),
        channel="paid_search" if medium in _PAID else "other",
    )


def handle_form_post(post: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Process one form post; return the journey id and the message for the worker."""
    query: dict[str, str] = post.get("query", {})
    form: dict[str, str] = post["form"]
    email = form["email"]
    consent = (
        ConsentState(
            status="granted",
            purposes=frozenset({"analytics", "marketing", "sales_contact"}),
            basis="consent",
            source="form",
        )
        if form.get("consent") == "yes"
        else None
    )
    campaign = campaign_from(query)
    with leadtrace.journey(
        campaign=campaign,
        identity=leadtrace.identity(email=email),
        synthetic=is_synthetic_email(email),
    ) as journey:
        leadtrace.emit("session_started", landing_path="/demo")
        if campaign is not None:
            leadtrace.emit("campaign_attributed", attribution_model="last_touch")
        if consent is not None:
            leadtrace.annotate(consent=consent)  # the checkbox arrives with the form
        leadtrace.emit(
            "form_submitted",
            form_id="demo-request",
            form_version="3",
            field_names=sorted(form),
        )
        if consent is not None:
            leadtrace.emit("consent_captured", consent=consent)
        lead_id = f"L-{journey.journey_id[:8]}"
        leadtrace.emit("lead_created", lead_id=lead_id, dedupe_outcome="created")
        headers: dict[str, str] = {}
        leadtrace.inject(headers)
    message = {
        "headers": headers,
        "lead": {
            "lead_id": lead_id,
            "email": email,
            "company": form.get("company", ""),
            "country": form.get("country", ""),
            "utm_source": query.get("utm_source"),
            "utm_medium": query.get("utm_medium"),
            "utm_id": query.get("utm_id"),
        },
    }
    return journey.journey_id, message


def main() -> None:
    """Serve the form posts on stdin, then flush telemetry and exit."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--responses", required=True)
    args = parser.parse_args()
    handle = leadtrace.configure(
        service_name="landing-web", environment="e2e", endpoint=args.endpoint
    )
    with open(args.responses, "w", encoding="utf-8") as responses:
        for line in sys.stdin:
            post = json.loads(line)
            journey_id, message = handle_form_post(post)
            print(json.dumps(message), flush=True)
            responses.write(json.dumps({"ref": post["ref"], "journey_id": journey_id}) + "\n")
    handle.shutdown()


if __name__ == "__main__":
    main()
