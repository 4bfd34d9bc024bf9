"""``leadtrace demo``: a campaign's leads flow through a small marketing stack, some break.

What runs, all on 127.0.0.1 and in separate processes where a real stack has them:

- the landing page (``examples/landing/app.py``, FastAPI under uvicorn) with its consent
  banner and demo-request form, instrumented with leadtrace;
- the lead pipeline worker (``examples/pipeline/worker.py``): dedupe, enrichment, routing and
  the CRM write through the real ``hubspot-api-client``;
- a stand-in for HubSpot's contacts API (``examples/pipeline/hubspot_standin.py``; not
  HubSpot), in this process;
- this driver, playing a few hundred visitors: each clicks a campaign link, answers the
  consent banner and requests a demo.

A share of the visitors meet one fault each (``--faults``), the failures the domain brief
describes: links without UTM tags, consent lost between form and router, a slow enrichment
provider, CRM duplicates, a routing-rule edit that sends leads to the wrong owner, and a CRM
outage. Then it stops the services the way Docker or Kubernetes would (SIGTERM), reads what
they recorded, and reports which layer broke, for how many leads, and why, next to what it
injected.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "pipeline"))

import hubspot_standin  # noqa: E402  (examples/pipeline is not a package)

from leadtrace.report import HealthReport  # noqa: E402

FAULTS: Mapping[str, str] = {
    "missing_utm": "campaign link without UTM tags",
    "consent_missing": "legacy form v2 drops consent on the hand-off to the router",
    "enrichment_lag": "enrichment provider answers too late",
    "crm_duplicate": "contact already created in the CRM by another system",
    "routing_drift": "routing-rule edit sends Austria to the wrong owner",
    "crm_5xx": "CRM answers 503 through every retry",
}
"""Fault kinds the driver can inject, and what each one is."""

EXPECTED: Mapping[str, tuple[str, str, str]] = {
    "missing_utm": ("capture", "form_submitted", "required fields missing"),
    "consent_missing": ("identity", "lead_created", "required fields missing"),
    "enrichment_lag": ("enrichment", "lead_enriched", "enrichment timeout"),
    "crm_duplicate": ("crm", "crm_updated", "CRM write rejected (conflict)"),
    "routing_drift": ("routing", "lead_routed", "routed to the wrong owner"),
    "crm_5xx": ("crm", "crm_updated", "stage failed"),
}
"""Where each fault should be found: layer, stage and problem of the journey's first failure."""

DEFAULT_FAULTS = (
    "missing_utm=6%,consent_missing=4%,enrichment_lag=5%,crm_duplicate=4%,routing_drift=5%,"
    "crm_5xx=3%"
)
HEALTHY_COUNTRIES = ("US", "GB", "DE", "FR", "CH")
CAMPAIGN_QUERY = "utm_source=google&utm_medium=cpc&utm_campaign=spring-launch&utm_id=spring-launch"
DEMO_HASH_KEY = "leadtrace-demo-hash-key-shared-by-both-services"


class FaultSpecError(ValueError):
    """``--faults`` is not ``name=N%,...`` with known names and shares that add up."""


def parse_faults(spec: str) -> dict[str, float]:
    """``"missing_utm=5%,crm_5xx=2%"`` -> ``{"missing_utm": 0.05, "crm_5xx": 0.02}``."""
    shares: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in FAULTS:
            raise FaultSpecError(
                f"--faults: {part!r} is not NAME=N% with NAME one of {', '.join(FAULTS)}"
            )
        try:
            share = float(value.rstrip("%")) / 100
        except ValueError:
            raise FaultSpecError(f"--faults: {part!r}: {value!r} is not a percentage") from None
        if not 0 <= share <= 1:
            raise FaultSpecError(f"--faults: {part!r}: the share must be 0% to 100%")
        shares[name] = share
    if sum(shares.values()) > 1:
        raise FaultSpecError("--faults: the shares add up to more than 100%")
    return shares


@dataclass(frozen=True)
class Visitor:
    """One synthetic visitor and the fault their journey meets (None: a healthy journey)."""

    number: int
    fault: str | None

    @property
    def email(self) -> str:
        return f"lead{self.number:04d}@example.com"

    @property
    def company(self) -> str:
        if self.fault == "enrichment_lag":
            return "slow-corp.example"
        if self.fault == "crm_5xx":
            return "flaky-crm.example"
        return f"company-{self.number % 37}.example"

    @property
    def country(self) -> str:
        if self.fault == "routing_drift":
            return "AT"
        return HEALTHY_COUNTRIES[self.number % len(HEALTHY_COUNTRIES)]


def plan_visitors(count: int, faults: Mapping[str, float], seed: int) -> list[Visitor]:
    """``count`` visitors; each fault gets its share (rounded), spread at random."""
    kinds: list[str | None] = []
    for name, share in faults.items():
        kinds += [name] * round(share * count)
    kinds += [None] * (count - len(kinds))
    random.Random(seed).shuffle(kinds)
    return [Visitor(n + 1, kind) for n, kind in enumerate(kinds[:count])]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a demo service exited at start-up with code {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"a demo service did not listen on port {port} within {timeout:.0f} s")


