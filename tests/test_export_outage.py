"""Collector outages lose nothing within the spool's cap, and every span lost past it is counted."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _metrics import counter_points
from leadtrace import semconv
from leadtrace.delivery import Spool
from leadtrace.testing import OTLPReceiver


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on a free port of 127.0.0.1."""
    with OTLPReceiver() as r:
        yield r


def _emit(count: int, prefix: str) -> list[str]:
    return [
        leadtrace.emit("lead_created", lead_id=f"{prefix}-{n}", dedupe_outcome="created")
        for n in range(count)
    ]


def _dropped(reader: InMemoryMetricReader) -> dict[str, int]:
    points = counter_points(reader, "leadtrace.spans.dropped")
    return {dict(key)["reason"]: value for key, value in points.items() if value}


def test_ok_refuse_ok_loses_nothing_and_replays_in_order(
    receiver: OTLPReceiver, tmp_path: Path
) -> None:
    """Spans emitted while the collector answers 503 wait in the spool and arrive, once each,
    before the spans emitted after it recovered."""
    reader = InMemoryMetricReader()
    handle = leadtrace.configure(
        service_name="svc",
        validation="lenient",
        endpoint=receiver.url,
        spool_dir=str(tmp_path),
        export_timeout=1,
        local=True,
        metric_readers=[reader],
        environ={},
    )
    with handle.activate():
        before = _emit(50, "before")
        assert handle.force_flush(10_000)
        receiver.refuse(503)
        during = _emit(120, "during")
        assert handle.force_flush(5_000) is False
        assert Spool(tmp_path, 10**9).pending() == 120
        receiver.accept()
        after = _emit(30, "after")
        assert handle.force_flush(10_000)
    handle.shutdown()
    arrived = [r.attributes[semconv.EVENT_ID] for r in sorted(receiver.records(), key=_seq)]
    assert arrived == before + during + after
    assert Spool(tmp_path, 10**9).pending() == 0
    assert _dropped(reader) == {}
    assert counter_points(reader, "leadtrace.spans.spooled") == {(): 120}
    assert counter_points(reader, "leadtrace.spans.replayed") == {(): 120}


def _seq(record: object) -> int:
    return record.sequence  # type: ignore[attr-defined, no-any-return]


def test_past_the_spool_cap_the_drop_count_is_exact(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """With a small spool, what does not fit is counted as spool_full, and received plus
    dropped equals emitted, exactly."""
    reader = InMemoryMetricReader()
    handle = leadtrace.configure(
        service_name="svc",
        validation="lenient",
        endpoint=receiver.url,
        spool_dir=str(tmp_path),
        spool_max_bytes=100_000,
        export_timeout=1,
        local=True,
        metric_readers=[reader],
        environ={},
    )
    receiver.refuse(500)
    emitted: list[str] = []
    with handle.activate():
        for round_ in range(6):
            emitted += _emit(100, f"r{round_}")
            assert handle.force_flush(5_000) is False
        receiver.accept()
        assert handle.force_flush(10_000)
    handle.shutdown()
    arrived = {r.attributes[semconv.EVENT_ID] for r in receiver.records()}
    dropped = _dropped(reader)
    assert set(dropped) == {"spool_full"}
    assert 0 < len(arrived) < len(emitted)
    assert len(arrived) + dropped["spool_full"] == len(emitted)
    assert arrived <= set(emitted)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) == 0


def test_without_a_spool_every_drop_is_counted(receiver: OTLPReceiver) -> None:
    """No spool, a small queue and a refusing collector: every span either arrives or is
    counted as dropped (queue_full or export_failed)."""
    reader = InMemoryMetricReader()
    handle = leadtrace.configure(
        service_name="svc",
        validation="lenient",
        endpoint=receiver.url,
        max_queue_size=20,
        export_timeout=0.3,
        local=True,
        metric_readers=[reader],
        environ={},
    )
    receiver.refuse(503)
    with handle.activate():
        emitted = _emit(200, "x")
        handle.force_flush(5_000)
        receiver.accept()
        emitted += _emit(10, "y")
        assert handle.force_flush(5_000)
    handle.shutdown()
    arrived = {r.attributes[semconv.EVENT_ID] for r in receiver.records()}
    dropped = _dropped(reader)
    assert set(dropped) == {"queue_full", "export_failed"}
    assert len(arrived) + sum(dropped.values()) == len(emitted)


_CHILD = textwrap.dedent(
    """
    import os, sys, leadtrace
    handle = leadtrace.configure(service_name="svc", validation="lenient", max_queue_size=5)
    for n in range(int(sys.argv[1])):
        leadtrace.emit("form_viewed", form_id=f"f{n}")
    handle.shutdown()
    """
)


