"""The journey store's exporter: what it writes, several writers at once, its size bound, and
that a locked or unwritable store never raises."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

import leadtrace
from leadtrace import Campaign, semconv
from leadtrace._runtime import Leadtrace
from leadtrace.store import STORE_FILE, SQLiteSpanExporter

WRITER = """
import sys
import leadtrace
from leadtrace.store import SQLiteSpanExporter

path, service, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
exporter = SQLiteSpanExporter(path)
handle = leadtrace.configure(service_name=service, environment="test", local=True,
                             environ={}, span_exporters=[exporter])
with handle.activate():
    for i in range(count):
        with leadtrace.journey(f"{service}-{i}"):
            leadtrace.emit("form_submitted", form_id="contact")
handle.force_flush()
handle.shutdown()
print(exporter.dropped)
"""


def _handle(exporter: SQLiteSpanExporter, service: str = "landing-web") -> Leadtrace:
    return leadtrace.configure(
        service_name=service,
        environment="test",
        local=True,
        environ={},
        span_exporters=[exporter],
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[SQLiteSpanExporter, Leadtrace]]:
    """An exporter writing to a fresh store, behind a local handle that is active."""
    exporter = SQLiteSpanExporter(tmp_path / ".leadtrace" / STORE_FILE)
    handle = _handle(exporter)
    with handle.activate():
        yield exporter, handle
    handle.shutdown()


def _rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def test_an_emitted_event_lands_with_its_indexed_columns(
    store: tuple[SQLiteSpanExporter, Leadtrace],
) -> None:
    """The row carries journey, event, stage, campaign, channel and service, and every
    attribute as JSON."""
    exporter, handle = store
    campaign = Campaign(id="spring-launch", source="google", medium="cpc", channel="paid_search")
    with leadtrace.journey("j-1", campaign=campaign):
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="dach-v2")
    handle.force_flush()
    ((journey, event, stage, campaign_id, channel, service, attributes),) = _rows(
        exporter.path,
        "SELECT journey_id, event_name, stage, campaign_id, channel, service, attributes "
        "FROM spans WHERE event_name IS NOT NULL",  # the event, not the journey's own span
    )
    expected = ("j-1", "lead_routed", "lead_routed", "spring-launch", "paid_search", "landing-web")
    assert (journey, event, stage, campaign_id, channel, service) == expected
    assert json.loads(attributes)[semconv.LEAD_ID] == "L-1"
    assert _rows(exporter.path, "SELECT journey_id, campaign_id FROM journeys") == [
        ("j-1", "spring-launch")
    ]


def test_the_store_is_in_wal_mode_with_its_indexes(
    store: tuple[SQLiteSpanExporter, Leadtrace],
) -> None:
    """The file is in WAL mode and indexed on journey id, event name, campaign and time."""
    exporter, handle = store
    leadtrace.emit("form_submitted", form_id="contact")
    handle.force_flush()
    assert _rows(exporter.path, "PRAGMA journal_mode") == [("wal",)]
    leading = {  # the first column of each index (seqno 0)
        row[2]
        for index in _rows(exporter.path, "PRAGMA index_list(spans)")
        for row in _rows(exporter.path, f"PRAGMA index_info({index[1]})")
        if row[0] == 0
    }
    assert {"journey_id", "event_name", "campaign_id", "start_ns"} <= leading


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    """A web and a worker process writing 600 journeys each at the same time lose nothing."""
    path = tmp_path / STORE_FILE
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), service, "600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for service in ("web", "worker")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["0", "0"]
    assert _rows(
        path,
        "SELECT service, count(*) FROM spans WHERE event_name IS NOT NULL "
        "GROUP BY service ORDER BY service",
    ) == [("web", 600), ("worker", 600)]


def test_the_store_stays_under_its_size_limit_and_drops_oldest_journeys_first(
    tmp_path: Path,
) -> None:
    """Past max_bytes the least recently seen journeys go, the newest stay, pages in use stay
    within the limit (plus the 5 % written between two checks)."""
    exporter = SQLiteSpanExporter(tmp_path / STORE_FILE, max_bytes=128 * 1024)
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handle = leadtrace.configure(
        service_name="web", environment="test", local=True, environ={}, tracer_provider=provider
    )
    with handle.activate():
        for i in range(1500):
            with leadtrace.journey(f"journey-{i:05d}"):
                leadtrace.emit("form_submitted", form_id="contact", form_version="x" * 200)
    assert exporter.used_bytes() <= 128 * 1024 * 1.05  # checked every 5 % written
    assert exporter.evicted_journeys > 0
    assert exporter.dropped == 0
    kept = [row[0] for row in _rows(exporter.path, "SELECT journey_id FROM journeys")]
    assert "journey-01499" in kept
    assert "journey-00000" not in kept
    assert min(kept) > "journey-00000"
    assert len(kept) == _rows(exporter.path, "SELECT count(DISTINCT journey_id) FROM spans")[0][0]
    provider.shutdown()


def test_a_locked_store_fails_the_batch_quickly_and_counts_it(tmp_path: Path) -> None:
    """While another process holds the write lock, export returns FAILURE within the busy
    timeout, counts the spans, never raises, and writes again once the lock is gone."""
    path = tmp_path / STORE_FILE
    exporter = SQLiteSpanExporter(path, busy_timeout_ms=100)
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    span = tracer.start_span("first")
    span.end()
    assert exporter.export([span]) == SpanExportResult.SUCCESS  # type: ignore[list-item]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    assert exporter.export([span, span]) == SpanExportResult.FAILURE  # type: ignore[list-item]
    assert time.monotonic() - started < 2.0
    assert exporter.dropped == 2
    blocker.execute("ROLLBACK")
    blocker.close()
    assert exporter.export([span]) == SpanExportResult.SUCCESS  # type: ignore[list-item]


def test_drops_are_counted_in_a_metric(tmp_path: Path) -> None:
    """leadtrace.store.dropped_spans reports the spans an unwritable store refused."""
    (tmp_path / "not-a-dir").write_text("x")
    reader = InMemoryMetricReader()
    exporter = SQLiteSpanExporter(
        tmp_path / "not-a-dir" / STORE_FILE, meter_provider=MeterProvider(metric_readers=[reader])
    )
    span = TracerProvider().get_tracer("t").start_span("s")
    span.end()
    exporter.export([span, span])  # type: ignore[list-item]
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: [p.value for p in metric.data.data_points]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert points == {"leadtrace.store.dropped_spans": [2], "leadtrace.store.evicted_journeys": [0]}


def test_an_unwritable_store_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A store path under a regular file fails every batch, counted and logged once."""
    (tmp_path / "not-a-dir").write_text("x")
    exporter = SQLiteSpanExporter(tmp_path / "not-a-dir" / STORE_FILE)
    span = TracerProvider().get_tracer("t").start_span("s")
    span.end()
    for _ in range(3):
        assert exporter.export([span]) == SpanExportResult.FAILURE  # type: ignore[list-item]
    assert exporter.dropped == 3
    warnings = [r for r in caplog.records if r.name == "leadtrace.store"]
    assert len(warnings) == 1
    assert "refused 1 spans" in warnings[0].getMessage()


