"""One exporter-neutral view of a finished span, built from SDK spans or OTLP protobuf."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import StatusCode

from leadtrace import semconv

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["SpanRecord", "from_proto", "from_readable"]

_PROTO_STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR


@dataclass(frozen=True)
class SpanRecord:
    """A finished span as the journey assertions see it, whichever way it arrived.

    Attributes:
        name: span name (the event or stage name for leadtrace spans).
        attributes: span attributes; arrays are tuples.
        trace_id: 32 hex characters.
        span_id: 16 hex characters.
        parent_span_id: 16 hex characters, or None for a root span.
        start_ns: start time, Unix nanoseconds.
        end_ns: end time, Unix nanoseconds.
        error: True when the span status is ERROR.
        status_description: the status description, when there is one.
        service_name: ``service.name`` of the resource that produced the span.
        exceptions: ``(exception.type, exception.message)`` of each recorded exception.
        links: ``(trace_id, span_id)`` of each span this one links to (hex, as above).
        sequence: arrival (or start) order inside the capture, for stable sorting.
    """

    name: str
    attributes: Mapping[str, Any]
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    error: bool = False
    status_description: str = ""
    service_name: str = ""
    exceptions: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    sequence: int = field(default=0, compare=False)

    @property
    def stage(self) -> str | None:
        """The journey stage this span stands for (``martech.journey.stage``), if any."""
        value = self.attributes.get(semconv.JOURNEY_STAGE)
        return value if isinstance(value, str) else None

    @property
    def journey_id(self) -> str | None:
        """The journey id the span carries (``martech.journey.id``), if any."""
        value = self.attributes.get(semconv.JOURNEY_ID)
        return value if isinstance(value, str) else None

    def get(self, name: str, default: Any = None) -> Any:
        """An attribute by full name or by name relative to ``martech.``."""
        if name in self.attributes:
            return self.attributes[name]
        return self.attributes.get(f"martech.{name}", default)


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def from_readable(span: ReadableSpan, sequence: int = 0) -> SpanRecord:
    """Convert an SDK span (in-memory exporter) into a :class:`SpanRecord`."""
    ctx = span.get_span_context()
    parent = span.parent
    status = span.status
    exceptions = tuple(
        (
            str((event.attributes or {}).get("exception.type", "")),
            str((event.attributes or {}).get("exception.message", "")),
        )
        for event in span.events
        if event.name == "exception"
    )
    resource_attrs = span.resource.attributes if span.resource is not None else {}
    return SpanRecord(
        name=span.name,
        attributes={k: _freeze(v) for k, v in (span.attributes or {}).items()},
        trace_id=f"{ctx.trace_id:032x}" if ctx is not None else "",
        span_id=f"{ctx.span_id:016x}" if ctx is not None else "",
        parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        error=status.status_code is StatusCode.ERROR,
        status_description=status.description or "",
        service_name=str(resource_attrs.get("service.name", "")),
        exceptions=exceptions,
        links=tuple(
            (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links
        ),
        sequence=sequence,
    )


def _any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return tuple(_any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None


def attributes_from_proto(items: Sequence[KeyValue]) -> dict[str, Any]:
    """Decode OTLP ``KeyValue`` attributes into a plain mapping."""
    return {kv.key: _any_value(kv.value) for kv in items}


def from_proto(span: ProtoSpan, service_name: str, sequence: int = 0) -> SpanRecord:
    """Convert an OTLP protobuf span into a :class:`SpanRecord`."""
    exceptions = []
    for event in span.events:
        if event.name == "exception":
            attrs = attributes_from_proto(event.attributes)
            exceptions.append(
                (str(attrs.get("exception.type", "")), str(attrs.get("exception.message", "")))
            )
    return SpanRecord(
        name=span.name,
        attributes=attributes_from_proto(span.attributes),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        error=span.status.code == _PROTO_STATUS_ERROR,
        status_description=span.status.message,
        service_name=service_name,
        exceptions=tuple(exceptions),
        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
        sequence=sequence,
    )
