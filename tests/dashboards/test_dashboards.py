"""The dashboard JSON: deterministic, valid for Grafana's model, every query parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("grafana_foundation_sdk", reason="needs the 'dashboards' extra")

from leadtrace._cli import cli
from leadtrace.dashboards import build, panels, render, with_all_selected
from leadtrace.slo.spec import load_slis

PROMTOOL = shutil.which("promtool")


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return list(board["panels"])


def test_json_is_deterministic() -> None:
    """Two renders are byte-identical and keys are sorted."""
    first, second = render(), render()
    assert first == second
    assert first == json.dumps(json.loads(first), sort_keys=True, indent=2) + "\n"


def test_panel_ids_are_unique_and_stable() -> None:
    """Every panel and row has its own id, numbered 1..n in order."""
    ids = [p["id"] for p in _panels(build())]
    assert ids == list(range(1, len(ids) + 1))


def test_round_trips_through_the_sdk_model() -> None:
    """Grafana's typed model reads the JSON back to the same JSON."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    board = build()
    again = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    assert again == board


SCHEMA = Path(__file__).with_name("dashboard.schema.json")


def _schema_errors(board: dict[str, Any]) -> list[str]:
    """Where ``board`` breaks the dashboard JSON schema, as readable paths and messages."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    return sorted(
        "/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(board)
    )


def test_holds_the_dashboard_json_schema() -> None:
    """The dashboard holds the JSON schema of Grafana's classic model for the parts we use."""
    assert _schema_errors(build()) == []


def test_the_schema_check_catches_a_broken_panel() -> None:
    """A panel without its grid position or with a query without refId breaks the schema."""
    board = build()
    stat = next(p for p in board["panels"] if p["type"] == "stat")
    del stat["gridPos"]
    stat["targets"][0].pop("refId")
    errors = _schema_errors(board)
    assert any("'gridPos' is a required property" in e for e in errors), errors
    assert any("'refId' is a required property" in e for e in errors), errors


def test_every_variable_used_is_declared() -> None:
    """Each ``$var`` in queries and links is a declared variable or a Grafana built-in."""
    board = build()
    declared = {v["name"] for v in board["templating"]["list"]}
    used = set(re.findall(r"\$\{?([a-z_]+)", json.dumps(board["panels"])))
    assert sorted(used - declared - {"__range", "__rate_interval", "__all"}) == []


def test_top_row_status_panels_read_healthy_degraded_broken() -> None:
    """Status panels map burn rates to Healthy, Degraded and Broken."""
    status = [p for p in _panels(build()) if "status and budget" in p["title"]]
    assert status
    texts = [
        m["options"]["result"]["text"] for m in status[0]["fieldConfig"]["defaults"]["mappings"]
    ]
    assert texts == ["Healthy", "Degraded", "Broken"]


def test_every_panel_links_to_traces_and_runbook_where_known() -> None:
    """Each non-row panel links to Tempo and Jaeger searches; SLI panels to a runbook."""
    for panel in _panels(build()):
        if panel["type"] == "row":
            continue
        titles = [link["title"] for link in panel["links"]]
        assert "Traces of this campaign (Tempo)" in titles, panel["title"]
        assert "Traces of this campaign (Jaeger)" in titles, panel["title"]
        assert "Trace of this journey (Tempo)" in titles, panel["title"]
        assert "Trace of this journey (Jaeger)" in titles, panel["title"]
    runbooks = [
        p for p in _panels(build()) if any(x["title"] == "Runbook" for x in p.get("links", []))
    ]
    assert len(runbooks) > 10


def test_rows_cover_the_layers_and_compliance() -> None:
    """The rows are the top row, the five layers and the compliance row."""
    rows = [p["title"] for p in _panels(build()) if p["type"] == "row"]
    assert rows == [
        "Are we generating clean, actionable signal?",
        "Capture and ingestion",
        "Enrichment",
        "Identity resolution",
        "Routing and CRM",
        "Sales usability",
        "Compliance: consent validity",
    ]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian 'prometheus')")
def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    """Every PromQL expression, with variables filled in, is valid for promtool."""
    exprs = [expr for panel in panels(load_slis()) for expr in panel.exprs]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": with_all_selected(e)}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    file = tmp_path / "queries.yaml"
    file.write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        [PROMTOOL or "promtool", "check", "rules", str(file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_writes_the_dashboard(tmp_path: Path) -> None:
    """``leadtrace dashboard generate -o`` writes the same JSON render() gives."""
    out = tmp_path / "dashboard.json"
    result = CliRunner().invoke(cli, ["dashboard", "generate", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == render()


def test_panels_fit_the_grid_without_overlapping() -> None:
    """Every panel has a grid position inside 24 columns and no two panels overlap."""
    board = build()
    assert isinstance(board["title"], str)
    assert isinstance(board["schemaVersion"], int)
    cells: set[tuple[int, int]] = set()
    for panel in _panels(board):
        pos = panel["gridPos"]
        assert all(isinstance(pos[k], int) for k in ("h", "w", "x", "y")), panel["title"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area