@contextmanager
def services(store: Path, crm_url: str) -> Iterator[str]:
    """Start the worker and the landing page; yield the landing URL; SIGTERM both after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADTRACE_")}
    store.mkdir(parents=True, exist_ok=True)
    env.update(
        DEMO_STORE=str(store / "journeys.db"),
        LEADTRACE_LOCAL_DIR=str(store),
        LEADTRACE_HASH_KEY=DEMO_HASH_KEY,
        LEADTRACE_CONSENT_AUDIT_LOG="off",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent / "src"), env.get("PYTHONPATH")])),
    )
    worker_port, landing_port = _free_port(), _free_port()
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "pipeline" / "worker.py"), "--port", str(worker_port),
         "--crm", crm_url],
        env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    landing_env = {**env, "DEMO_WORKER_URL": f"http://127.0.0.1:{worker_port}"}
    landing = subprocess.Popen(
        [sys.executable, str(HERE / "landing" / "app.py"), "--port", str(landing_port)],
        env=landing_env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(worker_port, worker)
        _wait_for_port(landing_port, landing)
        yield f"http://127.0.0.1:{landing_port}"
    finally:
        for process in (landing, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (landing, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def visit(landing: str, visitor: Visitor, crm: hubspot_standin.Contacts) -> None:
    """One visitor's journey: campaign click, consent banner, demo request."""
    if visitor.fault == "crm_duplicate":
        crm.create(visitor.email)  # another system (a list import) created the contact first
    query = (
        "" if visitor.fault == "missing_utm" else f"?{CAMPAIGN_QUERY}&gclid=demo{visitor.number}"
    )
    with httpx.Client(base_url=landing, timeout=20.0, follow_redirects=True) as browser:
        page = f"{landing}/{query}"
        browser.get(page).raise_for_status()
        # A browser sends the page it is on as Referer: before any cookie, that is what
        # carries the campaign touch to the consent answer.
        browser.post("/consent", data={"choice": "accept"}, headers={"Referer": page})
        form = {
            "email": visitor.email,
            "name": f"Lead {visitor.number}",
            "company": visitor.company,
            "country": visitor.country,
            "team_size": "11-50",
            "form_version": "2" if visitor.fault == "consent_missing" else "3",
        }
        browser.post("/demo", data=form, headers={"Referer": f"{landing}/"}).raise_for_status()


def run(journeys: int, faults: Mapping[str, float], seed: int, store: Path) -> list[Visitor]:
    """Drive ``journeys`` visitors through the stack; the services record into ``store``."""
    from rich.progress import Progress

    visitors = plan_visitors(journeys, faults, seed)
    crm_server = hubspot_standin.serve()
    contacts = crm_server.contacts
    crm_url = f"http://127.0.0.1:{crm_server.server_port}"
    try:
        with services(store, crm_url) as landing, Progress(transient=True) as progress:
            task = progress.add_task("visitors", total=len(visitors))
            for visitor in visitors:
                visit(landing, visitor, contacts)
                progress.advance(task)
    finally:
        crm_server.stop()
    return visitors


def main(argv: list[str] | None = None) -> int:
    """Run the demo and print the health report."""
    parser = argparse.ArgumentParser(prog="leadtrace demo", description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=300, help="visitors to drive (300)")
    parser.add_argument(
        "--faults", default=DEFAULT_FAULTS, help=f"fault mix, NAME=N%%,... ({DEFAULT_FAULTS})"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed of the fault mix")
    parser.add_argument("--store", default=".leadtrace/demo", help="where the services record")
    parser.add_argument("--html", default=None, help="HTML report path (<store>/report.html)")
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.faults)
    except FaultSpecError as exc:
        parser.error(str(exc))
    store = Path(args.store)
    shutil.rmtree(store, ignore_errors=True)
    started = time.monotonic()
    visitors = run(args.journeys, faults, args.seed, store)
    elapsed = time.monotonic() - started
    html_path = Path(args.html) if args.html else store / "report.html"
    report_and_compare(visitors, store, html_path, elapsed)
    return 0


def found_by_fault(report: HealthReport) -> dict[str, int]:
    """Broken journeys the report found where each fault kind shows up."""
    groups = {(b.layer, b.stage, b.problem): b.journeys for b in report.breakages}
    return {fault: groups.get(where, 0) for fault, where in EXPECTED.items()}


def report_and_compare(
    visitors: list[Visitor], store: Path, html_path: Path, elapsed: float
) -> HealthReport:
    """Print the health report and what it found next to what was injected; write the HTML."""
    from rich.console import Console
    from rich.table import Table

    from leadtrace.report import build_report, print_report, render_html, statuses_for
    from leadtrace.store.queries import JourneyStore

    console = Console()
    records = JourneyStore(store / "journeys.db").records()
    report = build_report(records)
    statuses = statuses_for(report, records)
    console.print(f"\n[bold]leadtrace demo[/bold]: {len(visitors)} visitors in {elapsed:.0f} s")
    console.print(
        "(a visitor's page views before the consent answer are a journey of their own: with "
        "opt-in consent no cookie may link them to what follows)\n"
    )
    print_report(report, statuses, console)
    injected = Counter(v.fault for v in visitors if v.fault)
    found = found_by_fault(report)
    table = Table(title="Injected faults and what the report found", title_justify="left")
    for column in ("fault", "what it is", "injected", "found", "where (layer / stage)"):
        table.add_column(column, justify="right" if column in ("injected", "found") else "left")
    for fault, what in FAULTS.items():
        layer, stage, _ = EXPECTED[fault]
        table.add_row(fault, what, str(injected[fault]), str(found[fault]), f"{layer} / {stage}")
    console.print(table)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(
        render_html(report, statuses, title="Campaign signal health: leadtrace demo"),
        encoding="utf-8",
    )
    console.print(f"HTML report: {html_path}")
    db = store / "journeys.db"
    console.print(f"Journey store: {db}")
    console.print(f"  leadtrace journeys --db {db} --broken   |   leadtrace report --db {db}")
    return report


if __name__ == "__main__":
    sys.exit(main())
