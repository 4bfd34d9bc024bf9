"""The health report: journeys, where they broke, funnel, latency, consent, SLI status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace._cli import cli
from leadtrace._local import JsonLinesSpanExporter
from leadtrace.report import (
    Ratio,
    build_report,
    journey_slis,
    read_jsonl,
    render_html,
    status_of,
)
from leadtrace.store import SQLiteSpanExporter

SPRING = Campaign(id="spring", source="google", medium="cpc")
GRANTED = ConsentState(status="granted", purposes={"analytics"})


def _healthy(lead: str) -> None:
    with leadtrace.journey(campaign=SPRING, consent=GRANTED):
        leadtrace.emit("form_submitted", form_id="demo")
        leadtrace.emit("lead_routed", lead_id=lead, routing_rule_id="emea", owner_id="U-7")


def _wrong_owner(lead: str) -> None:
    with leadtrace.journey(campaign=SPRING, consent=GRANTED):
        leadtrace.emit("form_submitted", form_id="demo")
        leadtrace.emit(
            "lead_routed", lead_id=lead, routing_rule_id="dach", owner_id="U-DE",
            expected_owner_id="U-AT",
        )  # fmt: skip


def _no_campaign(lead: str) -> None:
    with leadtrace.journey(consent=GRANTED):
        leadtrace.emit("form_submitted", form_id="demo")


@pytest.fixture
def spans(tmp_path: Path) -> Path:
    """Six journeys written to the local JSON-lines store: 3 healthy, 2 misrouted, 1 untagged."""
    handle = leadtrace.configure(
        service_name="web", local=True, environ={},
        span_exporters=[JsonLinesSpanExporter(tmp_path)],
    )  # fmt: skip
    with handle.activate():
        for n in range(3):
            _healthy(f"L-{n}")
        _wrong_owner("L-10")
        _wrong_owner("L-11")
        _no_campaign("L-20")
    handle.shutdown()
    return tmp_path / "spans.jsonl"


def test_breakages_group_journeys_by_layer_stage_and_problem(spans: Path) -> None:
    """Each broken journey is counted once, at its first broken stage, most common first."""
    report = build_report(read_jsonl(spans))

    assert (len(report.journeys), report.broken) == (6, 3)
    assert [(b.layer, b.stage, b.problem, b.journeys) for b in report.breakages] == [
        ("routing", "lead_routed", "routed to the wrong owner", 2),
        ("capture", "form_submitted", "required fields missing", 1),
    ]
    assert "campaign.source=<missing>" in report.breakages[1].detail
    assert dict(report.layers)["routing"] == 2


def test_funnel_and_consent_count_journeys_per_stage(spans: Path) -> None:
    """Five of six journeys were routed; consent was valid at every submission."""
    report = build_report(read_jsonl(spans))

    funnel = dict(report.funnel)
    assert (funnel["form_submitted"], funnel["lead_routed"], funnel["crm_updated"]) == (6, 5, 0)
    assert dict(report.consent)["submission"] == Ratio(6, 6)
    assert len(report.routing_latency_s) == 5
    assert report.routing_within_slo == Ratio(5, 5)


@pytest.mark.parametrize(
    ("good", "total", "status"),
    [(999, 1000, "Healthy"), (990, 1000, "Healthy"), (985, 1000, "Degraded"),
     (940, 1000, "Broken"), (0, 0, "No data")],
)  # fmt: skip
def test_status_follows_the_burn_rate(good: int, total: int, status: str) -> None:
    """At 99 %: within budget Healthy, over it Degraded, at a paging burn (6x) Broken."""
    assert status_of(Ratio(good, total), 0.99) == status


def test_html_report_is_one_offline_page_with_charts(spans: Path) -> None:
    """The page has no external resource or script, and draws every chart with bars."""
    report = build_report(read_jsonl(spans))
    page = render_html(report, journey_slis(report), title="Signal <health>")

    assert "<script" not in page
    assert not re.search(r'(src|href)="https?:', page)
    assert "Signal &lt;health&gt;" in page
    for section in ("slis", "funnel", "broken", "routing", "consent"):
        assert f'<section id="{section}">' in page
    assert page.count("<svg") == 4
    assert 'data-status="Broken"' in page  # 3 of 6 journeys broken: 10x the 5 % budget


def test_cli_prints_the_report_and_writes_the_html(spans: Path, tmp_path: Path) -> None:
    """`leadtrace report --spans F --html H` prints the tables and writes the page."""
    out = tmp_path / "report.html"
    result = CliRunner(env={"COLUMNS": "160"}).invoke(
        cli, ["report", "--spans", str(spans), "--html", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert "6 journeys, 3 broken" in result.output
    assert "routed to the wrong owner" in result.output
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_cli_names_the_fix_when_there_is_no_store(tmp_path: Path) -> None:
    """No local store yet: exit 1 with what to do."""
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "journeys.db")])

    assert result.exit_code == 1
    assert "no journey store at" in result.output
    assert "with no OTLP endpoint set" in result.output


def test_cli_reads_the_journey_store_by_default(tmp_path: Path) -> None:
    """`leadtrace report` reads <local dir>/journeys.db, the store configure() writes."""
    handle = leadtrace.configure(
        service_name="web", local=True, environ={},
        span_exporters=[SQLiteSpanExporter(tmp_path / "journeys.db")],
    )  # fmt: skip
    with handle.activate():
        _healthy("L-1")
        _wrong_owner("L-2")
    handle.shutdown()

    result = CliRunner(env={"COLUMNS": "160", "LEADTRACE_LOCAL_DIR": str(tmp_path)}).invoke(
        cli, ["report"]
    )
    assert result.exit_code == 0, result.output
    assert "2 journeys, 1 broken" in result.output


def test_cli_rejects_a_bad_since(spans: Path) -> None:
    """--since takes a number and a unit."""
    result = CliRunner().invoke(cli, ["report", "--spans", str(spans), "--since", "soon"])

    assert result.exit_code == 2
    assert "is not an age such as 90s, 15m, 1h or 2d" in result.output


def test_a_torn_last_line_is_skipped(spans: Path) -> None:
    """A crashed writer's half line does not stop the report."""
    with spans.open("a", encoding="utf-8") as fh:
        fh.write('{"name": "lead_ro')
    assert len(build_report(read_jsonl(spans)).journeys) == 6


