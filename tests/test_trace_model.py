"""The trace model: a journey reads as one trace per process, linked back to its origin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import leadtrace
from leadtrace import Campaign, ConsentState
from leadtrace.context import JOURNEY_SPAN, extract, inject
from leadtrace.testing import OTLPReceiver, SpanRecord
from leadtrace.testing._records import from_readable


@pytest.fixture
def handle() -> leadtrace.Leadtrace:
    """A local handle with journey spans on."""
    return leadtrace.configure(service_name="web", local=True, environ={}, journey_spans=True)


def _records(handle: leadtrace.Leadtrace) -> list[SpanRecord]:
    return [from_readable(s) for s in handle.finished_spans()]


def test_the_quickstart_journey_is_one_trace(handle: leadtrace.Leadtrace) -> None:
    """Events and stages of an in-process journey share one trace under its journey span."""

    @leadtrace.stage("lead_routed", capture=["lead_id"])
    def route(lead_id: str) -> str:
        return "U-7"

    with (
        handle.activate(),
        leadtrace.journey(
            campaign=Campaign(id="spring", source="google", medium="cpc"),
            consent=ConsentState(status="granted", purposes={"analytics"}),
        ) as j,
    ):
        leadtrace.emit("form_submitted", form_id="demo-request", field_names=["email"])
        leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
        route("L-1")

    spans = {s.name: s for s in _records(handle)}
    root = spans[JOURNEY_SPAN]
    assert sorted(spans) == ["form_submitted", "journey", "lead_created", "lead_routed"]
    assert {s.trace_id for s in spans.values()} == {root.trace_id}
    assert root.parent_span_id is None
    assert {spans[n].parent_span_id for n in ("form_submitted", "lead_created")} == {root.span_id}
    assert root.attributes["martech.journey.id"] == j.journey_id
    assert root.attributes["martech.campaign.id"] == "spring"


def test_two_journeys_are_two_traces(handle: leadtrace.Leadtrace) -> None:
    """Each journey started with no span current is its own trace."""
    with handle.activate():
        for _ in range(2):
            with leadtrace.journey():
                leadtrace.emit("form_viewed", form_id="demo")

    events = [s for s in _records(handle) if s.name == "form_viewed"]
    assert len({s.trace_id for s in events}) == 2


def test_a_journey_inside_a_server_span_opens_no_span(handle: leadtrace.Leadtrace) -> None:
    """With a span current (a web request), that span is the origin; no journey span."""
    with (
        handle.activate(),
        handle.tracer.start_as_current_span("POST /demo") as server,
        leadtrace.journey() as j,
    ):
        leadtrace.emit("form_viewed", form_id="demo")

    names = [s.name for s in _records(handle)]
    assert names == ["form_viewed", "POST /demo"]
    assert j.origin == server.get_span_context()


def test_annotate_updates_the_journey_span(handle: leadtrace.Leadtrace) -> None:
    """What the journey learns later (consent from the form) reaches its journey span too."""
    with handle.activate(), leadtrace.journey():
        leadtrace.annotate(consent=ConsentState(status="granted", purposes={"analytics"}))

    (root,) = _records(handle)
    assert root.attributes["martech.consent.status"] == "granted"


def test_an_exception_marks_the_journey_span_failed(handle: leadtrace.Leadtrace) -> None:
    """An exception leaving the journey block is recorded on its span and re-raised."""
    with pytest.raises(KeyError), handle.activate(), leadtrace.journey():
        raise KeyError("owner")

    (root,) = _records(handle)
    assert root.error
    assert root.exceptions[0][0] == "KeyError"


def test_the_header_carries_the_origin_and_the_next_process_links_to_it(
    handle: leadtrace.Leadtrace,
) -> None:
    """inject() writes the origin span; a journey continued from it links back to it."""
    headers: dict[str, str] = {}
    with handle.activate(), leadtrace.journey() as j:
        inject(headers)
    origin = j.origin
    assert origin is not None

    worker = leadtrace.configure(service_name="worker", local=True, environ={}, journey_spans=True)
    parent = extract(headers)
    assert parent is not None
    assert parent.origin is not None
    assert (parent.origin.trace_id, parent.origin.span_id) == (origin.trace_id, origin.span_id)
    with worker.activate(), leadtrace.journey(parent=parent):
        leadtrace.emit("lead_routed", lead_id="L-1", routing_rule_id="r", owner_id="U-7")

    root = next(s for s in _records(worker) if s.name == JOURNEY_SPAN)
    assert root.links == ((f"{origin.trace_id:032x}", f"{origin.span_id:016x}"),)


@pytest.mark.parametrize(
    "value", ["zz", "0" * 32 + "-" + "0" * 16, "a" * 32 + "+" + "b" * 16, "g" * 32 + "-" + "b" * 16]
)
def test_a_malformed_origin_is_ignored(value: str) -> None:
    """An origin that is not 32 + 16 hex digits (or is all zero) is dropped, never raised."""
    parent = extract({"leadtrace-journey": f"v=1;j=abc;t=1;o={value}"})
    assert parent is not None
    assert parent.journey_id == "abc"
    assert parent.origin is None


def test_journey_spans_are_off_when_disabled() -> None:
    """journey_spans=False keeps the old model: only the event spans."""
    handle = leadtrace.configure(service_name="web", local=True, environ={}, journey_spans=False)
    with handle.activate(), leadtrace.journey():
        leadtrace.emit("form_viewed", form_id="demo")
    assert [s.name for s in handle.finished_spans()] == ["form_viewed"]


_WEB = """
import sys, leadtrace
handle = leadtrace.configure(service_name="web", endpoint=sys.argv[1])
with leadtrace.journey() as j:
    leadtrace.emit("form_submitted", form_id="demo", field_names=["email"])
    headers = {}
    leadtrace.inject(headers, url="http://127.0.0.1/worker")
