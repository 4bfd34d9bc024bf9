"""Journey assertions on the in-memory capture: passing journeys pass, broken ones say where."""

from __future__ import annotations

import pytest

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace.errors import ConfigError
from leadtrace.testing import (
    JOURNEY_START,
    Capture,
    Journey,
    JourneyAssertionError,
    synthetic_identity,
)

CAMPAIGN = Campaign(id="spring", source="google", medium="cpc", channel="paid_search")
CONSENT = ConsentState(
    status="granted", purposes=frozenset({"analytics", "sales_contact"}), source="form"
)
HAPPY = ["form_submitted", "lead_created", "lead_enriched", "lead_routed", "crm_updated"]


def _happy_journey(capture: Capture, *, owner: str = "U-7", score: float | None = 80.0) -> str:
    person = synthetic_identity()
    with person.journey(campaign=CAMPAIGN, consent=CONSENT) as journey:
        leadtrace.emit("form_submitted", form_id="demo", field_names=["email"])
        leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
        leadtrace.emit("lead_enriched", lead_id="L-1", outcome="enriched", lead_score=score)
        capture.clock.advance(30)
        leadtrace.emit(
            "lead_routed",
            lead_id="L-1",
            routing_rule_id="r1",
            owner_id=owner,
            expected_owner_id="U-7",
        )
        leadtrace.emit(
            "crm_updated",
            crm_system="hubspot",
            crm_object="contact",
            operation="create",
            record_id="501",
            lead_id="L-1",
            lead_score=score,
            routing_rule_id="r1",
            dedupe_outcome="created",
        )
    return journey.journey_id


def _journey(capture: Capture, *, owner: str = "U-7", score: float | None = 80.0) -> Journey:
    return capture.journey(_happy_journey(capture, owner=owner, score=score))


def test_healthy_journey_passes_every_assertion(leadtrace_capture: Capture) -> None:
    """A complete journey passes stages, timing, fields, consent, attribution, dedupe, health."""
    journey = _journey(leadtrace_capture)
    result = (
        journey.assert_stages(HAPPY)
        .assert_within("form_submitted", "lead_routed", 300)
        .assert_within(JOURNEY_START, "crm_updated", 300)
        .assert_fields("crm_updated")
        .assert_consent("lead_routed", "granted")
        .assert_attribution(campaign_id="spring", source="google", medium="cpc")
        .assert_dedupe("created")
        .assert_healthy()
    )
    assert result is journey


def test_missing_stage_names_the_stage_and_its_layer(leadtrace_capture: Capture) -> None:
    """assert_stages names the first missing stage, its registry layer and what arrived."""
    journey = _journey(leadtrace_capture)
    with pytest.raises(JourneyAssertionError) as raised:
        journey.assert_stages([*HAPPY, "sales_acknowledged"])
    assert (raised.value.stage, raised.value.layer) == ("sales_acknowledged", "sales")
    assert "stage never arrived" in str(raised.value)
    assert "5 stages: form_submitted, lead_created" in raised.value.arrived


def test_out_of_order_stage_fails_only_when_order_is_asked(leadtrace_capture: Capture) -> None:
    """Stages listed out of order fail with in_order=True and pass with in_order=False."""
    journey = _journey(leadtrace_capture)
    journey.assert_stages(["lead_routed", "form_submitted"], in_order=False)
    with pytest.raises(JourneyAssertionError, match="stage out of order"):
        journey.assert_stages(["lead_routed", "form_submitted"])


def test_missing_stage_after_a_failure_blames_the_failure(leadtrace_capture: Capture) -> None:
    """When an earlier stage failed, assert_stages reports that stage as the broken one."""

    @leadtrace.stage("lead_enriched")
    def enrich() -> None:
        raise TimeoutError("provider took too long")

    with synthetic_identity().journey(campaign=CAMPAIGN, consent=CONSENT) as j:
        leadtrace.emit("form_submitted", form_id="demo")
        with pytest.raises(TimeoutError):
            enrich()
    with pytest.raises(JourneyAssertionError) as raised:
        leadtrace_capture.journey(j).assert_stages(
            ["form_submitted", "lead_enriched", "lead_routed"]
        )
    error = raised.value
    assert (error.stage, error.layer) == ("lead_enriched", "enrichment")
    assert "stage failed, so 'lead_routed' never arrived" in str(error)
    assert "exception TimeoutError: provider took too long" in error.arrived


