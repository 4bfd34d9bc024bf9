"""Fixtures for the web integration tests: a local handle, a vendor server, requests tracing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from _webtest import Received, VendorServer
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from _handles import active_handle
from leadtrace._runtime import Leadtrace


@pytest.fixture
def web(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local strict handle whose propagate_to allows only ``localhost`` (not 127.0.0.1), under
    the ``legitimate_interest`` consent policy: the first visit gets its cookie (the attribution
    tests' subject); ``opt_in`` has its own tests."""
    yield from active_handle(
        metric_reader,
        service_name="landing-web",
        propagate_to=["localhost"],
        consent_policy="legitimate_interest",
    )


@pytest.fixture
def vendor() -> Iterator[VendorServer]:
    """A vendor / internal-service HTTP server on 127.0.0.1 (port chosen by the OS)."""
    server_state: list[VendorServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state[0].received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            body = b"{}"
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.append(VendorServer(port=httpd.server_address[1]))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server_state[0]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def traced_requests(web: Leadtrace) -> Iterator[None]:
    """``requests`` instrumented by OpenTelemetry against the test handle's provider."""
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=web.tracer_provider)
    yield
    instrumentor.uninstrument()
