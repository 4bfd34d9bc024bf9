"""Telemetry is flushed when a web server stops (SIGTERM, lifespan shutdown, signal hook)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _webtest import CAMPAIGN_QUERY

import leadtrace
from leadtrace import semconv
from leadtrace._runtime import Leadtrace
from leadtrace.integrations.asgi import LeadtraceMiddleware
from leadtrace.integrations.shutdown import flush_on_signal
from leadtrace.testing import OTLPReceiver

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """An OTLP receiver on 127.0.0.1."""
    with OTLPReceiver() as r:
        yield r


@pytest.mark.slow
def test_uvicorn_sigterm_exports_the_last_request(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """A request served by a real uvicorn, then SIGTERM: its spans still reach the collector."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["OTEL_BSP_SCHEDULE_DELAY"] = "60000"  # nothing leaves before the signal but the flush
    port = _free_port()
    with (
        open(tmp_path / "server.err", "w+b") as errors,
        subprocess.Popen(
            [sys.executable, str(HERE / "uvicorn_app.py"), "--endpoint", receiver.url,
             "--port", str(port)],
            stdout=subprocess.PIPE, stderr=errors, env=env, cwd=tmp_path,
        ) as server,
    ):  # fmt: skip
        _serve_then_stop(server, port, receiver)
        errors.seek(0)
        assert server.returncode == -signal.SIGTERM, errors.read().decode("utf-8", "replace")
    names = {r.name for r in receiver.records()}
    assert {"GET /", "form_viewed", "session_started"} <= names
    (page,) = [r for r in receiver.records() if r.name == "GET /"]
    assert page.attributes[semconv.CAMPAIGN_NAME] == "spring-launch"


def _serve_then_stop(server: subprocess.Popen[bytes], port: int, receiver: OTLPReceiver) -> None:
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == b"ready"
        response = httpx.get(f"http://127.0.0.1:{port}/?{CAMPAIGN_QUERY}", timeout=10)
        assert response.status_code == 200
        time.sleep(1)  # well inside the 60 s delivery delay set above: nothing exported yet
        assert receiver.records() == []
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.fixture
def batching(receiver: OTLPReceiver) -> Iterator[Leadtrace]:
    """A local handle exporting through the SDK's batch processor to the receiver."""
    handle = leadtrace.configure(
        service_name="shutdown-test", endpoint=receiver.url, local=True, environ={}
    )
    with handle.activate():
        yield handle
    handle.shutdown()


async def _django_like(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise ValueError(f"can only handle http, not {scope['type']}")


async def test_lifespan_is_spoken_for_an_app_without_it(
    batching: Leadtrace, receiver: OTLPReceiver
) -> None:
    """An ASGI app that rejects lifespan (Django) still gets the shutdown flush."""
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    leadtrace.emit("form_viewed", form_id="demo", form_version="1")
    assert receiver.records() == []
    await LeadtraceMiddleware(_django_like)({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [r.name for r in receiver.records()] == ["form_viewed"]


def test_flush_on_signal_flushes_then_calls_the_previous_handler(
    batching: Leadtrace, receiver: OTLPReceiver
) -> None:
    """The signal hook exports the queued spans, then runs the handler that was there before."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda number, frame: seen.append(number))
    try:
        flush_on_signal(signal.SIGUSR1)
        leadtrace.emit("form_viewed", form_id="demo", form_version="1")
        signal.raise_signal(signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert seen == [signal.SIGUSR1]
    assert [r.name for r in receiver.records()] == ["form_viewed"]
