"""Two processes (web + worker) export over real OTLP/HTTP; journeys are asserted across them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from leadtrace.testing import (
    Journey,
    JourneyAssertionError,
    OTLPReceiver,
    SyntheticIdentities,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
UTM = {"utm_id": "spring-launch", "utm_source": "google", "utm_medium": "cpc"}
WEB_STAGES = ["session_started", "form_submitted", "lead_created"]
WORKER_STAGES = ["lead_enriched", "lead_routed", "crm_updated"]


def _posts() -> list[dict[str, object]]:
    people = SyntheticIdentities(run="e2e")
    happy, no_utm, no_consent, slow, abroad = (people.next() for _ in range(5))

    def post(ref: str, email: str, query: dict[str, str], **form: str) -> dict[str, object]:
        fields = {"email": email, "company": "acme.example", "country": "DE", "consent": "yes"}
        fields.update(form)
        return {"ref": ref, "query": query, "form": fields}

    return [
        post("happy", happy.email, UTM),
        post("missing_utm", no_utm.email, {}),
        post("consent_missing", no_consent.email, UTM, consent="no"),
        post("enrichment_timeout", slow.email, UTM, company="slow-corp.example"),
        post("crm_duplicate", happy.email, UTM),
        post("wrong_owner", abroad.email, UTM, country="AT"),
    ]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["LEADTRACE_HASH_KEY"] = "e2e-shared-hash-key-of-at-least-32-bytes"
    return env


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OTLPReceiver, dict[str, str]]]:
    """Run the web process piped into the worker, both exporting to one OTLP receiver."""
    workdir = tmp_path_factory.mktemp("e2e")
    responses = workdir / "responses.jsonl"
    with (
        OTLPReceiver() as receiver,
        open(workdir / "web.err", "w+b") as web_err,
        open(workdir / "worker.err", "w+b") as worker_err,
    ):
        env = _clean_env()
        env["LEADTRACE_LOCAL_DIR"] = str(workdir / ".leadtrace")
        web = subprocess.Popen(
            [sys.executable, str(HERE / "web_app.py"), "--endpoint", receiver.url,
             "--responses", str(responses)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=web_err, env=env, cwd=workdir,
        )  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), "--endpoint", receiver.url],
            stdin=web.stdout, stdout=subprocess.DEVNULL, stderr=worker_err, env=env, cwd=workdir,
        )  # fmt: skip
        assert web.stdin is not None
        assert web.stdout is not None
        web.stdout.close()  # the worker owns the read end now
        web.stdin.write("".join(json.dumps(p) + "\n" for p in _posts()).encode())
        web.stdin.close()
        assert web.wait(timeout=60) == 0, _read(web_err)
        assert worker.wait(timeout=60) == 0, _read(worker_err)
        refs = {
            r["ref"]: r["journey_id"]
            for r in map(json.loads, responses.read_text(encoding="utf-8").splitlines())
        }
        yield receiver, refs


def _journey(run: tuple[OTLPReceiver, dict[str, str]], ref: str) -> Journey:
    receiver, refs = run
    return receiver.journey(refs[ref]).wait_for("form_submitted", "crm_updated", timeout=10)


def test_happy_journey_is_healthy_across_both_processes(
    run: tuple[OTLPReceiver, dict[str, str]],
) -> None:
    """The happy journey has every stage of both services, in order, with nothing broken."""
    journey = _journey(run, "happy")
    journey.assert_stages([*WEB_STAGES, *WORKER_STAGES, "sales_acknowledged"])
    journey.assert_healthy()
    journey.assert_fields("crm_updated")
    journey.assert_consent("lead_routed", "granted")
    journey.assert_attribution(campaign_id="spring-launch")
    journey.assert_dedupe("created", stage="crm_updated")
    assert {r.service_name for r in journey.stage_spans} == {"landing-web", "lead-worker"}
    assert journey.synthetic


def test_happy_journey_is_one_journey_for_the_web_and_the_worker(
    run: tuple[OTLPReceiver, dict[str, str]],
) -> None:
    """Both processes' spans join on the journey id carried by inject/extract."""
    journey = _journey(run, "happy")
    services = {r.stage: r.service_name for r in journey.stage_spans}
    assert services["form_submitted"] == "landing-web"
    assert services["crm_updated"] == "lead-worker"


def test_routing_happens_within_the_slo_window(run: tuple[OTLPReceiver, dict[str, str]]) -> None:
    """The happy lead is routed within 300 s of the journey start."""
    _journey(run, "happy").assert_within("journey_start", "lead_routed", 300)


@pytest.mark.parametrize(
    ("ref", "layer", "stage", "problem"),
    [
        ("missing_utm", "capture", "form_submitted", "campaign.source=<missing>"),
        ("consent_missing", "capture", "form_submitted", "consent.status=<missing>"),
        ("enrichment_timeout", "enrichment", "lead_enriched", "EnrichmentTimeoutError"),
        ("crm_duplicate", "crm", "crm_updated", "lead.dedupe_outcome='conflict'"),
        ("wrong_owner", "routing", "lead_routed", "routing.owner_id='U-DE'"),
    ],
)
def test_failure_is_reported_in_its_layer(
    run: tuple[OTLPReceiver, dict[str, str]], ref: str, layer: str, stage: str, problem: str
) -> None:
    """Each broken journey's first failure names the layer and stage that broke, and why."""
    journey = _journey(run, ref)
    failure = journey.assert_failure(layer, stage=stage)
    assert problem in failure.arrived
    with pytest.raises(JourneyAssertionError) as raised:
        journey.assert_healthy()
    assert (raised.value.stage, raised.value.layer) == (stage, layer)
    assert f"broke at stage {stage!r} (layer {layer}" in str(raised.value)


def test_duplicate_is_visible_as_a_dedupe_outcome(run: tuple[OTLPReceiver, dict[str, str]]) -> None:
    """The CRM's 409 arrives as dedupe outcome ``conflict`` with no record id."""
    journey = _journey(run, "crm_duplicate").assert_dedupe("conflict", stage="crm_updated")
    assert journey.stage("crm_updated").attributes.get("martech.crm.record_id") is None


def test_consent_missing_fails_assert_consent_with_the_arrived_value(
    run: tuple[OTLPReceiver, dict[str, str]],
) -> None:
    """assert_consent on a journey without consent says the status arrived missing."""
    journey = _journey(run, "consent_missing")
    with pytest.raises(JourneyAssertionError, match=r"arrived:  consent\.status=<missing>"):
        journey.assert_consent("form_submitted", "granted")


def test_every_journey_is_flagged_synthetic(run: tuple[OTLPReceiver, dict[str, str]]) -> None:
    """Journeys started from synthetic addresses carry the synthetic flag in both services."""
    receiver, refs = run
    assert all(receiver.journey(j).synthetic for j in refs.values())


def test_both_processes_exported_to_the_receiver(run: tuple[OTLPReceiver, dict[str, str]]) -> None:
    """Span exports arrived from both services and the receiver rejected none."""
    receiver, _ = run
    assert {r.service_name for r in receiver.records()} == {"landing-web", "lead-worker"}
    assert receiver.requests["rejected"] == 0
