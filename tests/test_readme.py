"""The README's quickstart works when pasted, and `make demo`'s script runs clean."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_script(script: Path | str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a Python script in ``cwd`` with no OTEL_/LEADTRACE_ settings from this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_quickstart_block_runs_and_writes_spans(tmp_path: Path) -> None:
    """The README's Python block, pasted into a file and run, writes the journey's spans."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", quickstart, re.DOTALL)
    assert code is not None
    assert len(code.group(1).strip().splitlines()) <= 16
    (tmp_path / "quickstart.py").write_text(code.group(1), encoding="utf-8")
    result = _run_script("quickstart.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "JSON lines in .leadtrace/spans.jsonl" in result.stdout
    spans = [
        json.loads(line)
        for line in (tmp_path / ".leadtrace" / "spans.jsonl").read_text().splitlines()
    ]
    names = [s["name"] for s in spans]
    assert names == ["form_submitted", "lead_created", "lead_routed", "journey"]
    assert len({s["trace_id"] for s in spans}) == 1  # the journey is one trace
    routed = spans[2]["attributes"]
    assert routed["martech.routing.owner_id"] == "U-7"
    assert routed["martech.lead.id"] == "L-1"
    assert routed["martech.campaign.id"] == "spring"
    assert len({s["attributes"]["martech.journey.id"] for s in spans}) == 1


def test_demo_script_reports_the_journey(tmp_path: Path) -> None:
    """examples/quickstart.py (make demo) prints the stages and finds no raw e-mail."""
    result = _run_script(ROOT / "examples" / "quickstart.py", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 spans written to .leadtrace/spans.jsonl" in result.stdout
    assert "sales_acknowledged    sales       True" in result.stdout
    assert "raw e-mail in the exported file: no" in result.stdout
    assert "1 record, hash chain intact" in result.stdout
