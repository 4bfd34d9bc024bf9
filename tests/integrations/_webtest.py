"""Helpers shared by the web integration tests (imported by the test modules)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from leadtrace._runtime import Leadtrace

CAMPAIGN_QUERY = "utm_source=google&utm_medium=cpc&utm_campaign=spring-launch&utm_id=sl-26&gclid=x1"
"""Landing query of a paid search click."""
EMAIL_QUERY = "utm_source=newsletter&utm_medium=email&utm_campaign=november-digest"
"""Landing query of a later e-mail click."""
UNTRUSTED = "203.0.113.9"
"""A public client address (TEST-NET-3), outside the default trusted networks."""

BAD_REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("utm_source=" + "x" * 100_000, {}),
    ("utm_medium=a&utm_medium=b&" + "&".join(["k=v"] * 5000), {}),
    ("utm_campaign=a&utm_campaign=b&" + "&".join(["k=v"] * 5000), {}),
    ("utm_source=%FF%FE%00bad", {}),
    ("", {"Cookie": "leadtrace_touch=" + "A" * 9000}),
    ("", {"cookie": "leadtrace_touch=" + "A" * 9000}),
    ("", {"Cookie": "euconsent-v2=not-a-tcf-string!"}),
    ("", {"cookie": "euconsent-v2=not-a-tcf-string!; leadtrace_touch=v1.x.y"}),
    ("", {"REFERER": "http://[broken", "sec-gpc": "1"}),
    ("", {"referer": "http://[broken", "Sec-GPC": "1"}),
]
"""Hostile ``(query, headers)`` pairs for the WSGI test clients: huge and repeated parameters,
bad bytes, oversized and malformed cookies, a broken referrer, in mixed header casing."""


@dataclass
class Received:
    """One request the vendor server received."""

    path: str
    headers: Mapping[str, str]


@dataclass
class VendorServer:
    """An HTTP server on 127.0.0.1 that records the headers of every request."""

    port: int
    received: list[Received] = field(default_factory=list)

    @property
    def vendor_url(self) -> str:
        """A URL whose host (127.0.0.1) is NOT in propagate_to: stands for HubSpot & co."""
        return f"http://127.0.0.1:{self.port}/vendor"

    @property
    def internal_url(self) -> str:
        """A URL whose host (localhost) is in propagate_to: an internal service."""
        return f"http://localhost:{self.port}/internal"

    def last(self, path: str) -> Received:
        """The latest request received on ``path``."""
        return [r for r in self.received if r.path == path][-1]


def call_out(url: str) -> None:
    """What a handler does to call another service: inject where allowed, then GET."""
    import requests

    headers: dict[str, str] = {}
    leadtrace.inject(headers, url=url)
    requests.get(url, headers=headers, timeout=5).raise_for_status()


def spans_named(handle: Leadtrace, name: str) -> list[Any]:
    """Finished spans called ``name``."""
    return [s for s in handle.finished_spans() if s.name == name]


def server_spans(handle: Leadtrace) -> list[Any]:
    """Finished SERVER spans, oldest first."""
    from opentelemetry.trace import SpanKind

    return [s for s in handle.finished_spans() if s.kind == SpanKind.SERVER]


def counter_value(reader: InMemoryMetricReader, name: str, **attributes: str) -> float:
    """Sum of the points of counter ``name`` whose attributes include ``attributes``."""
    data = reader.get_metrics_data()
    total = 0.0
    if data is None:
        return total
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    if all(attrs.get(k) == v for k, v in attributes.items()):
                        total += point.value
    return total


def assert_no_business_context(received: Received, journey_id: str) -> None:
    """The vendor got no leadtrace header, no martech baggage, and no journey id anywhere."""
    assert "leadtrace-journey" not in received.headers
    assert "martech" not in received.headers.get("baggage", "")
    for value in received.headers.values():
        assert journey_id not in value
        assert "spring-launch" not in value


def tamper(cookie: str) -> str:
    """Flip one character in the payload part of a signed cookie value."""
    version, payload, signature = cookie.split(".")
    i = len(payload) // 2
    flipped = "A" if payload[i] != "A" else "B"
    return f"{version}.{payload[:i]}{flipped}{payload[i + 1 :]}.{signature}"


def journey_attributes(span: Any) -> dict[str, Any]:
    """A server span's leadtrace attributes (the ones a remembered decision repeats)."""
    return {k: v for k, v in span.attributes.items() if k.startswith(("martech.", "leadtrace."))}


def count_full_decisions(monkeypatch: Any) -> list[None]:
    """Count the requests whose journey ``WebJourneys`` decides in full (not remembered):
    the returned list grows by one per full decision."""
    from leadtrace.integrations._web import WebJourneys

    decided: list[None] = []
    full = WebJourneys._begin

    def counting(self: WebJourneys, *args: Any) -> Any:
        decided.append(None)
        return full(self, *args)

    monkeypatch.setattr(WebJourneys, "_begin", counting)
    return decided


def assert_steady_visits_remembered(
    handle: Leadtrace, get: Callable[[str], object], decided: list[None]
) -> None:
    """Four visits with the same cookie and query through ``get(url)``: the new journey and
    the first return are decided in full (``decided``, see :func:`count_full_decisions`), the
    other two are remembered and describe their server spans the same; another query is
    decided in full again."""
    for _ in range(4):
        get(f"/?{CAMPAIGN_QUERY}")
    assert len(decided) == 2
    computed, *remembered = (journey_attributes(s) for s in server_spans(handle)[1:])
    assert remembered == [computed, computed]
    get(f"/?{EMAIL_QUERY}")
    assert len(decided) == 3


CLICK_IDS_QUERY = (
    "utm_source=google&utm_campaign=spring-launch&gclid=GCLID-RAW-1&fbclid=FBCLID-RAW-2"
    "&msclkid=MSCLKID-RAW-3&li_fat_id=LIFATID-RAW-4&gbraid=GBRAID-RAW-5&wbraid=WBRAID-RAW-6"
    "&ttclid=TTCLID-RAW-7&ref=REF-RAW-8"
)
"""Landing query with every click id (and one other parameter) holding a recognisable value."""
VISITOR_ADDRESS = "203.0.113.77"
"""The visitor's IP address in the privacy tests (TEST-NET-3)."""
VISITOR_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
"""A full desktop Chrome user agent."""
_RAW_VISITOR_VALUES = (
    *(f"RAW-{n}" for n in range(1, 9)),
    VISITOR_ADDRESS,
    "AppleWebKit",
    "KHTML",
)


def assert_visitor_not_exported(handle: Leadtrace) -> Any:
    """No exported span holds a raw click id, query value, the full IP or the full user
    agent; returns the server span, whose attributes say what was kept instead."""
    spans = handle.finished_spans()
    for span in spans:
        for key, value in span.attributes.items():
            for raw in _RAW_VISITOR_VALUES:
                assert raw not in str(value), (span.name, key, value)
    (server,) = server_spans(handle)
    return server
