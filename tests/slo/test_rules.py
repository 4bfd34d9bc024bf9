"""Generated Prometheus rules: promtool checks them and runs burn-rate scenarios on them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadtrace.slo import generate, load_slos
from leadtrace.slo.rules import from_slis, rule_groups
from leadtrace.slo.spec import parse_slis

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')"
)

SPEC = """\
version: 1
service: shop
slis:
  crm_write_success:
    description: CRM writes that returned a record id.
    events: [crm_updated]
    good: {attribute: crm.record_id, present: true}
    objective: 99
    runbook: crm-sync-failure
"""
SELECTOR = 'martech_sli_name="crm_write_success",martech_journey_synthetic="false"'


def _rules(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    spec = tmp_path / "slis.yaml"
    spec.write_text(SPEC)
    rules = tmp_path / "rules.yaml"
    rules.write_text(generate(spec))
    alerts = {
        (r["alert"], r["labels"]["severity"]): r
        for group in yaml.safe_load(rules.read_text())["groups"]
        for r in group["rules"]
        if "alert" in r
    }
    return rules, alerts


def _series(total_per_min: str, good_per_min: str, minutes: int) -> list[dict[str, str]]:
    return [
        {
            "series": f"martech_sli_events_total{{{SELECTOR}}}",
            "values": f"0+{total_per_min}x{minutes}",
        },
        {
            "series": f"martech_sli_good_events_total{{{SELECTOR}}}",
            "values": f"0+{good_per_min}x{minutes}",
        },
    ]


def _expected(alert: dict[str, Any]) -> dict[str, Any]:
    return {"exp_labels": alert["labels"], "exp_annotations": alert["annotations"]}


def _promtool_test(tmp_path: Path, rules: Path, tests: list[dict[str, Any]]) -> None:
    spec = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}
    file = tmp_path / "tests.yaml"
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = subprocess.run(
        [PROMTOOL or "promtool", "test", "rules", file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_check_accepts_the_built_in_rules(tmp_path: Path) -> None:
    """``promtool check rules`` accepts the rules generated from the built-in SLIs."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(generate())
    done = subprocess.run(
        [PROMTOOL or "promtool", "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_fast_burn_pages(tmp_path: Path) -> None:
    """20 % errors against a 99 % objective page (and open a ticket) within 30 minutes."""
    rules, alerts = _rules(tmp_path)
    name = "CrmWriteSuccessErrorBudgetBurn"
    firing = [_expected(alerts[(name, "page")]), _expected(alerts[(name, "ticket")])]
    _promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": _series("100", "80", 60),
                "alert_rule_test": [{"eval_time": "30m", "alertname": name, "exp_alerts": firing}],
            }
        ],
    )


@needs_promtool
def test_slow_burn_opens_a_ticket_without_paging(tmp_path: Path) -> None:
    """4 % errors (over 3x, under 6x the budget) open a ticket and never page."""
    rules, alerts = _rules(tmp_path)
    name = "CrmWriteSuccessErrorBudgetBurn"
    _promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": _series("100", "96", 240),
                "alert_rule_test": [
                    {
                        "eval_time": "4h",
                        "alertname": name,
                        "exp_alerts": [_expected(alerts[(name, "ticket")])],
                    }
                ],
            }
        ],
    )


@needs_promtool
def test_healthy_traffic_stays_quiet(tmp_path: Path) -> None:
    """0.5 % errors against a 1 % budget raise no alert at all."""
    rules, _ = _rules(tmp_path)
    _promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": _series("200", "199", 180),
                "alert_rule_test": [
                    {"eval_time": "3h", "alertname": a, "exp_alerts": []}
                    for a in ("CrmWriteSuccessErrorBudgetBurn", "CrmWriteSuccessSLIDataMissing")
                ],
            }
        ],
    )


@needs_promtool
def test_low_traffic_does_not_page(tmp_path: Path) -> None:
    """Two bad out of three events in an hour open a ticket but never page."""
    rules, alerts = _rules(tmp_path)
    name = "CrmWriteSuccessErrorBudgetBurn"
    # Events at minutes 40 (good), 50 (bad) and 58 (bad): 2 bad out of 3 in the hour, the
    # last one inside the 5m window, so only the guard keeps the page quiet.
    total = "0x39 1x9 2x7 3x10"
    good = "0x39 1x27"
    _promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f"martech_sli_events_total{{{SELECTOR}}}",
                        "values": total,
                    },
                    {
                        "series": f"martech_sli_good_events_total{{{SELECTOR}}}",
                        "values": good,
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "62m", "alertname": name, "exp_alerts": []},
                    {
                        "eval_time": "70m",
                        "alertname": name,
                        "exp_alerts": [_expected(alerts[(name, "ticket")])],
                    },
                ],
            }
        ],
    )


@needs_promtool
def test_missing_data_alerts(tmp_path: Path) -> None:
    """No SLI series for ten minutes fires the absent-data ticket, which links a runbook."""
    rules, alerts = _rules(tmp_path)
    name = "CrmWriteSuccessSLIDataMissing"
    _promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="lead-api"}', "values": "1x30"}],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": name, "exp_alerts": []},
                    {
                        "eval_time": "15m",
                        "alertname": name,
                        "exp_alerts": [_expected(alerts[(name, "ticket")])],
                    },
                ],
            }
        ],
    )


@needs_promtool
def test_recorded_error_ratio_matches_the_input(tmp_path: Path) -> None:
    """``slo:sli_error:ratio_rate5m`` records the share of bad events (20 %)."""
    rules, _ = _rules(tmp_path)
    labels = {
        "sloth_id": "shop-crm_write_success",
        "sloth_service": "shop",
        "sloth_slo": "crm_write_success",
        "sloth_window": "5m",
    }
    _promtool_test(
        tmp_path,
        rules,
        [
            {
                "interval": "1m",
                "input_series": _series("100", "80", 30),
                "promql_expr_test": [
                    {
                        "expr": "round(slo:sli_error:ratio_rate5m, 0.001)",
                        "eval_time": "20m",
                        "exp_samples": [
                            {
                                "labels": "{"
                                + ",".join(f'{k}="{v}"' for k, v in labels.items())
                                + "}",
                                "value": 0.2,
                            }
                        ],
                    }
                ],
            }
        ],
    )


def test_every_alert_has_severity_and_runbook() -> None:
    """Each generated alert of the built-in SLIs carries a severity and a runbook_url."""
    alerts = [
        rule for group in rule_groups(load_slos()) for rule in group["rules"] if "alert" in rule
    ]
    assert len(alerts) == 3 * 12
    assert all(a["labels"]["severity"] in ("page", "ticket") for a in alerts)
    assert all(a["annotations"]["runbook_url"].endswith(".md") for a in alerts)


def test_every_runbook_an_alert_links_to_exists() -> None:
    """Every runbook the built-in SLIs name has a page in docs/runbooks/."""
    docs = Path(__file__).parents[2] / "docs" / "runbooks"
    names = {url.rsplit("/", 1)[1] for url in (s.runbook_url for s in load_slos())}
    assert names
    assert sorted(n for n in names if not (docs / n).is_file()) == []


def test_burn_factors_follow_the_workbook() -> None:
    """A 30-day period gives the page 14.4x / 6x and ticket 3x / 1x thresholds."""
    expr = "\n".join(
        r["expr"]
        for g in rule_groups(from_slis(parse_slis(SPEC)))
        for r in g["rules"]
        if "alert" in r
    )
    assert [f"({f} * 0.01)" in expr for f in ("14.4", "6.0", "3.0", "1.0")] == [True] * 4
