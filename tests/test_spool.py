"""The on-disk spool: a size cap, oldest-first order, and one sender per segment."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import leadtrace
from leadtrace.delivery import Spool, encode


def _request(count: int) -> bytes:
    handle = leadtrace.configure(service_name="svc", local=True, environ={})
    with handle.activate():
        for n in range(count):
            leadtrace.emit("form_viewed", form_id=f"f{n}")
    data, encoded = encode(handle.finished_spans(), 4096)
    assert encoded == count
    return data


def _form_ids(data: bytes) -> list[str]:
    request = ExportTraceServiceRequest.FromString(data)
    return [
        next(a.value.string_value for a in span.attributes if a.key == "martech.form.id")
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def test_segments_come_back_oldest_first_with_their_span_counts(tmp_path: Path) -> None:
    """Written segments are read back in write order, each with its exact bytes and count."""
    spool = Spool(tmp_path, 10**6)
    first, second = _request(3), _request(2)
    assert spool.write(first, 3)
    assert spool.write(second, 2)
    assert spool.pending() == 5
    segments = list(spool.segments())
    assert [(s.data, s.count) for s in segments] == [(first, 3), (second, 2)]
    for segment in segments:
        segment.remove()
    assert spool.pending() == 0
    assert spool.size == 0


def test_a_write_past_the_cap_is_refused_whole(tmp_path: Path) -> None:
    """A request that would take the folder past its cap is refused and nothing is written."""
    data = _request(4)
    spool = Spool(tmp_path, len(data) * 2)
    assert spool.write(data, 4)
    assert spool.write(data, 4)
    assert not spool.write(data, 4)
    assert spool.pending() == 8
    assert spool.size == len(data) * 2


def test_spans_added_one_by_one_become_one_valid_request(tmp_path: Path) -> None:
    """Single-span requests gathered by add() are sealed into one segment that decodes as one
    request holding every span in order."""
    spool = Spool(tmp_path, 10**6)
    handle = leadtrace.configure(service_name="svc", local=True, environ={})
    with handle.activate():
        for n in range(5):
            leadtrace.emit("form_viewed", form_id=f"f{n}")
    for span in handle.finished_spans():
        assert spool.add(*encode([span], 4096))
    assert spool.buffered == 5
    assert spool.seal() == 0
    (segment,) = spool.segments()
    assert _form_ids(segment.data) == [f"f{n}" for n in range(5)]
    assert segment.count == 5
    segment.release()


def test_a_segment_being_sent_is_skipped_by_another_process(tmp_path: Path) -> None:
    """While one spool (another process) holds a segment, a second one skips it; once removed
    it is gone for both."""
    data = _request(1)
    mine, theirs = Spool(tmp_path, 10**6), Spool(tmp_path, 10**6)
    assert mine.write(data, 1)
    (held,) = mine.segments()
    assert list(theirs.segments()) == []
    held.remove()
    assert list(theirs.segments()) == []
    assert theirs.pending() == 0


def test_a_replaced_segment_keeps_its_place_in_order(tmp_path: Path) -> None:
    """Halves of a refused segment sort where the segment was, before newer segments."""
    spool = Spool(tmp_path, 10**6)
    assert spool.write(_request(2), 2)
    newer = _request(1)
    assert spool.write(newer, 1)
    segments = spool.segments()
    refused = next(segments)
    half = _request(1)
    refused.replace([(half, 1), (half, 1)])
    segments.close()
    remaining = list(spool.segments())
    assert [s.count for s in remaining] == [1, 1, 1]
    assert remaining[-1].data == newer
    for segment in remaining:
        segment.release()