def test_after_shutdown_exports_fail_without_raising(tmp_path: Path) -> None:
    """A shut-down exporter refuses batches instead of reopening the file."""
    exporter = SQLiteSpanExporter(tmp_path / STORE_FILE)
    exporter.shutdown()
    span = TracerProvider().get_tracer("t").start_span("s")
    span.end()
    assert exporter.export([span]) == SpanExportResult.FAILURE  # type: ignore[list-item]
    assert not (tmp_path / STORE_FILE).exists()


GLOBAL_SETUP = """
import leadtrace
handle = leadtrace.configure(service_name="landing-web")
with leadtrace.journey("journey-1"):
    leadtrace.emit("form_submitted", form_id="contact")
handle.shutdown()
"""


def test_configure_without_an_endpoint_writes_the_store_and_json_lines(tmp_path: Path) -> None:
    """A global configure() with no endpoint writes .leadtrace/journeys.db and spans.jsonl."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(leadtrace.__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", GLOBAL_SETUP], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _rows(
        tmp_path / ".leadtrace" / STORE_FILE, "SELECT journey_id, name FROM spans ORDER BY name"
    ) == [("journey-1", "form_submitted"), ("journey-1", "journey")]
    assert (tmp_path / ".leadtrace" / "spans.jsonl").read_text().count("\n") == 2


def test_local_store_setting_chooses_the_stores(tmp_path: Path) -> None:
    """LEADTRACE_LOCAL_STORE=jsonl writes no journey store; a bad value raises ConfigError."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(leadtrace.__file__).parents[1]),
        "LEADTRACE_LOCAL_STORE": "jsonl",
    }
    result = subprocess.run(
        [sys.executable, "-c", GLOBAL_SETUP], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".leadtrace" / STORE_FILE).exists()
    with pytest.raises(leadtrace.ConfigError, match="LEADTRACE_LOCAL_STORE"):
        leadtrace.configure(
            service_name="s", local=True, environ={"LEADTRACE_LOCAL_STORE": "postgres"}
        )
