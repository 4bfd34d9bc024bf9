"""With a hanging collector, flush and shutdown end by their deadline, tell the truth, and
leave the unsent spans in the spool for the next start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import leadtrace
from leadtrace import semconv
from leadtrace.delivery import Spool
from leadtrace.testing import OTLPReceiver

SLACK_S = 2.0
"""Generous: these check that a deadline holds at all, not how fast anything is."""


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on a free port of 127.0.0.1."""
    with OTLPReceiver() as r:
        yield r


def _handle(receiver: OTLPReceiver, spool: Path) -> leadtrace.Leadtrace:
    return leadtrace.configure(
        service_name="svc",
        validation="lenient",
        endpoint=receiver.url,
        spool_dir=str(spool),
        export_timeout=30,
        local=True,
        environ={},
    )


def _emit(count: int, prefix: str) -> list[str]:
    return [leadtrace.emit("form_viewed", form_id=f"{prefix}-{n}") for n in range(count)]


def test_flush_and_shutdown_end_in_time_and_spool_the_rest(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """force_flush(1000) and shutdown(1000) against a collector that never answers each return
    within the deadline (flush says False), and a later start delivers every span."""
    receiver.hang()
    handle = _handle(receiver, tmp_path)
    with handle.activate():
        first = _emit(20, "a")
        started = time.monotonic()
        flushed = handle.force_flush(1000)
        flush_took = time.monotonic() - started
        second = _emit(5, "b")
    assert flushed is False
    assert flush_took < 1.0 + SLACK_S
    assert Spool(tmp_path, 10**9).pending() == 20
    started = time.monotonic()
    handle.shutdown(timeout_millis=1000)
    assert time.monotonic() - started < 1.0 + SLACK_S
    assert Spool(tmp_path, 10**9).pending() == 25
    assert receiver.records() == []

    receiver.accept()
    later = _handle(receiver, tmp_path)
    assert later.force_flush(10_000)
    later.shutdown()
    arrived = [r.attributes[semconv.EVENT_ID] for r in sorted(receiver.records(), key=_seq)]
    assert arrived == first + second


def _seq(record: object) -> int:
    return record.sequence  # type: ignore[attr-defined, no-any-return]


_EXIT_CHILD = textwrap.dedent(
    """
    import leadtrace
    leadtrace.configure(service_name="svc", validation="lenient")
    for n in range(10):
        leadtrace.emit("form_viewed", form_id=f"f{n}")
    """
)


@pytest.mark.slow
def test_process_exit_is_bounded_by_the_shutdown_timeout(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """A process that exits while the collector hangs takes about its shutdown timeout, not
    the exporter's retries, and its spans wait in the spool under its local folder."""
    receiver.hang()
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "LEADTRACE_LOCAL_DIR": str(tmp_path),
        "LEADTRACE_CONSENT_AUDIT_LOG": "off",
        "LEADTRACE_SHUTDOWN_TIMEOUT": "1",
        "LEADTRACE_EXPORT_TIMEOUT": "1",
    }
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _EXIT_CHILD], env=env, timeout=60, check=True)
    took = time.monotonic() - started
    assert Spool(tmp_path / "spool", 10**9).pending() == 10
    # Interpreter start and imports take about a second; exit adds the spans' and the
    # metrics' deadlines.
    assert took < 1.0 + 1.0 + 2 * SLACK_S
