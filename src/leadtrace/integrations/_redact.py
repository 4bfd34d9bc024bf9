"""What OpenTelemetry's own server spans may say about the visitor: query, address, browser.

OpenTelemetry's ASGI, WSGI, Flask and Django instrumentations put the full URL (with click ids
such as ``gclid``), the client IP and the full user agent on every server span. The web
integrations rewrite those attributes on the server span they run in, as the ``url_query``,
``url_query_keep``, ``client_address`` and ``user_agent`` settings say
(``docs/privacy.md``, "What leaves the process"). The OpenTelemetry API cannot remove an
attribute, so a dropped value is replaced by :data:`REDACTED`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from opentelemetry.trace import Span

from leadtrace._config import Settings
from leadtrace._sdk import add_attributes

__all__ = [
    "ADDRESS_KEYS",
    "REDACTED",
    "URL_KEYS",
    "USER_AGENT_KEYS",
    "RequestRedaction",
    "redact_query",
    "reduce_user_agent",
    "truncate_address",
]

REDACTED: Final = "REDACTED"
"""What replaces a value that must not leave the process."""

URL_KEYS: Final = frozenset({"http.url", "url.full", "http.target", "url.query"})
"""Attributes holding a URL, a path with its query, or the query alone."""
ADDRESS_KEYS: Final = frozenset(
    {
        "client.address",
        "net.peer.ip",
        "net.sock.peer.addr",
        "network.peer.address",
        "http.client_ip",
    }
)
"""Attributes holding the client's IP address (old and current OpenTelemetry names)."""
USER_AGENT_KEYS: Final = frozenset({"http.user_agent", "user_agent.original"})
"""Attributes holding the ``User-Agent`` header."""

_WATCHED: Final = URL_KEYS | ADDRESS_KEYS | USER_AGENT_KEYS
_CACHE: Final = 2048
_CACHED_TEXT: Final = 1024
"""Longest text whose result is cached (the caches stay a few MB at most)."""


def redact_query(text: str, keep: frozenset[str], drop: bool = False) -> str:
    """``text`` (a URL, a target or a bare query) with its query values replaced.

    Values of parameters named in ``keep`` stay; every other value becomes :data:`REDACTED`
    while the names stay (``gclid=REDACTED``). With ``drop`` the whole query goes.
    """
    if len(text) > _CACHED_TEXT:
        return _redact_query.__wrapped__(text, keep, drop)
    return _redact_query(text, keep, drop)


@lru_cache(maxsize=_CACHE)
def _redact_query(text: str, keep: frozenset[str], drop: bool) -> str:
    if "?" in text:
        base, _, query = text.partition("?")
        prefix = base + "?"
    elif "://" in text or text.startswith("/"):
        return text  # a URL or target without a query
    else:
        prefix, query = "", text
    if not query:
        return text
    if drop:
        return base if prefix else ""
    parts = []
    for part in query.split("&"):
        name, sep, _value = part.partition("=")
        if sep and name.lower() not in keep:
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(part)
    return prefix + "&".join(parts)


@lru_cache(maxsize=_CACHE)  # addresses are short
def truncate_address(text: str) -> str:
    """The network of an IP address: IPv4 to its /24, IPv6 to its /48 (:data:`REDACTED`
    when ``text`` is not an IP address)."""
    if len(text) > 64:
        return REDACTED
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return REDACTED
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


_BROWSERS: Final = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
)
_SYSTEMS: Final = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("iPod", "iOS"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
_BOT: Final = re.compile(r"(?i)bot|crawl|spider|slurp|headless")
_MAJOR: Final = re.compile(r"\d{1,4}")


def reduce_user_agent(text: str) -> str:
    """Browser family and major version plus OS family of a ``User-Agent`` header, e.g.
    ``Chrome 120 / macOS``; ``bot`` for crawlers and headless browsers, ``other`` for the rest."""
    if len(text) > _CACHED_TEXT:
        return _reduce_user_agent.__wrapped__(text)
    return _reduce_user_agent(text)


@lru_cache(maxsize=_CACHE)
def _reduce_user_agent(text: str) -> str:
    if _BOT.search(text):
        return "bot"
    system = next((name for token, name in _SYSTEMS if token in text), "other")
    for token, family in _BROWSERS:
        at = text.find(token)
        if at < 0 or (family == "Safari" and "Safari/" not in text):
            continue
        major = _MAJOR.match(text, at + len(token))
        return f"{family} {major.group()} / {system}" if major else f"{family} / {system}"
    return f"other / {system}"


class RequestRedaction:
    """Rewrites the visitor-identifying attributes of a server span, per the settings.

    Args:
        settings: the resolved settings (``url_query``, ``url_query_keep``,
            ``client_address``, ``user_agent``).
    """

    __slots__ = ("address", "keep", "query", "settings", "user_agent")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.query = settings.url_query
        self.keep = frozenset(name.lower() for name in settings.url_query_keep)
        self.address = settings.client_address
        self.user_agent = settings.user_agent

    def apply(self, span: Span) -> None:
        """Rewrite ``span``'s URL, client address and user agent attributes in place.

        Works on SDK spans (the only ones with readable attributes); a non-recording span
        is left alone.
        """
        attributes: Mapping[str, Any] | None = getattr(span, "attributes", None)
        if not attributes or not span.is_recording():
            return
        found = _WATCHED.intersection(attributes)
        if not found:
            return
        changed = {}
        for key in found:
            value = attributes[key]
            if value.__class__ is str:
                new = self._value(key, value)
                if new != value:
                    changed[key] = new
        if changed:
            add_attributes(span, changed)  # all text: span-ready as they are

    def _value(self, key: str, value: str) -> str:
        if key in URL_KEYS:
            if self.query == "keep":
                return value
            return redact_query(value, self.keep, self.query == "drop")
        if key in ADDRESS_KEYS:
            if self.address == "keep":
                return value
            return truncate_address(value) if self.address == "truncate" else REDACTED
        if self.user_agent == "keep":
            return value
        return reduce_user_agent(value) if self.user_agent == "reduce" else REDACTED
