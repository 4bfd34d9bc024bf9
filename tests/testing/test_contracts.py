"""Contracts: the shipped YAML equals the defaults, files extend them, and the plugin uses them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import leadtrace
from leadtrace.errors import ConfigError
from leadtrace.quality import (
    DEFAULT_CONTRACTS,
    DEFAULT_CONTRACTS_FILE,
    full_name,
    load_contracts,
    short_name,
)
from leadtrace.testing import Capture


def test_shipped_yaml_equals_the_built_in_defaults() -> None:
    """default_contracts.yaml and DEFAULT_CONTRACTS describe the same contracts."""
    assert load_contracts(DEFAULT_CONTRACTS_FILE).stages == load_contracts(None).stages
    assert set(load_contracts(DEFAULT_CONTRACTS_FILE).stages) == set(DEFAULT_CONTRACTS)


def test_crm_contract_carries_the_fields_the_brief_names() -> None:
    """A CRM record needs campaign, source/medium, consent, lead score and routing rule."""
    required = load_contracts(DEFAULT_CONTRACTS_FILE).required("crm_updated")
    for name in ("campaign.id", "campaign.source", "campaign.medium", "consent.status"):
        assert full_name(name) in required
    assert {"martech.lead.score", "martech.routing.rule_id"} <= set(required)


def test_extends_defaults_overrides_only_listed_stages(tmp_path: Path) -> None:
    """A file with extends: defaults keeps the other built-in stages."""
    path = tmp_path / "contracts.yaml"
    path.write_text("extends: defaults\nstages:\n  lead_routed:\n    required: [routing.queue]\n")
    contracts = load_contracts(path)
    assert contracts.required("lead_routed") == ("martech.routing.queue",)
    assert contracts.required("crm_updated") == load_contracts(None).required("crm_updated")


def test_extends_accepts_only_defaults(tmp_path: Path) -> None:
    """Any other extends value is a setup error naming the file."""
    path = tmp_path / "contracts.yaml"
    path.write_text("extends: other.yaml\nstages: {}\n")
    with pytest.raises(ConfigError, match="'extends' can only be 'defaults'"):
        load_contracts(path)


def test_names_expand_and_shorten() -> None:
    """Short names gain the martech. prefix; full and dotless names stay as they are."""
    assert full_name("lead.score") == "martech.lead.score"
    assert full_name("martech.lead.score") == "martech.lead.score"
    assert full_name("custom") == "custom"
    assert short_name("martech.lead.score") == "lead.score"


def test_one_file_drives_runtime_verdicts_and_assertions(tmp_path: Path) -> None:
    """The runtime marks the event incomplete and assert_fields fails on the same field."""
    path = tmp_path / "contracts.yaml"
    path.write_text("stages:\n  form_submitted:\n    required: [form.version]\n")
    with Capture(contracts=path) as capture, leadtrace.journey() as j:
        leadtrace.emit("form_submitted", form_id="demo")
    record = capture.journey(j).stage("form_submitted")
    assert record.attributes["martech.quality.missing"] == ("martech.form.version",)
    with pytest.raises(AssertionError, match=r"form\.version=<missing>"):
        capture.journey(j).assert_fields("form_submitted")


def test_plugin_loads_from_the_installed_package_and_reads_the_ini(tmp_path: Path) -> None:
    """A fresh pytest run with no conftest gets the fixtures and the ini's contracts file."""
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nleadtrace_contracts = contracts.yaml\naddopts = -p no:cacheprovider\n"
    )
    (tmp_path / "contracts.yaml").write_text(
        "extends: defaults\nstages:\n  lead_routed:\n    required: [routing.territory]\n"
    )
    (tmp_path / "test_user_suite.py").write_text(
        textwrap.dedent(
            """
            import pytest
            import leadtrace
            from leadtrace.testing import synthetic_identity

            def test_contract_from_ini(leadtrace_capture):
                with synthetic_identity().journey() as j:
                    leadtrace.emit("lead_routed", lead_id="L", routing_rule_id="r", owner_id="o")
                journey = leadtrace_capture.journey(j)
                assert journey.synthetic
                with pytest.raises(AssertionError, match="routing.territory=<missing>"):
                    journey.assert_fields("lead_routed")

            def test_receiver_fixture(leadtrace_receiver):
                assert leadtrace_receiver.url.startswith("http://127.0.0.1:")
            """
        )
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "LEADTRACE_CONTRACTS"}
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
