"""Web integration: requests/second of a minimal FastAPI endpoint, OTel alone vs + leadtrace.

Every app runs FastAPIInstrumentor on an SDK TracerProvider with a BatchSpanProcessor that
discards; the leadtrace app adds leadtrace's span processors and ``LeadtraceMiddleware``.
Requests are driven straight into the ASGI app (no HTTP client, whose cost would dilute the
ratio), in batches, round-robin, GC off inside timed blocks. Scenarios:

1. returning visitor: a valid first-touch cookie (written when the visitor accepted the
   banner) and the same UTMs (the common request); target overhead <= 15 %.
2. first visit: no cookie and no consent yet, so every request starts a journey and emits
   ``session_started`` + ``campaign_attributed`` (two extra spans) and no cookie is written
   (``consent_policy=opt_in``, the default); reported, no target.

Both run with the default privacy settings: OpenTelemetry's URL, client address and user
agent attributes are rewritten on every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import leadtrace
from benchmarks._harness import (
    PROCESSES,
    Discard,
    Result,
    compare,
    fastest_of_processes,
    machine,
    print_table,
    quiet_batches,
)
from leadtrace.integrations.asgi import LeadtraceMiddleware

QUERY = b"utm_source=google&utm_medium=cpc&utm_campaign=spring-launch&gclid=x1"
BATCH = 50
TARGET = 1.15


def _app(provider: Any, *, leadtrace_on: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/consent")
    async def consent() -> dict[str, str]:
        leadtrace.annotate(consent=leadtrace.ConsentState(status="granted", source="banner"))
        return {"ok": "yes"}

    if leadtrace_on:
        app.add_middleware(LeadtraceMiddleware)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app


def _scope(cookie: bytes | None) -> dict[str, Any]:
    headers = [
        (b"host", b"landing.test"),
        (b"user-agent", b"bench"),
        (b"accept", b"text/html"),
        (b"referer", b"https://www.google.com/"),
    ]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": QUERY,
        "root_path": "",
        "headers": headers,
        "client": ("198.51.100.7", 50000),
        "server": ("landing.test", 80),
    }


async def _request(app: FastAPI, scope: dict[str, Any], sink: list[Any]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sink.append(message)

    await app(dict(scope), receive, send)


def _batch(
    loop: asyncio.AbstractEventLoop, app: FastAPI, scope: dict[str, Any]
) -> Callable[[], None]:
    async def many() -> None:
        sink: list[Any] = []
        for _ in range(BATCH):
            await _request(app, scope, sink)
            sink.clear()

    def run() -> None:
        loop.run_until_complete(many())

    return run


def _first_cookie(loop: asyncio.AbstractEventLoop, app: FastAPI) -> bytes:
    """The cookie the visitor gets by accepting the banner."""
    sink: list[Any] = []
    loop.run_until_complete(_request(app, {**_scope(None), "path": "/consent"}, sink))
    start = next(m for m in sink if m["type"] == "http.response.start")
    value = next(v for k, v in start["headers"] if k == b"set-cookie")
    return bytes(value.split(b";", 1)[0])


SCENARIOS = {
    "returning visitor (cookie + UTMs)": TARGET,
    "first visit (new journey + 2 events)": float("inf"),
}
ROUNDS = 48 // PROCESSES


def measure() -> dict[str, Result]:
    """Time both scenarios in this process; results are keyed ``"<scenario>|<app>"``.

    Three apps run round-robin: OTel alone on a plain SDK provider; OTel on the provider
    ``leadtrace.configure()`` builds (its span processors) without the middleware; and OTel
    with leadtrace on top (processors + middleware).
    """
    quiet_batches()
    handle = leadtrace.configure(
        service_name="bench-web", local=True, span_exporters=[Discard()], environ={}
    )
    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(Discard()))
    loop = asyncio.new_event_loop()
    out: dict[str, Result] = {}
    try:
        with handle.activate():
            base_app = _app(bare_provider, leadtrace_on=False)
            processors_app = _app(handle.tracer_provider, leadtrace_on=False)
            our_app = _app(handle.tracer_provider, leadtrace_on=True)
            cookie = _first_cookie(loop, our_app)
            scopes = dict(zip(SCENARIOS, (_scope(cookie), _scope(None)), strict=True))
            for label, scope in scopes.items():
                results = compare(
                    {
                        "otel": _batch(loop, base_app, scope),
                        "processors": _batch(loop, processors_app, scope),
                        "leadtrace": _batch(loop, our_app, scope),
                    },
                    # Short blocks, many rounds: the fastest is robust to the bursts of
                    # machine noise that a few long blocks all catch.
                    iterations=2,
                    rounds=ROUNDS,
                    warmup=4,
                    between=lambda: (handle.force_flush(), bare_provider.force_flush()),
                )
                out.update({f"{label}|{name}": result for name, result in results.items()})
    finally:
        loop.close()
        handle.shutdown()
        bare_provider.shutdown()
    return out


def main() -> dict[str, float]:
    """Measure in fresh processes; print requests/second and the overhead ratios.

    The first ratio of each scenario is the overhead the issue targets; the second isolates
    the middleware's share (against OTel on leadtrace's processors).
    """
    results = fastest_of_processes(measure)
    ratios: dict[str, float] = {}
    rows = []
    for label, target in SCENARIOS.items():
        ours, mid, base = (
            results[f"{label}|{name}"] for name in ("leadtrace", "processors", "otel")
        )
        ratios[label] = ours.us / base.us
        ratios[f"{label}, middleware only"] = ours.us / mid.us
        rows.append((f"{label}: all", ours, base, target))
        rows.append((f"{label}: middleware", ours, mid, target))
        print(
            f"{label}: OTel alone {BATCH * 1e6 / base.us:,.0f} req/s, "
            f"+ leadtrace {BATCH * 1e6 / ours.us:,.0f} req/s "
            f"(overhead {100 * (ratios[label] - 1):.1f} %; the middleware's share "
            f"{100 * (ours.us / mid.us - 1):.1f} %)"
        )
    print_table(f"web requests, per batch of {BATCH} ({machine()})", rows)
    return ratios


if __name__ == "__main__":
    main()