def test_too_slow_routing_fails_assert_within(leadtrace_capture: Capture) -> None:
    """A stage later than the window fails and says how late it was."""
    with synthetic_identity().journey(campaign=CAMPAIGN, consent=CONSENT) as j:
        leadtrace.emit("form_submitted", form_id="demo")
        leadtrace_capture.clock.advance(412)
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="r1", owner_id="U-7")
    with pytest.raises(JourneyAssertionError) as raised:
        leadtrace_capture.journey(j).assert_within("form_submitted", "lead_routed", 300)
    assert raised.value.expected == "'lead_routed' within 300 s of 'form_submitted'"
    assert raised.value.arrived == "'lead_routed' 412.000 s after 'form_submitted'"
    assert raised.value.layer == "routing"


def test_stage_before_its_reference_fails_assert_within(leadtrace_capture: Capture) -> None:
    """Routing that happened before the submission is reported as out of order."""
    with synthetic_identity().journey(campaign=CAMPAIGN, consent=CONSENT) as j:
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="r1", owner_id="U-7")
        leadtrace_capture.clock.advance(5)
        leadtrace.emit("form_submitted", form_id="demo")
    with pytest.raises(JourneyAssertionError) as raised:
        leadtrace_capture.journey(j).assert_within("form_submitted", "lead_routed", 300)
    assert raised.value.arrived == "'lead_routed' 5.000 s before 'form_submitted'"


def test_assert_fields_uses_the_contract_and_shows_each_value(leadtrace_capture: Capture) -> None:
    """Without required=, the stage's contract is checked; the message shows present and missing."""
    journey = _journey(leadtrace_capture, score=None)
    with pytest.raises(JourneyAssertionError) as raised:
        journey.assert_fields("crm_updated")
    assert "lead.score=<missing>" in raised.value.arrived
    assert "campaign.id='spring'" in raised.value.arrived
    assert raised.value.layer == "crm"


def test_assert_fields_accepts_explicit_names(leadtrace_capture: Capture) -> None:
    """Explicit short or full names are checked instead of the contract."""
    journey = _journey(leadtrace_capture)
    journey.assert_fields("lead_routed", required=["routing.owner_id", "martech.lead.id"])
    with pytest.raises(JourneyAssertionError, match=r"routing\.territory=<missing>"):
        journey.assert_fields("lead_routed", required=["routing.territory"])


def test_assert_fields_without_a_contract_is_a_setup_error(leadtrace_capture: Capture) -> None:
    """A stage with no contract needs required= and says so."""
    journey = _journey(leadtrace_capture)
    with pytest.raises(ConfigError, match="has no data contract"):
        journey.assert_fields("session_started")


def test_wrong_consent_shows_the_arrived_status(leadtrace_capture: Capture) -> None:
    """assert_consent shows the status that arrived at the stage."""
    journey = _journey(leadtrace_capture)
    with pytest.raises(JourneyAssertionError) as raised:
        journey.assert_consent("lead_routed", "denied")
    assert raised.value.arrived == "consent.status='granted'"


def test_lost_attribution_names_the_first_stage_without_it(leadtrace_capture: Capture) -> None:
    """The first stage whose campaign differs is reported: where attribution stopped travelling."""
    with synthetic_identity().journey(campaign=CAMPAIGN, consent=CONSENT) as j:
        leadtrace.emit("form_submitted", form_id="demo")
        with leadtrace.journey(campaign=Campaign(id="spring")):
            leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
    with pytest.raises(JourneyAssertionError) as raised:
        leadtrace_capture.journey(j).assert_attribution(campaign_id="spring", source="google")
    assert raised.value.stage == "lead_created"
    assert "campaign.source=<missing>" in raised.value.arrived


def test_assert_attribution_needs_a_value(leadtrace_capture: Capture) -> None:
    """Calling assert_attribution with nothing to expect is a setup error."""
    with pytest.raises(ConfigError, match="at least one campaign value"):
        _journey(leadtrace_capture).assert_attribution()


def test_dedupe_outcome_mismatch_names_the_reporting_stage(leadtrace_capture: Capture) -> None:
    """assert_dedupe checks the last stage reporting an outcome unless a stage is named."""
    journey = _journey(leadtrace_capture)
    journey.assert_dedupe("created", stage="lead_created")
    with pytest.raises(JourneyAssertionError) as raised:
        journey.assert_dedupe("updated")
    assert (raised.value.stage, raised.value.layer) == ("crm_updated", "crm")


def test_wrong_owner_is_a_routing_failure(leadtrace_capture: Capture) -> None:
    """An owner other than the expected one is the journey's first failure, in routing."""
    journey = _journey(leadtrace_capture, owner="U-2")
    failure = journey.assert_failure("routing", stage="lead_routed")
    assert failure.arrived == "routing.owner_id='U-2', routing.rule_id='r1'"
    with pytest.raises(JourneyAssertionError, match="routed to the wrong owner"):
        journey.assert_healthy()


