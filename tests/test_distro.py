"""Zero-code setup: a script run under `opentelemetry-instrument` exports vendor spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadtrace import semconv
from leadtrace._distro import LeadtraceDistro
from leadtrace.testing import OTLPReceiver

SCRIPT = Path(__file__).parent / "integrations" / "scripts" / "zero_code_hubspot.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


@pytest.mark.slow
def test_opentelemetry_instrument_exports_the_vendor_span_in_its_journey(
    leadtrace_receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """No setup code: the HubSpot span and crm_updated arrive over OTLP with the journey.

    The HubSpot span is the call's HTTP client span: urllib3's instrumentation (loaded, as
    the script's own request shows) makes no span under it and sends HubSpot no
    ``traceparent``.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))},
        "LEADTRACE_OTLP_ENDPOINT": leadtrace_receiver.url,
        "LEADTRACE_SERVICE_NAME": "zero-code",
        "LEADTRACE_ENVIRONMENT": "test",
        "LEADTRACE_LOCAL_DIR": str(tmp_path),  # the global setup's consent audit trail
        "OTEL_PYTHON_DISTRO": "leadtrace",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "django,flask,fastapi",
    }
    done = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *_, headers, journey_id = done.stdout.strip().splitlines()
    journey = leadtrace_receiver.journey(journey_id).wait_for("crm_updated", timeout=10)
    (span,) = [s for s in journey.spans if s.name == "hubspot crm.contacts create"]
    assert span.service_name == "zero-code"
    assert span.attributes[semconv.CAMPAIGN_ID] == "zero-code"
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    (event,) = journey.events("crm_updated")
    assert event.attributes[semconv.CRM_RECORD_ID] == "512"
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["server.address"] == "127.0.0.1"
    children = [s for s in leadtrace_receiver.records() if s.parent_span_id == span.span_id]
    assert [s.name for s in children] == ["crm_updated"]
    assert [s.name for s in journey.spans].count("POST") == 1  # urllib3 instrumented
    assert json.loads(headers) == {"/crm/v3/objects/contacts": False, "/own-service": True}


def test_distro_makes_leadtrace_the_configurator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Choosing the leadtrace distro makes its configurator the default, unless one is set."""
    monkeypatch.delenv("OTEL_PYTHON_CONFIGURATOR", raising=False)
    LeadtraceDistro().configure()
    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "leadtrace"
    monkeypatch.setenv("OTEL_PYTHON_CONFIGURATOR", "sdk")
    LeadtraceDistro().configure()
    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "sdk"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "where"),
    [("LEADTRACE_SCRUB", "configure()"), ("LEADTRACE_PRODUCER_SPANS", "the Segment instrumentor")],
)
def test_a_bad_setting_is_named_at_start_up(variable: str, where: str, tmp_path: Path) -> None:
    """A bad variable (read by ``where``) is named in the launcher's start-up error; the
    launcher then runs the app without (the rest of) its instrumentation, as it always does."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))},
        "LEADTRACE_SERVICE_NAME": "zero-code",
        "LEADTRACE_LOCAL_DIR": str(tmp_path),
        "OTEL_PYTHON_DISTRO": "leadtrace",
        "OTEL_TRACES_EXPORTER": "none",
        variable: "sometimes",
    }
    done = subprocess.run(
        [str(INSTRUMENT), sys.executable, "-c", "print('app ran')"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Failed to auto initialize OpenTelemetry" in done.stderr
    assert f"ConfigError: setting '{variable}' must be true or false, got 'sometimes'" in (
        done.stderr
    )
    assert done.stdout.strip() == "app ran"
