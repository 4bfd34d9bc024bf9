"""Consent before cookies, in headless Chromium against examples/landing/ under a real uvicorn.

The first-touch cookie is written only once the visitor accepts the banner; Reject writes none
(and deletes one written before), so a later visit is a new journey; Accept keeps the touch of
the landing URL. Spans are read from the OTLP receiver after the server stops on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _stack import CHROMIUM, CHROMIUM_ARGS, ROOT

from leadtrace import semconv
from leadtrace.testing import OTLPReceiver, SpanRecord

pytestmark = pytest.mark.slow

APP = ROOT / "examples" / "landing" / "app.py"
COOKIE = "leadtrace_touch"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import BrowserContext, Page, sync_playwright  # noqa: E402


@dataclass
class Landing:
    """The running landing example: its base URL, start-up lines and receiver."""

    base: str
    banner: list[str]
    receiver: OTLPReceiver
    server: subprocess.Popen[bytes]

    def stop(self) -> list[SpanRecord]:
        """SIGTERM the server (it flushes on the lifespan shutdown); every span received."""
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(timeout=20)
        return self.receiver.records()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the landing example did not start listening")


@pytest.fixture
def landing(tmp_path: Path) -> Iterator[Landing]:
    """examples/landing/app.py served by uvicorn, exporting to an OTLP receiver."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    port = _free_port()
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        with subprocess.Popen(
            [sys.executable, str(APP), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path,
        ) as server:  # fmt: skip
            try:
                assert server.stdout is not None
                banner = [server.stdout.readline().decode().strip() for _ in range(3)]
                _wait_listening(port)
                yield Landing(f"http://127.0.0.1:{port}", banner, receiver, server)
            finally:
                if server.poll() is None:
                    server.kill()


@pytest.fixture
def browser_context() -> Iterator[Iterator[BrowserContext]]:
    """Fresh browser profiles (one per call of the yielded factory) in headless Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def contexts() -> Iterator[BrowserContext]:
            while True:
                yield browser.new_context()

        yield contexts()
        browser.close()


def _touch_cookie(page: Page) -> dict[str, object] | None:
    return next((dict(c) for c in page.context.cookies() if c["name"] == COOKIE), None)


def _server(records: list[SpanRecord], since: int, until: int) -> list[SpanRecord]:
    """Server spans of the landing routes that started in ``[since, until)``, in order."""
    spans = [
        r
        for r in records
        if r.name in {"GET /", "POST /consent", "POST /demo", "GET /privacy"}
        and since <= r.start_ns < until
    ]
    return sorted(spans, key=lambda r: r.start_ns)


def test_landing_prints_its_url_and_where_spans_go(landing: Landing) -> None:
    """At start-up the example prints the URL to open and the collector its spans go to."""
    assert landing.banner[0].startswith(f"landing page: {landing.base}/?utm_source=")
    assert landing.banner[1].startswith("leadtrace 0.1.0: service 'landing-web'")
    assert landing.banner[2] == f"spans:    over OTLP (http/protobuf) to {landing.receiver.url}"


def test_reject_accept_and_change_of_mind(
    landing: Landing, browser_context: Iterator[BrowserContext]
) -> None:
    """Reject: no cookie, a new journey per visit. Accept: the landing touch is kept until
    the visitor rejects in the cookie settings, which deletes the cookie."""
    start = time.time_ns()
    page = next(browser_context).new_page()
    page.goto(f"{landing.base}/?utm_source=google&utm_medium=cpc&utm_campaign=reject-path")
    assert _touch_cookie(page) is None
    page.click("button[value=reject]")
    page.wait_for_selector("#demo-request")
    assert _touch_cookie(page) is None
    page.goto(f"{landing.base}/")
    assert _touch_cookie(page) is None
    page.context.close()

    accept_start = time.time_ns()
    page = next(browser_context).new_page()
    page.goto(f"{landing.base}/?utm_source=google&utm_medium=cpc&utm_campaign=accept-path")
    assert _touch_cookie(page) is None
    page.click("button[value=accept]")
    page.wait_for_selector("#demo-request")
    cookie = _touch_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=name]", "Ada")
    page.click("#demo-request button[type=submit]")
    page.wait_for_selector("#thanks")
    change_start = time.time_ns()
    page.goto(f"{landing.base}/privacy")
    page.click("button[value=reject]")
    page.wait_for_selector("#demo-request")
    assert _touch_cookie(page) is None
    page.context.close()
    end = time.time_ns()

    records = landing.stop()
    rejected = _server(records, start, accept_start)
    assert [r.name for r in rejected] == ["GET /", "POST /consent", "GET /", "GET /"]
    journeys = [r.attributes[semconv.JOURNEY_ID] for r in rejected]
    assert len(set(journeys)) == 4  # nothing continues a journey without a cookie
    assert {r.attributes[semconv.JOURNEY_ORIGIN] for r in rejected} == {"new"}

    accepted = _server(records, accept_start, change_start)
    assert [r.name for r in accepted] == ["GET /", "POST /consent", "GET /", "POST /demo"]
    landing_view, consent, *after = accepted
    assert landing_view.attributes[semconv.CAMPAIGN_COOKIE] == semconv.COOKIE_WITHHELD
    assert consent.attributes[semconv.CAMPAIGN_COOKIE] == semconv.COOKIE_NEW
    assert consent.attributes[semconv.CAMPAIGN_NAME] == "accept-path"
    assert {r.attributes[semconv.JOURNEY_ID] for r in after} == {
        consent.attributes[semconv.JOURNEY_ID]
    }
    (submitted,) = [
        r for r in records if r.name == "form_submitted" and accept_start <= r.start_ns < end
    ]
    assert submitted.attributes[semconv.CAMPAIGN_NAME] == "accept-path"
    assert submitted.attributes[semconv.JOURNEY_ID] == consent.attributes[semconv.JOURNEY_ID]

    changed = _server(records, change_start, end)
    assert [r.name for r in changed] == ["GET /privacy", "POST /consent", "GET /"]
    assert changed[1].attributes[semconv.CAMPAIGN_COOKIE] == semconv.COOKIE_DELETED
    assert changed[2].attributes[semconv.JOURNEY_ID] != consent.attributes[semconv.JOURNEY_ID]
