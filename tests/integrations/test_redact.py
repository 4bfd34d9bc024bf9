"""Visitor attributes of OpenTelemetry's server spans: query values, client address, agent."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import SpanKind

from _handles import active_handle
from leadtrace.integrations._redact import (
    RequestRedaction,
    redact_query,
    reduce_user_agent,
    truncate_address,
)

KEEP = frozenset({"utm_source", "utm_campaign"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/?utm_source=g&gclid=abc", "/?utm_source=g&gclid=REDACTED"),
        (
            "http://x.test/p?UTM_SOURCE=g&email=a%40b.c",
            "http://x.test/p?UTM_SOURCE=g&email=REDACTED",
        ),
        ("gclid=abc&flag&utm_campaign=s", "gclid=REDACTED&flag&utm_campaign=s"),
        ("/path", "/path"),
        ("http://x.test/", "http://x.test/"),
        ("/?", "/?"),
    ],
)
def test_query_values_are_replaced_names_kept(text: str, expected: str) -> None:
    """Every value outside the keep list becomes REDACTED; names and kept values stay."""
    assert expected == redact_query(text, KEEP)


def test_drop_removes_the_whole_query() -> None:
    """``drop`` leaves the URL, target or query without any query."""
    assert (
        redact_query("http://x.test/p?gclid=1", KEEP, drop=True),
        redact_query("/p?gclid=1", KEEP, drop=True),
        redact_query("gclid=1", KEEP, drop=True),
    ) == ("http://x.test/p", "/p", "")


def test_long_urls_are_redacted_too() -> None:
    """A URL longer than the cached size is redacted the same way."""
    text = "/?gclid=" + "x" * 5000
    assert redact_query(text, KEEP) == "/?gclid=REDACTED"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("not-an-ip", "REDACTED"),
    ],
)
def test_addresses_are_truncated_to_their_network(address: str, expected: str) -> None:
    """IPv4 keeps its /24, IPv6 its /48; anything else is replaced."""
    assert expected == truncate_address(address)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.83",
            "Edge 121 / Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Safari 17 / iOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
            "Firefox 122 / Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            "Chrome 120 / Android",
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("curl/8.5.0", "other / other"),
    ],
)
def test_user_agents_are_reduced_to_family_major_and_system(agent: str, expected: str) -> None:
    """A user agent becomes browser family, major version and OS family."""
    assert expected == reduce_user_agent(agent)


def test_current_semantic_convention_names_are_rewritten_and_dropped(
    metric_reader: InMemoryMetricReader,
) -> None:
    """``url.full``, ``client.address``, ``user_agent.original`` (and friends) follow the
    settings on the exported span; ``drop`` replaces the value."""
    for handle in active_handle(metric_reader, client_address="drop", user_agent="drop"):
        tracer = handle.tracer_provider.get_tracer("server")
        attributes = {
            "url.full": "https://x.test/?gclid=abc",
            "url.query": "gclid=abc",
            "client.address": "203.0.113.77",
            "network.peer.address": "203.0.113.77",
            "user_agent.original": "Mozilla/5.0 Firefox/122.0",
            "http.request.method": "GET",
        }
        with tracer.start_as_current_span(
            "GET /", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            RequestRedaction(handle.settings).apply(span)
        (exported,) = handle.finished_spans()
        assert {k: v for k, v in exported.attributes.items() if not k.startswith("martech.")} == {
            "url.full": "https://x.test/?gclid=REDACTED",
            "url.query": "gclid=REDACTED",
            "client.address": "REDACTED",
            "network.peer.address": "REDACTED",
            "user_agent.original": "REDACTED",
            "http.request.method": "GET",
        }
