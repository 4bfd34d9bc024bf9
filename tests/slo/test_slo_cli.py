"""``leadtrace slo check`` and ``leadtrace slo generate``: exit codes, messages, files."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from leadtrace._cli import cli

SLOTH = """\
version: "prometheus/v1"
service: "lead-api"
labels: {owner: growth-platform}
slos:
  - name: "webhook-availability"
    objective: 99.9
    description: "Webhook deliveries that did not fail."
    sli:
      events:
        error_query: sum(rate(webhook_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(webhook_requests_total[{{.window}}]))
    alerting:
      name: WebhookHighErrorRate
      annotations: {runbook_url: "https://runbooks.example.invalid/webhooks"}
      page_alert: {labels: {severity: critical}}
"""


def test_check_accepts_the_built_in_slis() -> None:
    """Without a file, ``slo check`` validates the built-in SLIs and exits 0."""
    result = CliRunner().invoke(cli, ["slo", "check"])
    assert result.exit_code == 0, result.output
    assert "built-in SLIs: 12 SLOs valid" in result.output


def test_check_rejects_a_bad_file_with_its_line(tmp_path: Path) -> None:
    """A bad SLI file exits 1 with the file, line and rule in the message."""
    bad = tmp_path / "slis.yaml"
    bad.write_text("version: 1\nslis:\n  x:\n    description: d\n    events: [lead_routed]\n")
    result = CliRunner().invoke(cli, ["slo", "check", str(bad)])
    assert result.exit_code == 1
    assert f"SLI file {bad}:3: slis.0.good: Field required" in result.output


def test_generate_writes_the_rules_file(tmp_path: Path) -> None:
    """``slo generate -o`` writes rule groups with the Sloth recording rule names."""
    out = tmp_path / "rules.yaml"
    result = CliRunner().invoke(cli, ["slo", "generate", "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = {
        r["record"]
        for g in yaml.safe_load(out.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    assert {
        "slo:sli_error:ratio_rate5m",
        "slo:sli_error:ratio_rate30d",
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:current_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
    } <= records


def test_generate_reads_a_sloth_spec(tmp_path: Path) -> None:
    """A Sloth prometheus/v1 spec gives alerts with its name, labels and runbook."""
    spec = tmp_path / "sloth.yaml"
    spec.write_text(SLOTH)
    result = CliRunner().invoke(cli, ["slo", "generate", str(spec)])
    assert result.exit_code == 0, result.output
    alerts = [
        r
        for g in yaml.safe_load(result.output)["groups"]
        for r in g["rules"]
        if r.get("alert") == "WebhookHighErrorRate"
    ]
    assert [a["labels"]["severity"] for a in alerts] == ["critical", "ticket"]
    assert {a["annotations"]["runbook_url"] for a in alerts} == {
        "https://runbooks.example.invalid/webhooks"
    }
    assert alerts[0]["labels"]["owner"] == "growth-platform"


def test_generate_rejects_a_bad_sloth_spec(tmp_path: Path) -> None:
    """A Sloth spec without an SLI query exits 1 naming the SLO."""
    spec = tmp_path / "sloth.yaml"
    spec.write_text(SLOTH.replace("      events:", "      other:"))
    result = CliRunner().invoke(cli, ["slo", "generate", str(spec)])
    assert result.exit_code == 1
    assert "Sloth spec" in result.output
    assert "slos.0.sli.other" in result.output
