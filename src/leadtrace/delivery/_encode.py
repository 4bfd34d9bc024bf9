"""Make spans encodable and encode them as OTLP, so one bad span never fails its batch.

OTLP/protobuf refuses three things the SDK lets through: text that is not valid UTF-8 (a lone
surrogate, e.g. from a mis-decoded request), timestamps outside 0..2^64 ns (an ``occurred_at``
in year 1 or 9999), and requests larger than the collector accepts. A span name with a lone
surrogate or an out-of-range time fails the whole batch; an attribute with one is dropped by
the encoder with only a log line. :func:`repaired` fixes each span before encoding and
records what it changed as quality violations on the span (location and rule, never the
value): lone surrogates become U+FFFD, times outside 1970..2262 become the span's other time
or now, and text longer than the value limit is cut.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import Event, ReadableSpan

from leadtrace import semconv
from leadtrace._sdk import has_events, stored_attributes

__all__ = ["encode", "repaired", "split"]

_log = logging.getLogger("leadtrace")
MAX_TIME_NS = 2**63 - 1
"""Latest timestamp kept (2262-04-11): backends store nanoseconds in a signed 64-bit int."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_text(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _bad_text(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _fix_value(value: Any, limit: int) -> tuple[Any, str | None]:
    """``(value, rule)``: the value made encodable and the rule it broke, if any."""
    if isinstance(value, str):
        rule = None
        if _bad_text(value):
            value, rule = _clean_text(value), "invalid_utf8"
        if len(value) > limit:
            value, rule = value[:limit], rule or "truncated"
        return value, rule
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        items, rule = [], None
        for item in value:
            fixed, item_rule = _fix_value(item, limit)
            items.append(fixed)
            rule = rule or item_rule
        return (tuple(items), rule) if rule else (value, None)
    return value, None


def _suspect(attributes: Mapping[str, Any], limit: int) -> bool:
    """Whether any key or text value is long or not plain ASCII (the usual span is neither).

    Written as a few C-level passes (join, isascii, max of lengths): it runs on every span.
    """
    values = attributes.values()
    texts = [v for v in values if v.__class__ is str]
    for value in [v for v in values if v.__class__ is tuple]:
        texts += [item for item in value if item.__class__ is str]
    if texts and (max(map(len, texts)) > limit or not "".join(texts).isascii()):
        return True
    return not "".join(attributes).isascii()


def _fix_attributes(
    attributes: Mapping[str, Any] | None, limit: int, where: str, violations: list[str]
) -> dict[str, Any] | None:
    """A fixed copy of ``attributes``, or None when they were fine."""
    if not attributes or not _suspect(attributes, limit):
        return None
    fixed: dict[str, Any] | None = None
    for key, value in attributes.items():
        new_key = _clean_text(key) if _bad_text(key) else key
        new_value, rule = _fix_value(value, limit)
        if new_key is not key:
            rule = rule or "invalid_utf8"
        if rule is None:
            continue
        if fixed is None:
            fixed = dict(attributes)
        if new_key is not key:
            del fixed[key]
        fixed[new_key] = new_value
        violations.append(f"{where}{new_key}:{rule}")
    return fixed


def _in_range(ns: int | None) -> bool:
    return ns is not None and 0 <= ns <= MAX_TIME_NS


def repaired(span: ReadableSpan, limit: int) -> ReadableSpan:
    """``span`` itself when it encodes as it is, else a fixed copy naming what was fixed."""
    start, end = span.start_time, span.end_time
    if (
        span.name.isascii()
        and start is not None
        and end is not None
        and 0 <= start <= MAX_TIME_NS
        and 0 <= end <= MAX_TIME_NS
        and not has_events(span)
        and not _suspect(stored_attributes(span), limit)
    ):
        return span
    return _repair(span, limit)


