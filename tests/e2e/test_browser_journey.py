"""A visitor in headless Chromium: campaign click to CRM record, one journey, two services."""

from __future__ import annotations

from pathlib import Path

import pytest
from _stack import CHROMIUM, CHROMIUM_ARGS, demo_module, needs_chromium

from leadtrace import semconv
from leadtrace.store.queries import JourneyStore
from leadtrace.testing import SpanRecord

pytestmark = [pytest.mark.slow, needs_chromium]


def _browse(landing: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{landing}/?utm_source=google&utm_medium=cpc&utm_campaign=spring-launch"
                      "&gclid=Cj0KCQ-browser-test")  # fmt: skip
            page.click("#consent-banner button[value=accept]")
            page.goto(f"{landing}/privacy")  # a second page, then back to the form untagged
            page.goto(f"{landing}/")
            page.fill("input[name=email]", "ada.lovelace@example.com")
            page.fill("input[name=name]", "Ada Lovelace")
            page.fill("input[name=company]", "analytical-engines.example")
            page.select_option("select[name=country]", "GB")
            page.click("#demo-request button[type=submit]")
            page.wait_for_selector("#thanks")
        finally:
            browser.close()


def test_a_browser_journey_reaches_the_crm_under_one_journey(tmp_path: Path) -> None:
    """Tagged click, Accept, a second page, submit: first touch kept, consent before the
    submission, lead created, routed and written to the CRM stand-in, one journey id.

    Under opt-in consent the first-touch cookie exists only from the Accept on, so page views
    before it cannot be linked to the journey: the banner is answered on the landing page."""
    demo = demo_module()
    store = tmp_path / "store"
    crm = demo.hubspot_standin.serve()
    try:
        with demo.services(store, f"http://127.0.0.1:{crm.server_port}") as landing:
            _browse(landing)
    finally:
        crm.stop()

    records = JourneyStore(store / "journeys.db").records()
    (submitted,) = [r for r in records if r.stage == "form_submitted"]
    journey = [r for r in records if r.stage and r.journey_id == submitted.journey_id]
    by_stage: dict[str, SpanRecord] = {r.stage or "": r for r in journey}
    for stage in ("consent_captured", "form_submitted", "lead_created", "lead_routed",
                  "crm_updated"):  # fmt: skip
        assert stage in by_stage, sorted(by_stage)
    submitted = by_stage["form_submitted"]
    assert submitted.attributes[semconv.CAMPAIGN_ID] == "spring-launch"
    assert submitted.attributes[semconv.CAMPAIGN_CLICK_ID_TYPE] == "gclid"
    assert by_stage["consent_captured"].start_ns <= submitted.start_ns
    assert submitted.attributes[semconv.CONSENT_STATUS] == "granted"
    crm_write = by_stage["crm_updated"]
    assert crm_write.service_name == "lead-worker"
    assert crm_write.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    assert crm_write.attributes[semconv.CRM_RECORD_ID]
    assert crm_write.attributes[semconv.CAMPAIGN_ID] == "spring-launch"
    raw = b"".join(path.read_bytes() for path in store.iterdir() if path.is_file())
    assert b"ada.lovelace@example.com" not in raw
