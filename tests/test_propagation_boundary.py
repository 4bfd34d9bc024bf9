"""Propagation boundary: business context reaches internal services only, never vendors."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import propagate

import leadtrace
from leadtrace._runtime import Leadtrace
from leadtrace.consent import ConsentState
from leadtrace.context import HEADER


class _Recorder(BaseHTTPRequestHandler):
    """Records the headers of every request by path."""

    def do_GET(self) -> None:
        self.server.seen[self.path] = dict(self.headers.items())  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server() -> Iterator[Any]:
    """One HTTP server on 127.0.0.1 standing for both a vendor API and an internal service."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.seen = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def boundary() -> Iterator[Leadtrace]:
    """A handle that propagates to localhost and cluster services only (127.0.0.1 is a vendor)."""
    h = leadtrace.configure(
        service_name="landing-web",
        local=True,
        environ={"LEADTRACE_PROPAGATE_TO": "localhost,*.svc.cluster.local"},
    )
    with h.activate():
        yield h
    h.shutdown()


def _call(url: str) -> None:
    """What instrumented client code does: W3C trace context, then leadtrace where allowed."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    leadtrace.inject(headers, url=url)
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5):  # noqa: S310 - http on loopback only
        pass


def test_vendor_call_gets_no_business_context_internal_call_does(
    boundary: Leadtrace, server: Any
) -> None:
    """A HubSpot-style call receives no leadtrace header; the internal service gets the journey."""
    port = server.server_address[1]
    who = leadtrace.identity(email="ada@example.com", contact_id="C-1")
    consent = ConsentState(status="granted", purposes=frozenset({"analytics"}))
    with (
        leadtrace.journey(
            identity=who, consent=consent, campaign=leadtrace.Campaign(id="sl-26")
        ) as j,
        boundary.tracer.start_as_current_span("handler"),
    ):
        _call(f"http://127.0.0.1:{port}/crm/v3/objects/contacts")
        _call(f"http://localhost:{port}/route")
    vendor = {k.lower(): v for k, v in server.seen["/crm/v3/objects/contacts"].items()}
    internal = {k.lower(): v for k, v in server.seen["/route"].items()}
    assert "traceparent" in vendor
    assert HEADER not in vendor
    assert not [v for v in vendor.values() if j.journey_id in v or "sl-26" in v]
    assert "baggage" not in vendor
    assert internal[HEADER].startswith(f"v=1;j={j.journey_id};")
    assert "c=sl-26" in internal[HEADER]
    assert "cs=granted" in internal[HEADER]
    assert who.email_hash not in internal[HEADER]
    assert "C-1" not in internal[HEADER]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.hubapi.com/crm/v3/objects/contacts", False),
        ("https://acme.my.salesforce.com/services/data/v60.0/sobjects/Lead", False),
        ("https://api.segment.io/v1/track", False),
        ("http://router.leads.svc.cluster.local/assign", True),
        ("http://LOCALHOST:8080/route", True),
        ("not a url", False),
    ],
)
def test_inject_follows_the_host_allow_list(boundary: Leadtrace, url: str, allowed: bool) -> None:
    """inject() writes the header only for hosts matching LEADTRACE_PROPAGATE_TO globs."""
    headers: dict[str, str] = {}
    with leadtrace.journey():
        assert leadtrace.inject(headers, url=url) is allowed
    assert (HEADER in headers) is allowed


def test_default_allow_list_excludes_vendor_hosts(handle: Leadtrace) -> None:
    """With default settings, vendor hosts get nothing and in-cluster hosts get the header."""
    with leadtrace.journey():
        assert not leadtrace.inject({}, url="https://api.hubapi.com/crm/v3/objects/contacts")
        assert leadtrace.inject({}, url="http://enrich.internal/v1/person")


@pytest.mark.parametrize(
    "value",
    [
        "v=1;j=<script>;t=1",
        "v=1;t=1764151200000",
        "j=" + "a" * 2000,
        "garbage",
        "",
    ],
)
def test_malformed_inbound_headers_are_ignored(value: str) -> None:
    """extract() returns None for unusable headers and never raises."""
    assert leadtrace.extract({HEADER: value}) is None


def _clients_agree_on(url: str) -> str | None:
    """The host requests/urllib3 and httpx would connect to, or None when they disagree or
    refuse the URL."""
    import httpx
    from urllib3.util import parse_url

    try:
        urllib3_host = (parse_url(url).host or "").strip("[]").lower()
        httpx_host = httpx.URL(url).host.lower()
    except Exception:
        return None
    return urllib3_host if urllib3_host == httpx_host and urllib3_host else None


LOOK_ALIKES = [
    ("http://localhost:8080/route", True),
    ("https://router.leads.svc.cluster.local/assign?x=@y", True),
    ("http://[::1]:8080/", False),  # not in this allow-list
    ("http://evil.com\\@localhost/", False),  # requests: evil.com, httpx: localhost
    ("http://evil.com\\.svc.cluster.local/x", False),  # requests: evil.com
    ("http://localhost\\@evil.com/", False),  # httpx: evil.com
    ("http://user@localhost/", False),  # userinfo: refused as ambiguous
    ("http://localhost@evil.com/", False),
    ("http://evil.com:80@localhost/", False),
    ("http://evil.com%5c@localhost/", False),
    ("http://evil.com\t@localhost/", False),
    ("http://evil.com#@localhost/", False),
    ("http://evil.com?@localhost/", False),
    ("http://localhost.evil.com/", False),
    ("http://localhost%2eevil.com/", False),  # urllib3 decodes it to localhost.evil.com
    ("http://a.svc.cluster.local\\x.evil.com/", False),
    ("http://l\u043ecalhost/", False),  # Cyrillic o
    ("http://localhost./", False),
    ("//localhost/route", False),  # scheme-relative: requests refuses it
    ("localhost/route", False),
    ("ftp://localhost/", False),
]


@pytest.mark.parametrize(("url", "allowed"), LOOK_ALIKES)
def test_inject_judges_the_host_the_http_clients_connect_to(
    boundary: Leadtrace, url: str, allowed: bool
) -> None:
    """Backslashes, userinfo, percent-encoding and look-alikes: the header is written only
    when requests/urllib3 and httpx both connect to an allowed host."""
    import fnmatch

    headers: dict[str, str] = {}
    with leadtrace.journey():
        written = leadtrace.inject(headers, url=url)
    assert written is allowed
    assert (HEADER in headers) is allowed
    if written:  # never written for a host a real client would read differently
        host = _clients_agree_on(url)
        assert host is not None
        assert any(fnmatch.fnmatchcase(host, p) for p in boundary.settings.propagate_to)


def test_a_backslash_url_sent_by_requests_carries_no_journey(
    boundary: Leadtrace, server: Any
) -> None:
    """``http://127.0.0.1:<port>\\@localhost/`` looks local to a naive parser; requests sends
    it to 127.0.0.1 (a vendor here), which receives no leadtrace header."""
    import requests

    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}\\@localhost/leak"
    headers: dict[str, str] = {}
    with leadtrace.journey():
        leadtrace.inject(headers, url=url)
    requests.get(url, headers=headers, timeout=5)
    ((path, seen),) = server.seen.items()
    assert path.endswith("@localhost/leak")
    assert HEADER not in {k.lower() for k in seen}
