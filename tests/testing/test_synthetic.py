"""Synthetic identities: deterministic, unique, configurable, always flagged synthetic."""

from __future__ import annotations

import pytest

import leadtrace
from leadtrace.errors import ConfigError
from leadtrace.testing import (
    Capture,
    SyntheticIdentities,
    is_synthetic_email,
    synthetic_identity,
)


def test_addresses_are_numbered_within_the_run(leadtrace_capture: Capture) -> None:
    """Under the fixture the run id comes from the frozen clock and numbers start at 1."""
    first, second = synthetic_identity(), synthetic_identity()
    assert first.email == "test+20260101t090000-1@example.test"
    assert second.email == "test+20260101t090000-2@example.test"
    assert first.anonymous_id == "synthetic-20260101t090000-1"
    assert first.synthetic is True


def test_numbering_restarts_in_each_test(leadtrace_capture: Capture) -> None:
    """The fixture resets the series, so each test's first identity is number 1."""
    assert synthetic_identity().number == 1


def test_domain_is_configurable(leadtrace_capture: Capture) -> None:
    """A domain per call or per series replaces example.test."""
    assert synthetic_identity(domain="qa.invalid").email.endswith("-1@qa.invalid")
    series = SyntheticIdentities(run="ci-42", domain="growth.example", prefix="e2e")
    assert series.next().email == "e2e+ci-42-1@growth.example"


def test_run_id_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LEADTRACE_SYNTHETIC_RUN names the run (e.g. the CI build number)."""
    monkeypatch.setenv("LEADTRACE_SYNTHETIC_RUN", "Build-981")
    assert SyntheticIdentities().next().email == "test+build-981-1@example.test"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"domain": "Not A Domain"}, "not a lower-case host name"),
        ({"run": "has space"}, "run 'has space'"),
        ({"prefix": "a+b"}, "prefix 'a\\+b'"),
    ],
)
def test_bad_settings_fail_at_setup(kwargs: dict[str, str], match: str) -> None:
    """An unusable domain, run id or prefix raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=match):
        SyntheticIdentities(**kwargs)


def test_keys_are_the_hashed_address(leadtrace_capture: Capture) -> None:
    """The identity keys hash the synthetic address exactly as leadtrace.identity does."""
    person = synthetic_identity()
    assert person.keys == leadtrace.identity(email=person.email, anonymous_id=person.anonymous_id)
    assert person.keys.email_hash is not None
    assert person.email not in person.keys.model_dump_json()


def test_journey_of_a_synthetic_identity_is_flagged(leadtrace_capture: Capture) -> None:
    """Every span of a journey started from a synthetic identity carries synthetic=true."""
    with synthetic_identity().journey() as j:
        leadtrace.emit("form_submitted", form_id="demo")
    journey = leadtrace_capture.journey(j)
    assert journey.synthetic
    assert journey.stage("form_submitted").attributes["martech.journey.synthetic"] is True


def test_synthetic_flag_cannot_be_turned_off(leadtrace_capture: Capture) -> None:
    """Asking a synthetic identity for a non-synthetic journey is refused."""
    with pytest.raises(ConfigError, match="always synthetic"):
        synthetic_identity().journey(synthetic=False)


def test_raw_address_never_reaches_a_span(leadtrace_capture: Capture) -> None:
    """The synthetic address is hashed: no exported attribute contains it."""
    person = synthetic_identity()
    with person.journey() as j:
        leadtrace.emit("form_submitted", form_id="demo")
    values = [str(v) for r in leadtrace_capture.journey(j).spans for v in r.attributes.values()]
    assert not any(person.email in v for v in values)


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("test+20260101t090000-1@example.test", True),
        (" TEST+ci-1@Example.Test ", True),
        ("test@example.test", False),
        ("test+1@example.com", False),
        ("jane@acme.example", False),
    ],
)
def test_is_synthetic_email(email: str, expected: bool) -> None:
    """Synthetic addresses are recognised by prefix+ and domain, case-insensitively."""
    assert is_synthetic_email(email) is expected
