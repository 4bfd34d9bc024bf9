"""Queries over the journey store: journeys with stages and first broken layer, one journey's
timeline across processes, stage health per campaign and channel over a time range."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import leadtrace
from leadtrace import Campaign, ConsentState, semconv
from leadtrace.errors import ConfigError
from leadtrace.store import STORE_FILE, SQLiteSpanExporter
from leadtrace.store.queries import JourneyStore, StageHealth
from leadtrace.testing import JourneyAssertionError

SPRING = Campaign(id="spring-launch", source="google", medium="cpc", channel="paid_search")
NEWSLETTER = Campaign(id="newsletter-12", source="newsletter", medium="email", channel="email")
GRANTED = ConsentState(status="granted", purposes=frozenset({"analytics"}))


def _record_journeys(path: Path) -> None:
    """A web and a worker service (one store, two exporters) record three journeys: healthy,
    enrichment timeout (worker), wrong owner (worker)."""
    web = leadtrace.configure(
        service_name="landing-web", environment="test", local=True, environ={},
        span_exporters=[SQLiteSpanExporter(path)],
    )  # fmt: skip
    worker = leadtrace.configure(
        service_name="lead-worker", environment="test", local=True, environ={},
        span_exporters=[SQLiteSpanExporter(path)],
    )  # fmt: skip
    cases = [
        ("j-healthy", SPRING, "enriched", "U-DE"),
        ("j-timeout", SPRING, "timeout", "U-DE"),
        ("j-wrong-owner", NEWSLETTER, "enriched", "U-FR"),
    ]
    for journey_id, campaign, outcome, owner in cases:
        with web.activate(), leadtrace.journey(journey_id, campaign=campaign, consent=GRANTED):
            leadtrace.emit("form_submitted", form_id="contact")
            leadtrace.emit("lead_created", lead_id=f"L-{journey_id}", dedupe_outcome="created")
        with worker.activate(), leadtrace.journey(journey_id, campaign=campaign, consent=GRANTED):
            leadtrace.emit("lead_enriched", lead_id=f"L-{journey_id}", outcome=outcome)
            leadtrace.emit(
                "lead_routed",
                lead_id=f"L-{journey_id}",
                routing_rule_id="dach-v2",
                owner_id=owner,
                expected_owner_id="U-DE",
            )
    for handle in (web, worker):
        handle.force_flush()
        handle.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> JourneyStore:
    """A store with three journeys recorded by two services."""
    path = tmp_path_factory.mktemp("store") / STORE_FILE
    _record_journeys(path)
    return JourneyStore(path)


def test_journeys_list_stages_services_and_the_first_broken_layer(store: JourneyStore) -> None:
    """Each journey lists its stages from both services, its campaign, and where it broke."""
    by_id = {s.journey_id: s for s in store.journeys()}
    assert {"j-healthy", "j-timeout", "j-wrong-owner"} == set(by_id)
    healthy = by_id["j-healthy"]
    assert healthy.stages == ("form_submitted", "lead_created", "lead_enriched", "lead_routed")
    assert healthy.services == ("landing-web", "lead-worker")
    assert (
        healthy.campaign, healthy.channel, healthy.failure
    ) == ("spring-launch", "paid_search", None)  # fmt: skip
    timeout = by_id["j-timeout"].failure
    assert timeout is not None
    assert (
        timeout.layer, timeout.stage, timeout.problem
    ) == ("enrichment", "lead_enriched", "enrichment timeout")  # fmt: skip
    wrong = by_id["j-wrong-owner"].failure
    assert wrong is not None
    assert (wrong.layer, wrong.problem) == ("routing", "routed to the wrong owner")


def test_journeys_filter_by_broken_campaign_and_limit(store: JourneyStore) -> None:
    """broken=True keeps broken journeys, campaign= one campaign's, limit= the newest few."""
    assert {"j-timeout", "j-wrong-owner"} == {s.journey_id for s in store.journeys(broken=True)}
    assert [s.journey_id for s in store.journeys(broken=False)] == ["j-healthy"]
    assert {"j-healthy", "j-timeout"} == {
        s.journey_id for s in store.journeys(campaign="spring-launch")
    }
    assert [s.journey_id for s in store.journeys(limit=1)] == ["j-wrong-owner"]


