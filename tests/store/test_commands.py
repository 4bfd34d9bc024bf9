"""``leadtrace journeys`` and ``leadtrace journey ID`` over a recorded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace._cli import cli
from leadtrace.store import STORE_FILE, SQLiteSpanExporter
from leadtrace.store._commands import parse_age

SPRING = Campaign(id="spring-launch", source="google", medium="cpc", channel="paid_search")
GRANTED = ConsentState(status="granted", purposes=frozenset({"analytics"}))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with a healthy journey and one whose CRM write was a duplicate."""
    path = tmp_path_factory.mktemp("cli") / STORE_FILE
    handle = leadtrace.configure(
        service_name="lead-worker", environment="test", local=True, environ={},
        span_exporters=[SQLiteSpanExporter(path)],
    )  # fmt: skip
    with handle.activate():
        for journey_id, outcome in (("j-ok", "created"), ("j-dup", "conflict")):
            with leadtrace.journey(journey_id, campaign=SPRING, consent=GRANTED):
                leadtrace.emit("lead_created", lead_id=journey_id, dedupe_outcome="created")
                leadtrace.emit(
                    "crm_updated",
                    lead_id=journey_id,
                    crm_system="hubspot",
                    crm_object="contact",
                    operation="create",
                    dedupe_outcome=outcome,
                    record_id="C-1" if outcome == "created" else None,
                    lead_score=72.5,
                    routing_rule_id="dach-v2",
                )
    handle.force_flush()
    handle.shutdown()
    return str(path)


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    return result.output


def test_journeys_lists_each_journey_with_its_status(db: str) -> None:
    """The table shows both journeys, their campaign and stages, and the CRM layer broken."""
    output = _run("journeys", "--db", db)
    assert "2 journeys" in output
    assert "j-ok" in output
    assert "lead_created > crm_updated" in output
    assert "spring-launch" in output
    assert "healthy" in output
    assert "broken: crm" in output
    assert "CRM write rejected (conflict)" in output


def test_journeys_broken_shows_only_broken_ones(db: str) -> None:
    """--broken leaves out the healthy journey."""
    output = _run("journeys", "--db", db, "--broken")
    assert "1 journeys" in output
    assert "j-dup" in output
    assert "j-ok" not in output


def test_journeys_campaign_and_since_filter(db: str) -> None:
    """--campaign of another campaign and --since 0s list no journey."""
    assert "0 journeys" in _run("journeys", "--db", db, "--campaign", "other")
    assert "0 journeys" in _run("journeys", "--db", db, "--since", "0s")
    assert "2 journeys" in _run("journeys", "--db", db, "--since", "1h")


def test_journey_shows_the_timeline_and_the_failure(db: str) -> None:
    """`leadtrace journey ID` lists the spans in order and names the broken stage."""
    output = _run("journey", "j-dup", "--db", db)
    assert output.index("lead_created") < output.index("crm_updated")
    assert "lead-worker" in output
    assert "broken at stage crm_updated (layer crm): CRM write rejected (conflict)" in output


def test_journey_of_a_healthy_journey_says_so(db: str) -> None:
    """A healthy journey ends with 'healthy' and its stage count."""
    assert "healthy: 2 stages" in _run("journey", "j-ok", "--db", db)


def test_errors_name_the_problem_and_exit_1(db: str, tmp_path: Path) -> None:
    """An unknown journey or a missing store exits 1 with the reason."""
    result = CliRunner().invoke(cli, ["journey", "nope", "--db", db])
    assert result.exit_code == 1
    assert "no journey 'nope'" in result.output
    result = CliRunner().invoke(cli, ["journeys", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "no journey store at" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800)]
)
def test_parse_age_reads_units(text: str, seconds: float) -> None:
    """Ages take s, m, h and d."""
    assert seconds == parse_age(text)


def test_a_bad_age_is_a_usage_error(db: str) -> None:
    """--since with a bad age exits 2 and shows the expected form."""
    result = CliRunner().invoke(cli, ["journeys", "--db", db, "--since", "soon"])
    assert result.exit_code == 2
    assert "90s, 15m, 1h or 2d" in result.output