def test_assert_failure_on_a_healthy_journey_fails(leadtrace_capture: Capture) -> None:
    """Expecting a failure where there is none fails with 'no failure reported'."""
    with pytest.raises(JourneyAssertionError, match="no failure reported"):
        _journey(leadtrace_capture).assert_failure("crm")


def test_assert_failure_in_another_layer_names_the_real_one(leadtrace_capture: Capture) -> None:
    """Expecting the wrong layer reports the layer that actually failed."""
    journey = _journey(leadtrace_capture, owner="U-2")
    with pytest.raises(JourneyAssertionError, match="failed in layer 'routing' instead"):
        journey.assert_failure("crm")


def test_enrichment_timeout_outcome_is_an_enrichment_failure(leadtrace_capture: Capture) -> None:
    """An emitted enrichment outcome of timeout counts as the enrichment layer failing."""
    with synthetic_identity().journey(campaign=CAMPAIGN, consent=CONSENT) as j:
        leadtrace.emit("lead_enriched", lead_id="L-1", outcome="timeout", provider="clearbit")
    failure = leadtrace_capture.journey(j).assert_failure("enrichment")
    assert failure.arrived == "enrichment.outcome='timeout', enrichment.provider='clearbit'"


def test_schema_violation_is_a_failure_in_the_events_layer() -> None:
    """A lenient-mode invalid event is the first failure, with its violations listed."""
    with Capture(validation="lenient") as capture:
        with leadtrace.journey(campaign=CAMPAIGN, consent=CONSENT) as j:
            leadtrace.emit("lead_routed", lead_id="L-1")
        failure = capture.journey(j).assert_failure("routing")
    assert failure.problem == "event failed schema validation"
    assert "routing_rule_id:missing" in failure.arrived


def test_unknown_journey_says_which_journeys_arrived(leadtrace_capture: Capture) -> None:
    """Asserting on a journey id that never arrived lists the journeys that did."""
    journey_id = _happy_journey(leadtrace_capture)
    with pytest.raises(JourneyAssertionError) as raised:
        leadtrace_capture.journey("nope").assert_healthy()
    assert f"1 other journeys: [{journey_id!r}]" in str(raised.value)


def test_journey_without_id_needs_exactly_one(leadtrace_capture: Capture) -> None:
    """journey() picks the only journey, and refuses to guess among several."""
    first = _happy_journey(leadtrace_capture)
    assert leadtrace_capture.journey().journey_id == first
    _happy_journey(leadtrace_capture)
    with pytest.raises(JourneyAssertionError, match="needs exactly one journey"):
        leadtrace_capture.journey()


def test_events_match_partially_by_field_name(leadtrace_capture: Capture) -> None:
    """events() matches on the given fields only; a double underscore stands for a dot."""
    _happy_journey(leadtrace_capture)
    _happy_journey(leadtrace_capture, owner="U-2")
    assert len(leadtrace_capture.events("lead_routed")) == 2
    assert len(leadtrace_capture.events("lead_routed", owner_id="U-2")) == 1
    assert len(leadtrace_capture.events(campaign__id="spring")) == 10
    assert leadtrace_capture.events(where={"martech.routing.owner_id": "U-9"}) == []


def test_events_match_an_element_of_an_array_attribute(leadtrace_capture: Capture) -> None:
    """A scalar matches an array attribute that contains it; a list must match exactly."""
    _happy_journey(leadtrace_capture)
    assert len(leadtrace_capture.events("form_submitted", field_names="email")) == 1
    assert len(leadtrace_capture.events("form_submitted", field_names=["email"])) == 1
    assert leadtrace_capture.events("form_submitted", field_names=["email", "x"]) == []


def test_good_and_bad_split_stage_spans(leadtrace_capture: Capture) -> None:
    """good() holds healthy stage spans, bad() the ones with a problem."""
    _happy_journey(leadtrace_capture, owner="U-2")
    assert [r.stage for r in leadtrace_capture.bad()] == ["lead_routed"]
    assert len(leadtrace_capture.good()) == 4
    assert leadtrace_capture.good("lead_routed") == []


def test_reset_forgets_spans(leadtrace_capture: Capture) -> None:
    """After reset() nothing is left to assert on."""
    _happy_journey(leadtrace_capture)
    leadtrace_capture.reset()
    assert leadtrace_capture.records() == []
    assert leadtrace_capture.journeys() == []


def test_stage_spans_read_in_start_order_whatever_the_clock(leadtrace_capture: Capture) -> None:
    """A @stage span (real clock) and emitted events (frozen clock) keep the order they started."""

    @leadtrace.stage("lead_routed")
    def route() -> None:
        leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")

    with leadtrace.journey() as j:
        leadtrace.emit("form_submitted", form_id="demo")
        route()
    assert leadtrace_capture.journey(j).stages() == [
        "form_submitted",
        "lead_routed",
        "lead_created",
    ]
