"""The OTLP/HTTP receiver: real protobuf exports on 127.0.0.1, the capture's assertion API."""

from __future__ import annotations

import gzip
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace._runtime import Leadtrace
from leadtrace.errors import ConfigError
from leadtrace.testing import Capture, JourneyAssertionError, OTLPReceiver, SpanSource

CONSENT = ConsentState(status="granted", purposes=frozenset({"analytics"}), source="form")


def _exporting_handle(
    url: str, *, compression: Compression = Compression.NoCompression
) -> Leadtrace:
    return leadtrace.configure(
        service_name="web",
        environment="test",
        local=True,
        environ={},
        span_exporters=[OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=compression)],
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{url}/v1/metrics"), export_interval_millis=60_000
            )
        ],
    )


def _journey_with_a_wrong_owner() -> str:
    with leadtrace.journey(campaign=Campaign(id="spring", source="google"), consent=CONSENT) as j:
        leadtrace.emit("form_submitted", form_id="demo", field_names=["email", "company"])
        leadtrace.emit(
            "lead_routed",
            lead_id="L-1",
            routing_rule_id="r1",
            owner_id="U-2",
            expected_owner_id="U-7",
        )
    return j.journey_id


def _export_journey(url: str, **kwargs: Compression) -> str:
    handle = _exporting_handle(url, **kwargs)
    with handle.activate():
        journey_id = _journey_with_a_wrong_owner()
    handle.shutdown()
    return journey_id


def test_receiver_decodes_exported_spans(leadtrace_receiver: OTLPReceiver) -> None:
    """Spans exported by the real OTLP/HTTP exporter arrive with their attributes and types."""
    journey_id = _export_journey(leadtrace_receiver.url)
    journey = leadtrace_receiver.journey(journey_id).wait_for("form_submitted", "lead_routed")
    form = journey.stage("form_submitted")
    assert form.service_name == "web"
    assert form.attributes["martech.form.field_names"] == ("email", "company")
    assert form.attributes["martech.quality.complete"] is False
    assert leadtrace_receiver.requests["traces"] >= 1


def test_receiver_reports_failures_like_the_capture(leadtrace_receiver: OTLPReceiver) -> None:
    """The same journey gives the same first failure over OTLP as in memory."""
    journey_id = _export_journey(leadtrace_receiver.url)
    over_otlp = leadtrace_receiver.journey(journey_id).first_failure()
    with Capture() as capture:
        in_memory = capture.journey(_journey_with_a_wrong_owner()).first_failure()
    assert over_otlp is not None
    assert in_memory is not None
    assert (over_otlp.stage, over_otlp.layer, over_otlp.problem, over_otlp.arrived) == (
        in_memory.stage,
        in_memory.layer,
        in_memory.problem,
        in_memory.arrived,
    )


@pytest.fixture(params=["capture", "receiver"])
def source(request: pytest.FixtureRequest) -> Iterator[SpanSource]:
    """The same journey, held by the in-memory capture or received over OTLP."""
    if request.param == "capture":
        with Capture() as capture:
            _journey_with_a_wrong_owner()
            yield capture
        return
    with OTLPReceiver() as receiver:
        _export_journey(receiver.url)
        yield receiver


def test_same_assertion_api_on_both_sources(source: SpanSource) -> None:
    """Lookups and assertions behave the same on the capture and the receiver."""
    journey = source.journey()
    journey.assert_stages(["form_submitted", "lead_routed"]).assert_consent(
        "lead_routed", "granted"
    )
    assert [r.stage for r in source.bad()] == ["form_submitted", "lead_routed"]
    assert len(source.events("lead_routed", owner_id="U-2")) == 1
    with pytest.raises(JourneyAssertionError, match=r"campaign\.medium=<missing>"):
        journey.assert_healthy()
    source.reset()
    assert source.journeys() == []


def test_gzip_exports_are_decoded(leadtrace_receiver: OTLPReceiver) -> None:
    """A gzip-compressed export is decompressed and decoded."""
    journey_id = _export_journey(leadtrace_receiver.url, compression=Compression.Gzip)
    leadtrace_receiver.journey(journey_id).wait_for("lead_routed")


