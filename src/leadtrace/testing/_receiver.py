"""A small OTLP/HTTP receiver for tests whose journeys cross processes.

It listens on 127.0.0.1 (a random free port) in a background thread and decodes real
OTLP protobuf exports, so a web process and a worker process configured with
``leadtrace.configure(endpoint=receiver.url)`` can be asserted on as one journey::

    with OTLPReceiver() as receiver:
        run_processes(endpoint=receiver.url)
        receiver.journey(journey_id).wait_for("crm_updated").assert_healthy()
"""

from __future__ import annotations

import gzip
import itertools
import threading
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from leadtrace.errors import ConfigError
from leadtrace.quality import Contracts, load_contracts
from leadtrace.testing._capture import MetricPoint
from leadtrace.testing._journey import SpanSource
from leadtrace.testing._records import SpanRecord, attributes_from_proto, from_proto

__all__ = ["OTLPReceiver"]

_MAX_BODY = 32 * 1024 * 1024
_PROTOBUF = "application/x-protobuf"


def _number(point: NumberDataPoint) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def _metric_points(metric: Metric) -> list[MetricPoint]:
    kind = metric.WhichOneof("data")
    if kind in ("sum", "gauge"):
        data = metric.sum if kind == "sum" else metric.gauge
        return [
            MetricPoint(metric.name, attributes_from_proto(p.attributes), _number(p))
            for p in data.data_points
        ]
    if kind == "histogram":
        return [
            MetricPoint(metric.name, attributes_from_proto(p.attributes), float(p.count), p.sum)
            for p in metric.histogram.data_points
        ]
    return []


