"""Using leadtrace before configure(): it works, and says once that nothing is recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import leadtrace

@leadtrace.stage("lead_routed")
def route() -> str:
    return "U-7"

for _ in range(3):
    with leadtrace.journey():
        leadtrace.emit("form_submitted", form_id="demo", field_names=["email"])
        route()
print("app carried on")
"""

_SDK_FIRST = (
    """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
"""
    + _SCRIPT
)


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_journeys_without_configure_warn_once_per_process(tmp_path: Path) -> None:
    """Three journeys with no configure() and no SDK: one warning naming the fix, no crash."""
    result = _run(_SCRIPT, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "app carried on"
    assert result.stderr.count("events are recorded nowhere") == 1
    assert "leadtrace.configure()" in result.stderr


def test_an_app_with_its_own_sdk_provider_gets_no_warning(tmp_path: Path) -> None:
    """With an SDK TracerProvider installed by the app, events are recorded: nothing to say."""
    result = _run(_SDK_FIRST, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "recorded nowhere" not in result.stderr
