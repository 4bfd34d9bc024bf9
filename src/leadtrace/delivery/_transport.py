"""Sending encoded OTLP trace requests, each call bounded by the caller's deadline.

The stock OTLP exporters take spans, not bytes, and retry inside a fixed timeout that a flush
cannot shorten. The delivery processor needs both: it sends the exact bytes it may also keep in
the spool, and every attempt ends by the deadline of the flush or shutdown that asked for it.
Retrying is not done here: a failed request is spooled and sent again later.
"""

from __future__ import annotations

import enum
import gzip
import http.client
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.util.re import parse_env_headers

__all__ = ["GrpcTransport", "HttpTransport", "Outcome", "Sent", "Transport", "transport_for"]

TRACE_PATH = "/v1/traces"
_GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_RETRYABLE_HTTP = frozenset({408, 429})


class Outcome(enum.Enum):
    """What became of one request."""

    SENT = "sent"
    """The collector accepted it (possibly rejecting some spans, see :attr:`Sent.rejected`)."""
    RETRY = "retry"
    """Not delivered for a reason that may pass: unreachable, timeout, 429, 5xx. Keep it."""
    REJECTED = "rejected"
    """The collector refused this request for good (4xx): sending it again cannot help."""


@dataclass(frozen=True)
class Sent:
    """Result of :meth:`Transport.send`."""

    outcome: Outcome
    detail: str = ""
    """Status or error, for logs (never request content)."""
    rejected: int = 0
    """Spans the collector reported as rejected in a partial success."""
    retry_after: float | None = None
    """Seconds the collector asked us to wait (``Retry-After``), if it said."""


class Transport(Protocol):
    """Sends one encoded ``ExportTraceServiceRequest``."""

    def send(self, data: bytes, timeout: float) -> Sent:
        """Send ``data``, giving up after ``timeout`` seconds; never raises."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _rejected_spans(body: bytes) -> int:
    if not body:
        return 0
    try:
        response = ExportTraceServiceResponse.FromString(body)
    except Exception:  # a proxy's HTML page or a truncated body: the request still went in
        return 0
    return int(response.partial_success.rejected_spans)


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _headers_from_env() -> dict[str, str]:
    raw = _env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


class HttpTransport:
    """OTLP/HTTP protobuf to ``<endpoint>/v1/traces`` over one kept-alive connection.

    Reads the standard ``OTEL_EXPORTER_OTLP[_TRACES]_HEADERS``, ``_COMPRESSION`` (``gzip``)
    and ``_CERTIFICATE`` variables, as the stock exporter does.
    """

    def __init__(self, endpoint: str, *, headers: Mapping[str, str] | None = None) -> None:
        parsed = urlparse(endpoint)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or (443 if self._https else 80)
        self._path = (parsed.path.rstrip("/") or "") + TRACE_PATH
        self.url = f"{parsed.scheme}://{parsed.netloc}{self._path}"
        self._headers = {
            "Content-Type": "application/x-protobuf",
            **_headers_from_env(),
            **(headers or {}),
        }
        compression = (
            _env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION") or ""
        )
        self._gzip = compression.strip().lower() == "gzip"
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._context: ssl.SSLContext | None = None
        if self._https:
            cafile = _env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
            self._context = ssl.create_default_context(cafile=cafile)
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._context
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._connection = connection
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def send(self, data: bytes, timeout: float) -> Sent:
        """POST ``data``; a 2xx is sent, 408/429/5xx and network errors retry, other 4xx are
        rejected."""
        if timeout <= 0:
            return Sent(Outcome.RETRY, "no time left")
        body = gzip.compress(data, compresslevel=6) if self._gzip else data
        deadline = time.monotonic() + timeout
        try:
            connection = self._connect(timeout)
            connection.request("POST", self._path, body=body, headers=self._headers)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed while sending")
            if connection.sock is not None:
                connection.sock.settimeout(remaining)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
            retry_after = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Sent(Outcome.RETRY, type(exc).__name__)
        if 200 <= status < 300:
            return Sent(Outcome.SENT, str(status), rejected=_rejected_spans(payload))
        wait: float | None = None
        if retry_after is not None and retry_after.strip().isdigit():
            wait = float(retry_after.strip())
        if status >= 500 or status in _RETRYABLE_HTTP:
            return Sent(Outcome.RETRY, f"HTTP {status}", retry_after=wait)
        return Sent(Outcome.REJECTED, f"HTTP {status}")

    def close(self) -> None:
        """Close the kept-alive connection (the next send opens a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class GrpcTransport:
    """OTLP/gRPC ``TraceService/Export`` with the request bytes passed through unchanged."""

    _RETRYABLE = frozenset(
        {
            "UNAVAILABLE",
            "DEADLINE_EXCEEDED",
            "RESOURCE_EXHAUSTED",
            "ABORTED",
            "CANCELLED",
            "OUT_OF_RANGE",
            "DATA_LOSS",
            "INTERNAL",
            "UNKNOWN",
        }
    )

    def __init__(self, endpoint: str) -> None:
        import grpc  # type: ignore[import-untyped]  # deferred: only gRPC users pay its import

        parsed = urlparse(endpoint)
        target = parsed.netloc or endpoint
        if parsed.scheme == "https":
            cafile = _env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
            root = None
            if cafile:
                with open(cafile, "rb") as fh:
                    root = fh.read()
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root))
        else:
            self._channel = grpc.insecure_channel(target)
        self.url = endpoint
        self._metadata = tuple((k.lower(), v) for k, v in _headers_from_env().items())
        self._export: Any = self._channel.unary_unary(_GRPC_METHOD)
        self._error = grpc.RpcError

    def send(self, data: bytes, timeout: float) -> Sent:
        """Call Export with ``data``; transient status codes retry, the others are rejected."""
        if timeout <= 0:
            return Sent(Outcome.RETRY, "no time left")
        try:
            payload = self._export(data, timeout=timeout, metadata=self._metadata or None)
        except self._error as exc:
            code = getattr(getattr(exc, "code", lambda: None)(), "name", "UNKNOWN")
            outcome = Outcome.RETRY if code in self._RETRYABLE else Outcome.REJECTED
            return Sent(outcome, f"gRPC {code}")
        except Exception as exc:
            return Sent(Outcome.RETRY, type(exc).__name__)
        return Sent(Outcome.SENT, "OK", rejected=_rejected_spans(bytes(payload or b"")))

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


def transport_for(endpoint: str, protocol: str) -> Transport:
    """The transport of ``protocol`` (``http/protobuf`` or ``grpc``) to ``endpoint``."""
    if protocol == "grpc":
        return GrpcTransport(endpoint)
    return HttpTransport(endpoint)