def test_cli_splits_the_slis_by_campaign(spans: Path) -> None:
    """--by campaign shows every SLI of the SLI file per campaign id, journeys without one
    under (none)."""
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["report", "--spans", str(spans), "--by", "campaign"]
    )

    assert result.exit_code == 0, result.output
    assert "SLIs by campaign" in result.output
    table = result.output.split("SLIs by campaign", 1)[1]
    assert "spring" in table
    assert "(none)" in table
    attribution = next(line for line in table.splitlines() if "attribution_completeness" in line)
    assert "100.0%" in attribution  # spring: every submission carried its campaign
    assert "0.0%" in attribution  # (none): the untagged journey


def test_a_raising_stage_counts_as_not_good_in_the_report(tmp_path: Path) -> None:
    """A lead_routed @stage that raised within a second of the journey's start is a bad
    routing event, not a fast one, and the every-event schema SLI leaves it out."""
    from leadtrace.report._slis import file_slis
    from leadtrace.slo.spec import load_slis

    @leadtrace.stage("lead_routed", capture=["lead_id"])
    def route(lead_id: str) -> None:
        raise TimeoutError("routing service did not answer")

    handle = leadtrace.configure(
        service_name="web", local=True, environ={},
        span_exporters=[JsonLinesSpanExporter(tmp_path)],
    )  # fmt: skip
    with handle.activate():
        _healthy("L-1")
        with leadtrace.journey(campaign=SPRING, consent=GRANTED), pytest.raises(TimeoutError):
            route("L-2")
    handle.shutdown()

    statuses = {
        s.name: s.ratio for s in file_slis(read_jsonl(tmp_path / "spans.jsonl"), load_slis())
    }
    assert (statuses["lead_routing_latency"].good, statuses["lead_routing_latency"].total) == (1, 2)
    assert statuses["schema_validation_pass_rate"].total == 2  # the healthy journey's two events
