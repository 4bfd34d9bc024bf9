"""Run under `opentelemetry-instrument`: one HubSpot create inside a journey, no setup code.

A HubSpot stand-in answers on 127.0.0.1 from a thread of this process; the test reads the
spans this process exports over OTLP. A plain urllib3 request after the HubSpot call shows
that OpenTelemetry's urllib3 instrumentation is loaded too. The script prints, per path,
whether the request carried a ``traceparent`` header, then the journey id.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import hubspot
import urllib3
from hubspot.crm.contacts import SimplePublicObjectInputForCreate

import leadtrace

CREATED = {
    "id": "512",
    "properties": {},
    "createdAt": "2026-01-01T09:00:00.000Z",
    "updatedAt": "2026-01-01T09:00:00.000Z",
    "archived": False,
}


TRACEPARENT: dict[str, bool] = {}


class HubSpot(BaseHTTPRequestHandler):
    """Answers every POST with HubSpot's 201 create body."""

    def do_POST(self) -> None:
        TRACEPARENT[self.path] = "traceparent" in self.headers
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps(CREATED).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


server = ThreadingHTTPServer(("127.0.0.1", 0), HubSpot)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"
client = hubspot.Client.create(access_token="test-token", host=url)
campaign = leadtrace.Campaign(id="zero-code", source="newsletter", medium="email")
with leadtrace.journey(campaign=campaign) as journey:
    body = SimplePublicObjectInputForCreate(properties={"email": "ada@example.com"})
    client.crm.contacts.basic_api.create(body)
    urllib3.PoolManager().request("POST", f"{url}/own-service")
print(json.dumps(TRACEPARENT))
print(journey.journey_id)
server.shutdown()
