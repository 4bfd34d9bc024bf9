"""The SLI file: the built-in defaults, predicates, and errors that name the line."""

from __future__ import annotations

from typing import Any

import pytest

from leadtrace import semconv
from leadtrace.errors import ConfigError
from leadtrace.slo.spec import DEFAULT_SLIS_FILE, Predicate, load_slis, parse_slis

CONSENT = semconv.CONSENT_STATUS
MATCH = semconv.IDENTITY_MATCH
SEED_SLIS = {
    "lead_ingestion_success",
    "attribution_completeness",
    "schema_validation_pass_rate",
    "identity_match_rate",
    "lead_routing_latency",
    "crm_write_success",
    "sales_ready_record_correctness",
    "consent_valid_at_submission",
    "consent_valid_at_routing",
    "consent_valid_at_first_sales_contact",
    "sales_acceptance",
}


def test_defaults_ship_beside_the_contracts_and_cover_the_seed() -> None:
    """The built-in file sits next to default_contracts.yaml and defines every seed SLI."""
    assert DEFAULT_SLIS_FILE.parent.joinpath("default_contracts.yaml").is_file()
    assert {sli.name for sli in load_slis().slis} >= SEED_SLIS


def test_routing_sli_has_the_300_second_bound() -> None:
    """lead_routing_latency is good within 300 s of the journey's start."""
    sli = next(s for s in load_slis().slis if s.name == "lead_routing_latency")
    assert sli.latency_bounds() == [300.0]


@pytest.mark.parametrize(
    ("predicate", "attributes", "expected"),
    [
        ({"complete": True}, {semconv.QUALITY_COMPLETE: True}, True),
        ({"complete": True}, {semconv.QUALITY_COMPLETE: False}, False),
        ({"valid": True}, {}, True),
        ({"valid": True}, {semconv.QUALITY_VALID: False}, False),
        ({"attribute": "crm.record_id", "present": True}, {semconv.CRM_RECORD_ID: ""}, False),
        ({"attribute": "consent.status", "equals": "granted"}, {CONSENT: "granted"}, True),
        ({"attribute": "identity.match", "in": ["matched"]}, {MATCH: "none"}, False),
        ({"attribute": "lead.dedupe_outcome", "not_in": ["duplicate"]}, {}, True),
        ({"latency_max_s": 300}, {semconv.JOURNEY_ELAPSED: 300.0}, True),
        ({"latency_max_s": 300}, {semconv.JOURNEY_ELAPSED: 300.5}, False),
        ({"latency_max_s": 300}, {}, False),
        (
            {"any": [{"valid": False}, {"attribute": "lead.id", "present": True}]},
            {semconv.LEAD_ID: "L-1"},
            True,
        ),
    ],
)  # fmt: skip
def test_predicates_judge_span_attributes(
    predicate: dict[str, Any], attributes: dict[str, Any], expected: bool
) -> None:
    """Each predicate kind judges the span attributes as documented."""
    assert Predicate.model_validate(predicate).compile()(attributes) is expected


BASE = """\
version: 1
slis:
  crm_write_success:
    description: CRM writes with a record id.
    events: [crm_updated]
    good: {attribute: crm.record_id, present: true}
    objective: 99
    runbook: crm-sync-failure
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("objective: 99", "objective: 120", r":7: slis\.0\.objective: .*less than 100"),
        ("present: true", "present: true, equals: x", r":6: slis\.0\.good\.0: .*exactly one"),
        ("events: [crm_updated]", "events: [CRM Updated]", r":5: slis\.0\.events: .*snake_case"),
        ("    runbook: crm-sync-failure\n", "", r":3: slis\.0\.runbook: Field required"),
        ("version: 1", "version: 2", r":1: version: Input should be 1"),
        ("good: {", "good: {{", r":7: not valid YAML"),
    ],
)
def test_bad_file_names_the_line(old: str, new: str, message: str) -> None:
    """An invalid SLI file raises ConfigError naming the file, the line and the rule."""
    with pytest.raises(ConfigError, match=r"SLI file slis\.yaml" + message):
        parse_slis(BASE.replace(old, new), "slis.yaml")


def test_missing_file_is_a_config_error(tmp_path: Any) -> None:
    """A path that does not exist raises ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot be read"):
        load_slis(tmp_path / "nope.yaml")