def _repair(span: ReadableSpan, limit: int) -> ReadableSpan:
    violations: list[str] = []
    name = span.name
    if _bad_text(name):
        name = _clean_text(name)
        violations.append("span.name:invalid_utf8")
    start, end = span.start_time, span.end_time
    if not _in_range(start):
        start = end if _in_range(end) else time.time_ns()
        violations.append("span.start_time:out_of_range")
    if not _in_range(end):
        end = start
        violations.append("span.end_time:out_of_range")
    attributes = _fix_attributes(span.attributes, limit, "", violations)
    events: list[Event] | None = None
    for index, event in enumerate(span.events):
        event_violations: list[str] = []
        event_name = _clean_text(event.name) if _bad_text(event.name) else event.name
        if event_name is not event.name:
            event_violations.append(f"span.events.{index}.name:invalid_utf8")
        event_attributes = _fix_attributes(
            event.attributes, limit, f"span.events.{index}.", event_violations
        )
        timestamp = event.timestamp if _in_range(event.timestamp) else start
        if timestamp != event.timestamp:
            event_violations.append(f"span.events.{index}.timestamp:out_of_range")
        if event_violations:
            if events is None:
                events = list(span.events)
            events[index] = Event(
                event_name,
                event_attributes if event_attributes is not None else event.attributes,
                timestamp,
            )
            violations.extend(event_violations)
    if not violations:
        return span
    merged: dict[str, Any] = dict(attributes if attributes is not None else span.attributes or {})
    merged[semconv.QUALITY_VALID] = False
    previous = merged.get(semconv.QUALITY_VIOLATIONS) or ()
    merged[semconv.QUALITY_VIOLATIONS] = (*previous, *violations)
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=merged,
        events=events if events is not None else span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=start,
        end_time=end,
        instrumentation_scope=span.instrumentation_scope,
    )


def encode(spans: Sequence[ReadableSpan], limit: int) -> tuple[bytes, int]:
    """``(request bytes, spans in it)`` for ``spans``, each repaired first.

    Should a span still fail to encode, the others are encoded one by one and it is left
    out (the returned count says how many went in).
    """
    fixed = [repaired(span, limit) for span in spans]
    try:
        return encode_spans(fixed).SerializeToString(), len(fixed)
    except Exception as exc:  # a value type the encoder refuses: isolate the span
        _log.warning("leadtrace: a span batch failed to encode (%s); encoding one by one", exc)
    parts: list[bytes] = []
    for span in fixed:
        try:
            parts.append(encode_spans([span]).SerializeToString())
        except Exception as exc:  # counted by the caller: count < len(spans)
            _log.debug("leadtrace: a span cannot be encoded: %s", exc)
    # Serialized requests concatenate into one request holding all their spans.
    return b"".join(parts), len(parts)


def _flatten(request: ExportTraceServiceRequest) -> list[tuple[int, int, Any]]:
    return [
        (r, s, span)
        for r, resource_spans in enumerate(request.resource_spans)
        for s, scope_spans in enumerate(resource_spans.scope_spans)
        for span in scope_spans.spans
    ]


def _rebuild(
    request: ExportTraceServiceRequest, items: Iterable[tuple[int, int, Any]]
) -> tuple[bytes, int]:
    out = ExportTraceServiceRequest()
    targets: dict[tuple[int, int], Any] = {}
    resources: dict[int, Any] = {}
    count = 0
    for r, s, span in items:
        if r not in resources:
            resource_spans = out.resource_spans.add()
            source = request.resource_spans[r]
            resource_spans.resource.CopyFrom(source.resource)
            resource_spans.schema_url = source.schema_url
            resources[r] = resource_spans
        if (r, s) not in targets:
            scope_spans = resources[r].scope_spans.add()
            source_scope = request.resource_spans[r].scope_spans[s]
            scope_spans.scope.CopyFrom(source_scope.scope)
            scope_spans.schema_url = source_scope.schema_url
            targets[(r, s)] = scope_spans
        targets[(r, s)].spans.append(span)
        count += 1
    return out.SerializeToString(), count


def split(data: bytes) -> list[tuple[bytes, int]]:
    """Cut an encoded request into two halves by span, to find the span a collector refuses.

    Returns ``[]`` when ``data`` holds one span or fewer (or does not parse).
    """
    try:
        request = ExportTraceServiceRequest.FromString(data)
    except Exception:
        return []
    items = _flatten(request)
    if len(items) < 2:
        return []
    half = len(items) // 2
    return [_rebuild(request, items[:half]), _rebuild(request, items[half:])]