def test_drops_are_visible_without_an_endpoint(tmp_path: Path) -> None:
    """Without a collector, drops are summed in <local_dir>/drops.jsonl and in a warning, and
    stored plus dropped equals emitted."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LEADTRACE_LOCAL_DIR": str(tmp_path),
        "LEADTRACE_CONSENT_AUDIT_LOG": "off",
    }
    emitted = 5_000
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(emitted)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stored = len((tmp_path / "spans.jsonl").read_text().splitlines())
    summaries = [json.loads(line) for line in (tmp_path / "drops.jsonl").read_text().splitlines()]
    dropped = summaries[-1]["totals"]["queue_full"]
    assert sum(s["dropped"]["queue_full"] for s in summaries) == dropped
    assert dropped > 0
    assert stored + dropped == emitted
    assert "leadtrace dropped spans" in done.stderr


_RSS_CHILD = textwrap.dedent(
    """
    import resource, sys, leadtrace
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    reader = InMemoryMetricReader()
    handle = leadtrace.configure(
        service_name="svc", validation="lenient", endpoint=sys.argv[1], spool_dir=sys.argv[2],
        spool_max_bytes="2MiB", local=True, metric_readers=[reader], export_timeout=0.5,
    )
    def rss():
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS"))
    with handle.activate():
        for n in range(2000):
            leadtrace.emit("form_viewed", form_id=f"warm-{n}", source_system="s" * 500)
        start = rss()
        for n in range(int(sys.argv[3])):
            leadtrace.emit("form_viewed", form_id=f"f-{n}", source_system="s" * 500)
        end = rss()
    handle.shutdown(timeout_millis=1000)
    print(start, end)
    """
)


@pytest.mark.slow
def test_memory_stays_bounded_during_a_long_outage(receiver: OTLPReceiver, tmp_path: Path) -> None:
    """12,000 spans into a refusing collector: resident memory grows by less than 16 MiB (the
    spans alone would take over 40 MiB) and the spool stays under its cap."""
    receiver.refuse(503)
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, receiver.url, str(tmp_path), "12000"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    start_kib, end_kib = map(int, done.stdout.split())
    assert end_kib - start_kib < 16 * 1024
    assert Spool(tmp_path, 10**9).size <= 2 * 1024 * 1024


def test_a_span_refused_for_good_loses_only_itself(receiver: OTLPReceiver) -> None:
    """A collector answering 400 to any request holding one span: the batch is halved until
    that span is alone, it is counted as rejected, and its 99 neighbours arrive."""
    reader = InMemoryMetricReader()
    handle = leadtrace.configure(
        service_name="svc",
        endpoint=receiver.url,
        local=True,
        metric_readers=[reader],
        environ={},
    )
    receiver.refuse(400, containing=b"poison-form")
    with handle.activate():
        before = [leadtrace.emit("form_viewed", form_id=f"f{n}") for n in range(50)]
        leadtrace.emit("form_viewed", form_id="poison-form")
        after = [leadtrace.emit("form_viewed", form_id=f"g{n}") for n in range(49)]
        assert handle.force_flush(10_000) is False
    handle.shutdown()
    arrived = {r.attributes[semconv.EVENT_ID] for r in receiver.records()}
    assert arrived == set(before + after)
    assert _dropped(reader) == {"rejected": 1}


class _FlakyTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace endpoint that answers UNAVAILABLE while ``down`` is set."""

    def __init__(self) -> None:
        self.down = True
        self.spans: list[str] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        if self.down:
            context.abort(grpc.StatusCode.UNAVAILABLE, "collector restarting")
        self.spans += [
            next(a.value.string_value for a in s.attributes if a.key == semconv.EVENT_ID)
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        return trace_service_pb2.ExportTraceServiceResponse()


def test_grpc_outage_is_spooled_and_replayed(tmp_path: Path) -> None:
    """Over OTLP/gRPC, spans refused with UNAVAILABLE wait in the spool and arrive in order."""
    service = _FlakyTraceService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        handle = leadtrace.configure(
            service_name="svc",
            endpoint=f"http://127.0.0.1:{port}",
            protocol="grpc",
            spool_dir=str(tmp_path),
            export_timeout=1,
            local=True,
            environ={},
        )
        with handle.activate():
            during = _emit(30, "down")
            assert handle.force_flush(5_000) is False
            assert Spool(tmp_path, 10**9).pending() == 30
            service.down = False
            after = _emit(5, "up")
            assert handle.force_flush(10_000)
        handle.shutdown()
    finally:
        server.stop(0)
    assert service.spans == during + after