print(headers["leadtrace-journey"])
print(j.journey_id)
handle.shutdown()
"""

_WORKER = """
import sys, leadtrace
handle = leadtrace.configure(service_name="worker", endpoint=sys.argv[1])
parent = leadtrace.extract({"leadtrace-journey": sys.stdin.readline().strip()})
with leadtrace.journey(parent=parent):
    leadtrace.emit("lead_created", lead_id="L-1", dedupe_outcome="created")
handle.shutdown()
"""


def _python(code: str, endpoint: str, stdin: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["LEADTRACE_JOURNEY_SPANS"] = "true"
    result = subprocess.run(
        [sys.executable, "-c", code, endpoint],
        input=stdin, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_two_process_journey_links_to_its_origin(tmp_path: Path) -> None:
    """Over real OTLP: the worker's journey span links to the web process's journey span."""
    with OTLPReceiver() as receiver:
        header, journey_id = _python(_WEB, receiver.url, "", tmp_path).split()
        _python(_WORKER, receiver.url, header + "\n", tmp_path)
        journey = receiver.journey(journey_id).wait_for("form_submitted", "lead_created")
        spans = journey.spans

    web = [s for s in spans if s.service_name == "web"]
    worker = [s for s in spans if s.service_name == "worker"]
    web_root = next(s for s in web if s.name == JOURNEY_SPAN)
    worker_root = next(s for s in worker if s.name == JOURNEY_SPAN)
    assert {s.trace_id for s in web} == {web_root.trace_id}
    assert {s.trace_id for s in worker} == {worker_root.trace_id}
    assert worker_root.links == ((web_root.trace_id, web_root.span_id),)


def test_log_lines_in_a_bare_journey_carry_its_trace(handle: leadtrace.Leadtrace) -> None:
    """docs/logging.md's promise: a log line inside a journey gets trace_id and span_id."""
    from leadtrace.logging import processors

    with handle.activate(), leadtrace.journey() as j:
        line: dict[str, object] = {"event": "lead routed"}
        for processor in processors():
            line = processor(None, "info", line)

    (root,) = _records(handle)
    assert (line["trace_id"], line["span_id"]) == (root.trace_id, root.span_id)
    assert line["journey_id"] == j.journey_id
