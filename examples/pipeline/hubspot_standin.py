"""A local STAND-IN for HubSpot's CRM contacts API, for the demo and tests. Not HubSpot.

It answers the one call the demo pipeline makes, ``POST /crm/v3/objects/contacts``, with the
responses HubSpot documents for it, so the real ``hubspot-api-client`` (and leadtrace's
HubSpot instrumentation) can run offline on 127.0.0.1:

- a new e-mail address: ``201 Created`` with the new contact (``id``, ``properties``, ...);
- an address that already exists: ``409 Conflict``, ``category: CONFLICT`` and the message
  ``Contact already exists. Existing ID: <id>``;
- a company listed in ``FLAKY_COMPANIES``: ``503`` with HubSpot's error body, a stand-in for
  an outage (the client's retries see it every time).

Run it alone: ``python examples/pipeline/hubspot_standin.py --port 8090``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FLAKY_COMPANIES = frozenset({"flaky-crm.example"})
"""Creates for these companies answer 503: the CRM-outage fault of the demo."""

CONTACTS_PATH = "/crm/v3/objects/contacts"


class Contacts:
    """The stand-in's contact store: e-mail address -> contact id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_email: dict[str, str] = {}
        self._ids = itertools.count(5101)

    def create(self, email: str) -> tuple[str, bool]:
        """The contact id for ``email`` and whether it was created now (False: it existed)."""
        key = email.strip().lower()
        with self._lock:
            if key in self._by_email:
                return self._by_email[key], False
            self._by_email[key] = str(next(self._ids))
            return self._by_email[key], True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: str, message: str, category: str) -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


def make_handler(contacts: Contacts) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``contacts``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet: the demo prints its own progress
            pass

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-HubSpot-RateLimit-Max", "190")
            self.send_header("X-HubSpot-RateLimit-Remaining", "189")
            self.send_header("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                properties = body["properties"]
                email = properties["email"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, _error("error", "Invalid input JSON", "VALIDATION_ERROR"))
                return
            if self.path.split("?")[0] != CONTACTS_PATH:
                self._reply(404, _error("error", "Not found", "OBJECT_NOT_FOUND"))
                return
            if properties.get("company") in FLAKY_COMPANIES:
                self._reply(503, _error("error", "Service unavailable", "SERVICE_UNAVAILABLE"))
                return
            contact_id, created = contacts.create(email)
            if not created:
                message = f"Contact already exists. Existing ID: {contact_id}"
                self._reply(409, _error("error", message, "CONFLICT"))
                return
            stamp = _now()
            self._reply(
                201,
                {
                    "id": contact_id,
                    "properties": {**properties, "hs_object_id": contact_id},
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "archived": False,
                },
            )

    return Handler


class StandinServer(ThreadingHTTPServer):
    """The stand-in's HTTP server; ``contacts`` is its store (tests and the demo seed it)."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        self.contacts = Contacts()
        super().__init__(("127.0.0.1", port), make_handler(self.contacts))

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.shutdown()
        self.server_close()


def serve(port: int = 0) -> StandinServer:
    """Start the stand-in on 127.0.0.1:``port`` (0: a free port) in a daemon thread."""
    server = StandinServer(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    """Serve the stand-in until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    server = StandinServer(args.port)
    print(f"HubSpot stand-in (not HubSpot) on http://127.0.0.1:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
