"""`leadtrace demo`: the stack runs, the injected faults are found where they belong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _stack import ROOT, demo_module

from leadtrace.report import build_report, statuses_for
from leadtrace.store.queries import JourneyStore
from leadtrace.testing import OTLPReceiver

DEMO = ROOT / "examples" / "demo.py"

pytestmark = pytest.mark.slow


def _run_demo(
    tmp_path: Path, *args: str, endpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["COLUMNS"] = "160"
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, str(DEMO), "--store", str(tmp_path / "store"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_each_injected_fault_is_found_in_its_layer(tmp_path: Path) -> None:
    """120 visitors with the default fault mix: the report finds every fault, where expected."""
    demo = demo_module()
    result = _run_demo(tmp_path, "--journeys", "120", "--seed", "3")
    assert result.returncode == 0, result.stderr[-3000:]

    visitors = demo.plan_visitors(120, demo.parse_faults(demo.DEFAULT_FAULTS), 3)
    injected = Counter(v.fault for v in visitors if v.fault)
    report = build_report(JourneyStore(tmp_path / "store" / "journeys.db").records())
    assert dict(report.funnel)["form_submitted"] == 120
    assert demo.found_by_fault(report) == {fault: injected[fault] for fault in demo.FAULTS}
    assert report.broken == sum(injected.values())
    assert "Injected faults and what the report found" in result.stdout
    assert (tmp_path / "store" / "report.html").is_file()


def test_a_run_without_faults_is_all_healthy(tmp_path: Path) -> None:
    """With no faults every journey completes and every SLI is healthy."""
    result = _run_demo(tmp_path, "--journeys", "30", "--faults", "")
    assert result.returncode == 0, result.stderr[-3000:]

    records = JourneyStore(tmp_path / "store" / "journeys.db").records()
    report = build_report(records)
    assert report.broken == 0
    assert dict(report.funnel)["sales_acknowledged"] == 30
    statuses = statuses_for(report, records)
    assert {s.status for s in statuses if s.ratio.total} == {"Healthy"}
    assert "Healthy" in result.stdout


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing_utm=5", None),
        ("typo=5%", "not NAME=N% with NAME one of"),
        ("crm_5xx=lots", "is not a percentage"),
        ("crm_5xx=150%", "must be 0% to 100%"),
        ("crm_5xx=60%,missing_utm=60%", "add up to more than 100%"),
    ],
)
def test_fault_mix_is_checked(spec: str, message: str | None) -> None:
    """--faults names known faults with shares that fit in 100 %; else a clear error."""
    demo = demo_module()
    if message is None:
        assert demo.parse_faults(spec) == {"missing_utm": 0.05}
        return
    with pytest.raises(demo.FaultSpecError, match=message):
        demo.parse_faults(spec)


def test_visitors_get_each_fault_by_its_share() -> None:
    """The plan gives each fault its share of visitors (rounded), the rest healthy."""
    demo = demo_module()
    visitors = demo.plan_visitors(200, {"crm_5xx": 0.05, "routing_drift": 0.1}, seed=1)
    assert Counter(v.fault for v in visitors) == {None: 170, "routing_drift": 20, "crm_5xx": 10}
    assert {v.country for v in visitors if v.fault == "routing_drift"} == {"AT"}


def test_with_an_endpoint_the_demo_also_exports_to_the_collector(tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT set: both services export over OTLP, and the demo's own
    journey store still gets everything for the report."""
    with OTLPReceiver() as receiver:
        result = _run_demo(tmp_path, "--journeys", "8", "--faults", "", endpoint=receiver.url)
        assert result.returncode == 0, result.stderr[-3000:]
        exported = receiver.records()

    assert {"landing-web", "lead-worker"} <= {r.service_name for r in exported}
    assert sum(1 for r in exported if r.name == "crm_updated") == 8
    report = build_report(JourneyStore(tmp_path / "store" / "journeys.db").records())
    assert dict(report.funnel)["crm_updated"] == 8
