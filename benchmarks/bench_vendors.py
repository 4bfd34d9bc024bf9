"""Vendor clients: CPU per call of the real client, OTel HTTP instrumentation alone vs + leadtrace.

For each vendor the real client calls a local stand-in (a separate process on 127.0.0.1, so
its CPU is not counted; keep-alive connections). Both variants run on the provider
``leadtrace.configure()`` builds, exporting to a discarding batch processor, inside a journey,
with OpenTelemetry's own HTTP instrumentation on (urllib3 for HubSpot, requests for the others):
the baseline is "what OpenTelemetry alone gives"; the other variant adds the leadtrace
instrumentor (business span, outcome, ``crm_updated`` event for contact / lead writes), whose
vendor span replaces the HTTP instrumentation's span (its default; ``http_spans=True`` keeps it).
Segment and RudderStack blocks make 100 calls and end with ``flush()`` so the consumer thread's
uploads are counted; their batches are cut by size (``upload_size=CALLS``, a long
``upload_interval``), so every block makes exactly five uploads of 20 messages whatever its speed
(with a 1 ms interval the slower variant cut its messages into about twice as many uploads, and
paid for the extra HTTP requests).
Each contact / lead carries a new e-mail address, as real traffic does (no hash is reused).

Rounds run the variants in turn (which goes first rotates): OTel alone, + leadtrace, and +
leadtrace with ``emit_events=False`` (the business span without the ``crm_updated`` event) or,
for Segment and RudderStack, + leadtrace with ``producer_spans=True`` (a span per message) and
"stamp only": four constant ids written into each message by a plain wrapper, no leadtrace
code, which is what the client itself spends on the stamp's extra keys.
A leadtrace variant instruments before its block and uninstruments after it, outside the
timing; every variant then runs one untimed block first (re-wrapping a class makes the
interpreter re-specialise its calls, which the first calls after it pay). Per round the
ratio of process CPU time per call is taken; the table shows the median ratio and its
spread (10th-90th percentile). Target: <= 1.10.
"""

from __future__ import annotations

import atexit
import gc
import itertools
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import leadtrace
from benchmarks._harness import Discard, machine, quiet_batches

TARGET = 1.10
VARIANTS = (
    "leadtrace",
    "leadtrace, no events",
    "leadtrace, producer spans",
    "stamp only, no leadtrace",
)
CALLS = 20
UPLOADS = 5
"""Uploads per Segment / RudderStack block: a block of 20 enqueues took 4 ms, too short to time."""
ROUNDS = 60

_STAMP = "2026-01-01T09:00:00.000Z"
_BODIES: dict[str, tuple[int, bytes]] = {
    "/crm/v3/objects/contacts": (
        201,
        json.dumps(
            {
                "id": "512",
                "properties": {},
                "createdAt": _STAMP,
                "updatedAt": _STAMP,
                "archived": False,
            }
        ).encode(),
    ),
    "/services/data/v59.0/sobjects/Lead/": (
        201,
        json.dumps({"id": "00Q5e000001AbcDEAZ", "success": True, "errors": []}).encode(),
    ),
    "/v1/batch": (200, b'{"success": true}'),
}


