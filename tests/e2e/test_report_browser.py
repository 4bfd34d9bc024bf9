"""The HTML health report in a real headless Chromium: every chart draws."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _stack import CHROMIUM, CHROMIUM_ARGS, ROOT, needs_chromium

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace._local import JsonLinesSpanExporter
from leadtrace.report import build_report, journey_slis, read_jsonl, render_html

ARTIFACTS = Path(os.environ.get("LEADTRACE_TEST_ARTIFACTS", ROOT / "build"))

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
def report_page(tmp_path: Path) -> Path:
    """A report of twelve journeys (two broken) written as HTML."""
    handle = leadtrace.configure(
        service_name="web", local=True, environ={},
        span_exporters=[JsonLinesSpanExporter(tmp_path)],
    )  # fmt: skip
    consent = ConsentState(status="granted", purposes={"analytics"})
    with handle.activate():
        for n in range(12):
            campaign = Campaign(id="spring", source="google", medium="cpc") if n % 6 else None
            with leadtrace.journey(campaign=campaign, consent=consent):
                leadtrace.emit("form_submitted", form_id="demo")
                leadtrace.emit("lead_routed", lead_id=f"L-{n}", routing_rule_id="r", owner_id="U")
    handle.shutdown()
    report = build_report(read_jsonl(tmp_path / "spans.jsonl"))
    page = tmp_path / "report.html"
    page.write_text(render_html(report, journey_slis(report), title="Report"), encoding="utf-8")
    return page


def test_every_chart_of_the_html_report_draws(report_page: Path) -> None:
    """Chromium lays out each SVG chart with visible bars; a screenshot is kept for CI."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(report_page.as_uri())
            charts = page.eval_on_selector_all(
                "svg",
                """svgs => svgs.map(svg => {
                    const box = svg.getBoundingClientRect();
                    const bars = [...svg.querySelectorAll('rect.bar')]
                        .filter(r => r.getBBox().width > 0 && r.getBBox().height > 0);
                    return {label: svg.getAttribute('aria-label'), width: box.width,
                            height: box.height, bars: bars.length};
                })""",
            )
            tiles = page.locator(".tile").count()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()

    assert len(charts) == 4
    for chart in charts:
        assert chart["width"] > 100, chart
        assert chart["height"] > 50, chart
        assert chart["bars"] >= 1, chart
    assert tiles == 5
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