def test_metric_exports_are_decoded(leadtrace_receiver: OTLPReceiver) -> None:
    """Metric points exported over OTLP/HTTP are readable by name."""
    handle = leadtrace.configure(
        service_name="web",
        environment="test",
        validation="lenient",
        local=True,
        environ={},
        metric_readers=[
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{leadtrace_receiver.url}/v1/metrics"),
                export_interval_millis=60_000,
            )
        ],
    )
    with handle.activate():
        leadtrace.emit("lead_routed", lead_id="L-1")
    handle.shutdown()
    points = leadtrace_receiver.metric_points("leadtrace.events.invalid")
    assert [(p.attributes, p.value) for p in points] == [
        ({"martech.event.name": "lead_routed"}, 1.0)
    ]


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_garbage_body_is_rejected_and_counted(leadtrace_receiver: OTLPReceiver) -> None:
    """A body that is not OTLP protobuf gets 400 and is counted as rejected."""
    assert _post(f"{leadtrace_receiver.url}/v1/traces", b"\xff\xff not protobuf") == 400
    assert (
        _post(f"{leadtrace_receiver.url}/v1/traces", b"not gzip", {"Content-Encoding": "gzip"})
        == 400
    )
    assert leadtrace_receiver.requests["rejected"] == 2
    assert leadtrace_receiver.records() == []


def test_unknown_path_is_404(leadtrace_receiver: OTLPReceiver) -> None:
    """Only the three OTLP paths are served."""
    assert _post(f"{leadtrace_receiver.url}/v1/profiles", b"") == 404


def test_empty_gzip_request_is_accepted(leadtrace_receiver: OTLPReceiver) -> None:
    """An empty (but well-formed) export is a 200 with no spans."""
    assert (
        _post(
            f"{leadtrace_receiver.url}/v1/traces", gzip.compress(b""), {"Content-Encoding": "gzip"}
        )
        == 200
    )
    assert leadtrace_receiver.records() == []


def test_stop_closes_the_port_and_the_thread() -> None:
    """After stop() the port refuses connections and the server thread is gone."""
    receiver = OTLPReceiver().start()
    port = int(receiver.url.rsplit(":", 1)[1])
    thread = receiver._thread
    receiver.stop()
    receiver.stop()
    assert thread is not None
    assert not thread.is_alive()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_url_before_start_is_a_setup_error() -> None:
    """Asking an unstarted receiver for its URL explains what to do."""
    with pytest.raises(ConfigError, match="not started"):
        _ = OTLPReceiver().url


def test_oldest_spans_are_dropped_past_the_bound() -> None:
    """max_spans bounds memory: older spans go and the drop is counted."""
    with OTLPReceiver(max_spans=1) as receiver:
        _export_journey(receiver.url)
        assert [r.name for r in receiver.records()] == ["journey"]  # the last to end
        assert receiver.dropped_spans == 2


def _post_traces(url: str, timeout: float = 5.0) -> int:
    request = urllib.request.Request(  # noqa: S310 - a 127.0.0.1 http URL
        f"{url}/v1/traces",
        data=b"",
        headers={"Content-Type": "application/x-protobuf"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_refuse_answers_the_status_and_keeps_nothing() -> None:
    """refuse(503) answers every export with 503 and counts it; accept() brings 200 back."""
    with OTLPReceiver() as receiver:
        receiver.refuse(503)
        assert _post_traces(receiver.url) == 503
        assert receiver.requests["refused"] == 1
        assert receiver.requests["traces"] == 0
        receiver.accept()
        assert _post_traces(receiver.url) == 200
        assert receiver.requests["traces"] == 1


def test_refuse_needs_an_error_status() -> None:
    """refuse() with a success status is a ConfigError naming the status."""
    with OTLPReceiver() as receiver, pytest.raises(ConfigError, match="got 200"):
        receiver.refuse(200)


def test_hang_never_answers_until_accept() -> None:
    """A hung export times out at the client; the receiver counts it and keeps nothing."""
    with OTLPReceiver() as receiver:
        receiver.hang()
        with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
            _post_traces(receiver.url, timeout=0.3)
        assert receiver.requests["hung"] == 1
        receiver.accept()
        assert _post_traces(receiver.url) == 200
        assert receiver.records() == []


def test_refuse_containing_refuses_only_matching_requests() -> None:
    """refuse(400, containing=...) refuses bodies holding those bytes and takes the others."""
    with OTLPReceiver() as receiver:
        receiver.refuse(400, containing=b"poison")
        handle = _exporting_handle(receiver.url)
        with handle.activate():
            leadtrace.emit("form_viewed", form_id="poison")
        handle.force_flush()
        assert receiver.requests["refused"] == 1
        with handle.activate():
            leadtrace.emit("form_viewed", form_id="fine")
        handle.shutdown()
        assert [r.attributes["martech.form.id"] for r in receiver.records()] == ["fine"]