class _StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as against the real APIs
    disable_nagle_algorithm = True  # else every answer waits for a delayed ACK
    wbufsize = 1 << 16  # headers and body leave in one write

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        status, body = _BODIES.get(self.path, (404, b"{}"))
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(port: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    port.value = server.server_address[1]
    server.serve_forever()


def _cpu_per_call(block: _Block, flush: Callable[[], object]) -> float:
    block.setup()
    flush()  # the span queue starts empty: no export runs inside the timing
    gc.collect()
    gc.disable()  # as in _harness: no variant pays for collections the other one caused
    try:
        start = time.process_time_ns()
        block.calls()
        return (time.process_time_ns() - start) / block.count / 1000
    finally:
        gc.enable()
        block.teardown()


def _hubspot(url: str) -> tuple[Callable[[], None], Any, Any]:
    import hubspot
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    from leadtrace.integrations.hubspot import HubSpotInstrumentor

    token = "bench-token"  # noqa: S105  # the stand-in checks nothing
    api = hubspot.Client.create(access_token=token, host=url).crm.contacts.basic_api
    properties = {"email": "", "firstname": "Ada"}
    body = SimplePublicObjectInputForCreate(properties=properties)
    numbers = itertools.count()

    def create() -> None:
        properties["email"] = f"lead-{next(numbers)}@example.com"
        api.create(body)

    return create, URLLib3Instrumentor(), HubSpotInstrumentor()


class _PlainHTTP:
    """Mounted on the Salesforce client's session: its https URLs go to the stand-in."""

    @staticmethod
    def adapter() -> Any:
        from requests.adapters import HTTPAdapter

        class PlainHTTP(HTTPAdapter):
            def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
                request.url = "http://" + request.url.removeprefix("https://")
                return super().send(request, **kwargs)

        return PlainHTTP()


def _salesforce(url: str) -> tuple[Callable[[], None], Any, Any]:
    import requests
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from simple_salesforce import Salesforce

    from leadtrace.integrations.salesforce import SalesforceInstrumentor

    session = requests.Session()
    session.mount("https://127.0.0.1", _PlainHTTP.adapter())
    sf = Salesforce(instance_url=url, session_id="bench", session=session, version="59.0")
    lead = {"LastName": "Lovelace", "Company": "ACME", "Email": ""}
    leads = sf.Lead
    numbers = itertools.count()

    def create() -> None:
        lead["Email"] = f"lead-{next(numbers)}@example.com"
        leads.create(lead)

    return create, RequestsInstrumentor(), SalesforceInstrumentor()


def _analytics(client_class: Any, url: str) -> Callable[[], None]:
    # Batches cut by size only: uploads of CALLS messages each (see the docstring).
    client = client_class(
        write_key="bench", host=url, upload_interval=600, upload_size=CALLS, gzip=False
    )
    # Its consumer waits up to upload_interval for a batch to fill: the daemon thread is left
    # to end with the process instead of being joined at exit.
    atexit.unregister(client.join)

    def call() -> None:
        client.track("user-1", "Demo Requested", {"plan": "team"})

    call.flush = client.flush  # type: ignore[attr-defined]
    call.stamp_only = _StampOnly(client_class)  # type: ignore[attr-defined]
    return call


class _StampOnly:
    """Writes four constant ids into each message's ``context``, as the leadtrace stamp does,
    and nothing else: what the client itself spends on the stamp's extra keys."""

    _IDS = {
        "leadtrace_trace_id": "0af7651916cd43dd8448eb211c80319c",
        "leadtrace_span_id": "b7ad6b7169203331",
        "leadtrace_journey_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "leadtrace_campaign_id": "spring-launch",
    }

    def __init__(self, client_class: Any) -> None:
        self.client_class = client_class
        self.original: Any = None

    def instrument(self) -> None:
        self.original = self.client_class._enqueue
        original, ids = self.original, self._IDS

        def _enqueue(client: Any, msg: dict[str, Any]) -> Any:
            msg["context"].update(ids)
            return original(client, msg)

        self.client_class._enqueue = _enqueue

    def uninstrument(self) -> None:
        self.client_class._enqueue = self.original


def _segment(url: str) -> tuple[Callable[[], None], Any, Any]:
    import segment.analytics
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    from leadtrace.integrations.segment import SegmentInstrumentor

    return _analytics(segment.analytics.Client, url), RequestsInstrumentor(), SegmentInstrumentor()


def _rudderstack(url: str) -> tuple[Callable[[], None], Any, Any]:
    import rudderstack.analytics
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    from leadtrace.integrations.rudderstack import RudderStackInstrumentor

    return (
        _analytics(rudderstack.analytics.Client, url),
        RequestsInstrumentor(),
        RudderStackInstrumentor(),
    )


VENDORS = {
    "hubspot crm.contacts create": _hubspot,
    "salesforce Lead create": _salesforce,
    "segment track (+ upload)": _segment,
    "rudderstack track (+ upload)": _rudderstack,
}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class _Block:
    """One variant's timed block (``calls``) and its untimed setup and teardown."""

    calls: Callable[[], None]
    count: int
    setup: Callable[[], object] = lambda: None
    teardown: Callable[[], object] = lambda: None


def _blocks(call: Callable[[], None], ours: Any, analytics: bool) -> dict[str, _Block]:
    """Each variant's block: CALLS calls, or UPLOADS x CALLS then a flush for queued clients."""
    flush = getattr(call, "flush", None)
    count = CALLS * UPLOADS if analytics else CALLS

    def calls() -> None:
        for _ in range(count):
            call()
        if flush is not None:
            flush()

    def instrumented(**options: Any) -> _Block:
        def setup() -> None:
            ours.instrument(**options)
            calls()  # untimed: the first calls after wrapping pay for re-specialisation

        return _Block(calls, count, setup, ours.uninstrument)

    blocks = {
        "otel": _Block(calls, count, calls),  # the same untimed block first
        "leadtrace": instrumented(),
    }
    if not analytics:
        blocks["leadtrace, no events"] = instrumented(emit_events=False)
        return blocks
    blocks["leadtrace, producer spans"] = instrumented(producer_spans=True)
    stamp = call.stamp_only  # type: ignore[attr-defined]

    def stamp_setup() -> None:
        stamp.instrument()
        calls()

    blocks["stamp only, no leadtrace"] = _Block(calls, count, stamp_setup, stamp.uninstrument)
    return blocks


def measure(url: str) -> dict[str, dict[str, list[float]]]:
    """Per vendor and variant, the CPU µs per call of every round."""
    quiet_batches()
    handle = leadtrace.configure(
        service_name="bench-vendors", local=True, span_exporters=[Discard()], environ={}
    )
    out: dict[str, dict[str, list[float]]] = {}
    campaign = leadtrace.Campaign(id="spring-launch", source="google", medium="cpc")
    try:
        with handle.activate(), leadtrace.journey(campaign=campaign):
            for label, setup in VENDORS.items():
                call, http_instrumentor, ours = setup(url)
                http_instrumentor.instrument(tracer_provider=handle.tracer_provider)
                blocks = _blocks(call, ours, analytics=label.startswith(("segment", "rudder")))
                for block in blocks.values():
                    _cpu_per_call(block, handle.force_flush)  # warm-up
                samples: dict[str, list[float]] = {name: [] for name in blocks}
                order = list(blocks.items())
                for round_ in range(ROUNDS):
                    shift = round_ % len(order)
                    for name, block in order[shift:] + order[:shift]:
                        samples[name].append(_cpu_per_call(block, handle.force_flush))
                http_instrumentor.uninstrument()
                out[label] = samples
    finally:
        handle.shutdown()
    return out


def main() -> dict[str, float]:
    """Start the stand-in, measure every vendor, print median ratio and spread per vendor."""
    context = multiprocessing.get_context("spawn")
    port = context.Value("i", 0)
    server = context.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        while not port.value:
            time.sleep(0.01)
        rounds = measure(f"http://127.0.0.1:{port.value}")
    finally:
        server.terminate()
        server.join()
    print(f"\nvendor client calls, process CPU per call ({machine()})")
    print(f"{'call':<56} {'base µs':>9} {'ours µs':>9} {'median':>7} {'p10-p90':>13} {'target':>7}")
    medians: dict[str, float] = {}
    for label, samples in rounds.items():
        base = samples["otel"]
        for variant in VARIANTS:
            if variant not in samples:
                continue
            ours = samples[variant]
            ratios = [o / b for o, b in zip(ours, base, strict=True) if b > 0]
            median = statistics.median(ratios)
            name = f"{label}: {variant}"
            medians[name] = median
            verdict = "ok" if median <= TARGET else "OVER"
            spread = f"{_percentile(ratios, 0.1):.2f}-{_percentile(ratios, 0.9):.2f}x"
            print(
                f"{name:<56} {statistics.median(base):>9.1f} {statistics.median(ours):>9.1f} "
                f"{median:>6.2f}x {spread:>13} {TARGET:>6.2f}x {verdict}"
            )
    return medians


if __name__ == "__main__":
    main()