def test_journeys_since_excludes_older_journeys(store: JourneyStore) -> None:
    """since_ns after the last journey started returns none; before the first returns all."""
    summaries = store.journeys()
    latest = max(s.started_ns for s in summaries)
    earliest = min(s.started_ns for s in summaries)
    assert store.journeys(since_ns=latest + 1) == []
    assert len(store.journeys(since_ns=earliest)) == 3


def test_a_timeline_spans_both_processes_in_start_order(store: JourneyStore) -> None:
    """One journey's timeline has the web spans then the worker spans, in start order."""
    timeline = [r for r in store.timeline("j-timeout") if r.stage]  # the journeys' stages
    assert [(r.service_name, r.name) for r in timeline] == [
        ("landing-web", "form_submitted"),
        ("landing-web", "lead_created"),
        ("lead-worker", "lead_enriched"),
        ("lead-worker", "lead_routed"),
    ]
    assert sorted(r.start_ns for r in timeline) == [r.start_ns for r in timeline]


def test_a_stored_journey_takes_the_journey_assertions(store: JourneyStore) -> None:
    """store.journey(id) supports assert_healthy / assert_failure like a test capture."""
    store.journey("j-healthy").assert_healthy()
    store.journey("j-timeout").assert_failure("enrichment", stage="lead_enriched")
    with pytest.raises(JourneyAssertionError, match="lead_enriched"):
        store.journey("j-timeout").assert_healthy()


def test_an_unknown_journey_is_a_clear_error(store: JourneyStore) -> None:
    """timeline() of an id not in the store raises ConfigError naming it."""
    with pytest.raises(ConfigError, match="no journey 'nope'"):
        store.timeline("nope")


def test_stage_health_counts_good_and_total_per_campaign_and_channel(store: JourneyStore) -> None:
    """Stage health counts each stage per campaign and channel with the assertions' verdict."""
    health = {(h.stage, h.campaign): h for h in store.stage_health()}
    assert (
        StageHealth("lead_enriched", "spring-launch", "paid_search", 1, 2)
        == (health[("lead_enriched", "spring-launch")])
    )
    assert (
        StageHealth("lead_routed", "newsletter-12", "email", 0, 1)
        == (health[("lead_routed", "newsletter-12")])
    )
    assert health[("lead_enriched", "spring-launch")].ratio == 0.5


def test_stage_health_respects_the_time_range(store: JourneyStore) -> None:
    """A range ending before the first span counts nothing."""
    first = store.records()[0].start_ns
    assert store.stage_health(until_ns=first) == []
    assert store.stage_health(since_ns=first)


def test_a_missing_store_names_the_path_and_the_fix(tmp_path: Path) -> None:
    """Opening a store that does not exist says where it looked and how to make one."""
    with pytest.raises(ConfigError, match=r"no journey store at .*--db"):
        JourneyStore(tmp_path / STORE_FILE)


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    """A SQLite file without the store's schema raises ConfigError."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ConfigError, match="not a leadtrace journey store"):
        JourneyStore(path)


def test_records_carry_the_attributes_as_written(store: JourneyStore) -> None:
    """Records read back carry every attribute, arrays as tuples, as the exporter saw them."""
    record = next(r for r in store.timeline("j-healthy") if r.name == "form_submitted")
    assert record.attributes[semconv.JOURNEY_ID] == "j-healthy"
    assert record.attributes[semconv.FORM_ID] == "contact"
    assert isinstance(record.attributes.get(semconv.QUALITY_MISSING, ()), tuple)
