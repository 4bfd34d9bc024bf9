"""Real OTLP export: http/protobuf to a receiver on 127.0.0.1, and gRPC to a real gRPC server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

import leadtrace
from _handles import event_spans
from leadtrace import semconv
from leadtrace.testing import OTLPReceiver


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on a free port of 127.0.0.1."""
    with OTLPReceiver() as r:
        yield r


def test_http_protobuf_export_carries_attributes_and_resource(receiver: OTLPReceiver) -> None:
    """Spans exported over OTLP/HTTP decode with every business attribute and the resource."""
    handle = leadtrace.configure(
        service_name="landing-web",
        environment="staging",
        service_version="1.2.3",
        endpoint=receiver.url,
        local=True,
        environ={},
    )
    with handle.activate(), leadtrace.journey(campaign=leadtrace.Campaign(id="spring")) as j:
        event_id = leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
    assert handle.force_flush()
    (span,) = event_spans(receiver.records())
    assert span.name == "lead_created"
    assert span.service_name == "landing-web"
    assert span.attributes[semconv.EVENT_ID] == event_id
    assert span.attributes[semconv.JOURNEY_ID] == j.journey_id
    assert span.attributes[semconv.CAMPAIGN_ID] == "spring"
    assert span.attributes[semconv.LEAD_DEDUPE_OUTCOME] == "created"
    handle.shutdown()


def test_metrics_and_logs_export_over_otlp(receiver: OTLPReceiver) -> None:
    """The invalid-event counter and the failed-event log record reach the collector."""
    handle = leadtrace.configure(
        service_name="svc",
        validation="lenient",
        endpoint=receiver.url,
        export_logs=True,
        local=True,
        environ={},
    )
    logging.getLogger("leadtrace").setLevel(logging.INFO)
    with handle.activate():
        leadtrace.emit("lead_routed", lead_id="L-1")
    assert handle.force_flush()
    handle.shutdown()
    points = receiver.metric_points("leadtrace.events.invalid")
    assert points[-1].value == 1
    assert points[0].attributes == {semconv.EVENT_NAME: "lead_routed"}
    assert receiver.log_records >= 1
    assert not any(
        isinstance(h, logging.Handler) and type(h).__name__ == "LoggingHandler"
        for h in logging.getLogger("leadtrace").handlers
    )


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace endpoint that keeps what it receives."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.received = threading.Event()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        self.received.set()
        return trace_service_pb2.ExportTraceServiceResponse()


def test_grpc_export_when_asked() -> None:
    """protocol='grpc' exports spans to an OTLP/gRPC server."""
    service = _TraceService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        handle = leadtrace.configure(
            service_name="svc",
            endpoint=f"http://127.0.0.1:{port}",
            protocol="grpc",
            local=True,
            environ={},
        )
        with handle.activate():
            leadtrace.emit("form_viewed", form_id="demo")
        assert handle.force_flush()
        handle.shutdown()
        assert service.received.wait(10)
        spans = [
            s
            for req in service.requests
            for rs in req.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        assert [s.name for s in spans] == ["form_viewed"]
        attrs = {a.key: a.value.string_value for a in spans[0].attributes}
        assert attrs[semconv.FORM_ID] == "demo"
    finally:
        server.stop(0)