class OTLPReceiver(SpanSource):
    """Receive OTLP/HTTP protobuf exports on 127.0.0.1 and assert journeys across processes.

    Accepts ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` (gzip or deflate bodies
    too). Spans are kept in arrival order and read in start-time order. Use it as a context
    manager, or call :meth:`start` and :meth:`stop`.

    To test what an exporter does when the collector misbehaves, :meth:`refuse` makes it
    answer every request with an error status, :meth:`hang` makes it never answer, and
    :meth:`accept` brings it back; refused and hung requests keep nothing (counted in
    ``requests["refused"]`` and ``requests["hung"]``)::

        receiver.refuse(503)   # collector overloaded
        receiver.hang()        # collector stuck: requests time out
        receiver.accept()      # healthy again

    Args:
        contracts: a contracts YAML path or :class:`~leadtrace.quality.Contracts` for
            ``assert_fields``; the built-in contracts by default.
        max_spans: spans kept at most; older ones are dropped (and counted in
            :attr:`dropped_spans`).
    """

    def __init__(
        self, *, contracts: str | Path | Contracts | None = None, max_spans: int = 100_000
    ) -> None:
        self.contracts = (
            contracts if isinstance(contracts, Contracts) else load_contracts(contracts)
        )
        if max_spans < 1:
            raise ConfigError(f"OTLPReceiver max_spans must be at least 1, got {max_spans}")
        self.max_spans = max_spans
        self.dropped_spans = 0
        self.requests: dict[str, int] = {
            "traces": 0,
            "metrics": 0,
            "logs": 0,
            "rejected": 0,
            "refused": 0,
            "hung": 0,
        }
        self._refuse_status: int | None = None
        self._refuse_containing: bytes | None = None
        self._released = threading.Event()
        self._released.set()
        self._spans: list[SpanRecord] = []
        self._metrics: list[MetricPoint] = []
        self._log_records = 0
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<OTLPReceiver {where} spans={len(self._spans)}>"

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to give exporters, e.g. ``http://127.0.0.1:54321``.

        Raises:
            ConfigError: the receiver is not started.
        """
        if self._server is None:
            raise ConfigError("OTLPReceiver is not started; call start() or use it in a with block")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OTLPReceiver:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.name = f"leadtrace-otlp-receiver-{server.server_address[1]}"
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread. Safe to call twice."""
        self._released.set()  # let hung requests end
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- faults --------------------------------------------------------------------------------

    def refuse(self, status: int = 503, *, containing: bytes | None = None) -> None:
        """Answer requests with HTTP ``status`` (e.g. 503, 500, 400), keeping nothing.

        Args:
            status: the 4xx or 5xx status to answer.
            containing: refuse only requests whose (decompressed) body holds these bytes,
                e.g. ``b"poison"`` for a collector that refuses one span.
        """
        if not 400 <= status <= 599:
            raise ConfigError(f"OTLPReceiver.refuse needs a 4xx or 5xx status, got {status}")
        self._released.set()
        self._refuse_containing = containing
        self._refuse_status = status

    def hang(self) -> None:
        """Read each request and never answer it (until :meth:`accept` or :meth:`stop`)."""
        self._refuse_status = None
        self._refuse_containing = None
        self._released.clear()

    def accept(self) -> None:
        """Behave normally again; requests hanging now end with a 503 and keep nothing."""
        self._refuse_status = None
        self._refuse_containing = None
        self._released.set()

    def _fault(self, body: bytes) -> int | None:
        """The status to answer instead of ingesting, after hanging if told to; None: ingest."""
        if not self._released.is_set():
            with self._lock:
                self.requests["hung"] += 1
            self._released.wait()
            return HTTPStatus.SERVICE_UNAVAILABLE
        status = self._refuse_status
        containing = self._refuse_containing
        if status is not None and containing is not None and containing not in body:
            return None
        if status is not None:
            with self._lock:
                self.requests["refused"] += 1
        return status

    # --- data ----------------------------------------------------------------------------------

    def records(self) -> list[SpanRecord]:
        """Every span received, by start time (arrival order breaks ties)."""
        with self._lock:
            spans = list(self._spans)
        spans.sort(key=lambda r: (r.start_ns, r.sequence))
        return spans

    def reset(self) -> None:
        """Forget every span, metric point and request count received so far."""
        with self._lock:
            self._spans.clear()
            self._metrics.clear()
            self._log_records = 0
            self.dropped_spans = 0
            for key in self.requests:
                self.requests[key] = 0

    def metric_points(self, name: str) -> list[MetricPoint]:
        """Data points received for the metric ``name``, in arrival order."""
        with self._lock:
            return [p for p in self._metrics if p.name == name]

    @property
    def log_records(self) -> int:
        """How many log records arrived."""
        return self._log_records

    # --- ingestion (called from the server threads) ----------------------------------------

    def _ingest_traces(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        records: list[SpanRecord] = []
        for resource_spans in request.resource_spans:
            service = ""
            for kv in resource_spans.resource.attributes:
                if kv.key == "service.name":
                    service = kv.value.string_value
            for scope_spans in resource_spans.scope_spans:
                records.extend(
                    from_proto(span, service, next(self._sequence)) for span in scope_spans.spans
                )
        with self._lock:
            self.requests["traces"] += 1
            self._spans.extend(records)
            overflow = len(self._spans) - self.max_spans
            if overflow > 0:
                del self._spans[:overflow]
                self.dropped_spans += overflow
        return bytes(ExportTraceServiceResponse().SerializeToString())

    def _ingest_metrics(self, body: bytes) -> bytes:
        request = ExportMetricsServiceRequest.FromString(body)
        points = [
            point
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
            for point in _metric_points(metric)
        ]
        with self._lock:
            self.requests["metrics"] += 1
            self._metrics.extend(points)
            del self._metrics[: max(0, len(self._metrics) - self.max_spans)]
        return bytes(ExportMetricsServiceResponse().SerializeToString())

    def _ingest_logs(self, body: bytes) -> bytes:
        request = ExportLogsServiceRequest.FromString(body)
        count = sum(
            len(scope_logs.log_records)
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
        )
        with self._lock:
            self.requests["logs"] += 1
            self._log_records += count
        return bytes(ExportLogsServiceResponse().SerializeToString())

    def _rejected(self) -> None:
        with self._lock:
            self.requests["rejected"] += 1


def _handler_for(receiver: OTLPReceiver) -> type[BaseHTTPRequestHandler]:
    routes = {
        "/v1/traces": receiver._ingest_traces,
        "/v1/metrics": receiver._ingest_metrics,
        "/v1/logs": receiver._ingest_logs,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self._reply(HTTPStatus.NOT_FOUND, b"unknown OTLP path", "text/plain")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > _MAX_BODY:
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"bad length", "text/plain")
                return
            body = self.rfile.read(length)
            try:
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                status = receiver._fault(body)
                if status is not None:
                    self._reply(HTTPStatus(status), b"refused by the test", "text/plain")
                    return
                payload = route(body)
            except (DecodeError, OSError, zlib.error, EOFError) as exc:
                receiver._rejected()
                self._reply(HTTPStatus.BAD_REQUEST, f"bad OTLP body: {exc}".encode(), "text/plain")
                return
            self._reply(HTTPStatus.OK, payload, _PROTOBUF)

        def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (a hung request)
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet: requests are counted in ``receiver.requests``."""

    return Handler
