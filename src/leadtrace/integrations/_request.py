"""Framework-free request parsing for the web integrations: bounded, total, never raising.

Every parser here accepts whatever a client can send (huge query strings, repeated
parameters, non-UTF-8 bytes, odd header casing, malformed cookies) and returns a bounded,
cleaned result. Limits are module constants so the documentation can quote them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NamedTuple
from urllib.parse import unquote_plus, urlsplit

from leadtrace.scrubbing import might_contain_pii

__all__ = [
    "MAX_BODY_SCAN",
    "MAX_COOKIES",
    "MAX_COOKIE_HEADER",
    "MAX_FIELD_NAME",
    "MAX_FORM_FIELDS",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE",
    "MAX_PARAM_VALUE",
    "MAX_QUERY",
    "MAX_QUERY_FIELDS",
    "READ_HEADERS",
    "RequestInfo",
    "clean_value",
    "client_trusted",
    "field_names",
    "form_field_names",
    "header_map",
    "host_of",
    "invalid_networks",
    "is_form",
    "parse_cookies",
    "parse_query",
    "referrer_host",
    "to_text",
]

MAX_QUERY = 8192
"""Characters of the query string that are parsed; the rest is ignored."""
MAX_QUERY_FIELDS = 128
"""``name=value`` pairs of the query string that are looked at."""
MAX_PARAM_VALUE = 128
"""Characters kept of one UTM value (longer values are cut)."""
MAX_COOKIE_HEADER = 16384
"""Characters of the ``Cookie`` header that are parsed."""
MAX_COOKIES = 64
"""Cookies parsed from one ``Cookie`` header."""
MAX_HEADERS = 128
"""Request headers looked at."""
MAX_HEADER_VALUE = 8192
"""Characters kept of one header value."""
MAX_FORM_FIELDS = 200
"""Form field names recorded for one form post."""
MAX_FIELD_NAME = 128
"""Characters kept of one form field name."""
MAX_BODY_SCAN = 65536
"""Bytes of a form body scanned for field names (names after this are not recorded)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MULTIPART_NAME = re.compile(rb'(?i)content-disposition:[^\r\n]*?[; ]name="([^"\r\n]*)"')
_BOUNDARY = re.compile(r'(?i)boundary="?([^";,]{1,200})"?')


_NO_VALUES: Final[Mapping[str, str]] = MappingProxyType({})


class RequestInfo(NamedTuple):
    """What the web integrations need to know about one request, already cleaned.

    Build it with the framework adapter's helper; every field is bounded. Immutable (a named
    tuple: built on every request, it costs a fraction of a frozen dataclass).
    """

    method: str
    """HTTP method, upper case."""
    path: str
    """Request path without the query string (at most 1024 characters)."""
    scheme: str = "http"
    """``http`` or ``https``."""
    host: str | None = None
    """Host the request was sent to, lower case, without port."""
    client: str | None = None
    """Client (peer) IP address, when the server knows it."""
    params: Mapping[str, str] = _NO_VALUES
    """Attribution query parameters (UTMs, click ids): first occurrence of each, cleaned."""
    headers: Mapping[str, str] = _NO_VALUES
    """The request headers leadtrace reads (:data:`READ_HEADERS`), lower-case names, first
    occurrence of each."""
    cookies: Mapping[str, str] = _NO_VALUES
    """Cookies from the ``Cookie`` header (first occurrence of each name)."""


def to_text(raw: str | bytes | None, limit: int) -> str:
    """Decode ``raw`` (UTF-8, invalid bytes replaced) and cut it to ``limit`` characters."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw[: limit * 4].decode("utf-8", "replace")[:limit]
    return raw[:limit]


def clean_value(raw: str, limit: int = MAX_PARAM_VALUE) -> str | None:
    """Strip whitespace and control characters, cut to ``limit``; None when nothing is left."""
    value = _CONTROL.sub("", raw).strip()[:limit].strip()
    return value or None


def parse_query(raw: str | bytes | None, wanted: Iterable[str]) -> dict[str, str]:
    """Parse the parameters named in ``wanted`` out of a query string.

    Names are matched case-insensitively; the first non-empty occurrence of a repeated
    parameter wins. At most :data:`MAX_QUERY` characters and :data:`MAX_QUERY_FIELDS` pairs are
    looked at; values are percent-decoded as UTF-8 (invalid bytes replaced), stripped of control
    characters and cut to :data:`MAX_PARAM_VALUE` characters. Results are cached (LRU, 1024
    entries, keyed by the cut query): campaign landing URLs repeat.
    """
    if not raw:
        return {}
    cut = raw[: MAX_QUERY * 4] if isinstance(raw, bytes) else raw[:MAX_QUERY]
    names = frozenset(wanted)
    key = (cut, names)
    parsed = _QUERY_CACHE.get(key)
    if parsed is None:
        parsed = _parse_query(cut, names)
        # Only short queries without personal data are kept: the cache must neither hold
        # e-mail addresses or phone numbers nor let a client fill memory with long strings.
        # (Looking a query up first stores nothing, so the check runs on misses only.)
        if len(cut) <= _CACHED_QUERY_MAX and not might_contain_pii(to_text(cut, MAX_QUERY)):
            if len(_QUERY_CACHE) >= _QUERY_CACHE_MAX:
                _QUERY_CACHE.clear()
            _QUERY_CACHE[key] = parsed
    return dict(parsed)


_CACHED_QUERY_MAX: Final = 512
_QUERY_CACHE_MAX: Final = 1024
_QUERY_CACHE: dict[tuple[str | bytes, frozenset[str]], tuple[tuple[str, str], ...]] = {}
"""Parsed landing queries (campaign URLs repeat), bounded: cleared when full."""


def _parse_query(raw: str | bytes, names: frozenset[str]) -> tuple[tuple[str, str], ...]:
    text = to_text(raw, MAX_QUERY)
    result: dict[str, str] = {}
    for part in text.split("&", MAX_QUERY_FIELDS)[:MAX_QUERY_FIELDS]:
        key_raw, _, value_raw = part.partition("=")
        key = unquote_plus(key_raw[:64], errors="replace").strip().lower()
        if key not in names or key in result:
            continue
        value = clean_value(unquote_plus(value_raw[: MAX_PARAM_VALUE * 12], errors="replace"))
        if value is not None:
            result[key] = value
    return tuple(result.items())


def parse_cookies(raw: str | bytes | None) -> dict[str, str]:
    """Parse a ``Cookie`` header into ``{name: value}``, first occurrence of each name.

    Malformed pairs are skipped; surrounding double quotes are removed from values; at most
    :data:`MAX_COOKIE_HEADER` characters and :data:`MAX_COOKIES` cookies are read.
    """
    text = to_text(raw, MAX_COOKIE_HEADER)
    result: dict[str, str] = {}
    for part in text.split(";", MAX_COOKIES)[:MAX_COOKIES]:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name or name in result:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        result[name] = value
    return result


READ_HEADERS = frozenset(
    {
        "host",
        "referer",
        "cookie",
        "content-type",
        "sec-gpc",
        "leadtrace-journey",
        "leadtrace-synthetic",
    }
)
"""The request headers the web integrations read; others are not even decoded."""
_READ_HEADERS_BYTES = {h.encode("ascii"): h for h in READ_HEADERS}


def header_map(
    pairs: Iterable[tuple[str | bytes, str | bytes]],
    wanted: frozenset[str] | None = None,
) -> dict[str, str]:
    """Headers as ``{lower-case name: value}``, first occurrence of each, bounded.

    With ``wanted``, only those (lower-case) names are kept. ``Cookie`` headers sent more than
    once (HTTP/2 may split them) are joined with ``; ``.
    """
    wanted_bytes = _READ_HEADERS_BYTES if wanted is READ_HEADERS else None
    result: dict[str, str] = {}
    for count, (name_raw, value_raw) in enumerate(pairs):
        if count >= MAX_HEADERS:
            break
        if wanted_bytes is not None and name_raw.__class__ is bytes:
            # ASGI: names are bytes, lower case as the spec asks servers to send them (any
            # other casing is lowered first); the wanted ones map straight to their text.
            name = wanted_bytes.get(name_raw)
            if name is None:
                if name_raw.islower():
                    continue
                name = wanted_bytes.get(name_raw.lower())
                if name is None:
                    continue
        else:
            name = to_text(name_raw, 128).strip().lower()
            if not name or (wanted is not None and name not in wanted):
                continue
        value = to_text(value_raw, MAX_HEADER_VALUE)
        if name not in result:
            result[name] = value
        elif name == "cookie":
            result[name] = f"{result[name]}; {value}"[:MAX_COOKIE_HEADER]
    return result


# The common shapes, read without urlsplit: a plain host name or IPv4 address with an
# optional port, and an http(s) URL starting with one. Anything else (user info, IPv6,
# whitespace, other schemes) goes through urlsplit.
_PLAIN_HOST: Final = re.compile(r"([A-Za-z0-9][A-Za-z0-9.\-]{0,252})(?::[0-9]{1,5})?", re.ASCII)
_PLAIN_URL: Final = re.compile(
    r"(?i:https?)://([A-Za-z0-9][A-Za-z0-9.\-]{0,252})(?::[0-9]{1,5})?(?:[/?#]|\Z)", re.ASCII
)


def host_of(raw: str | None) -> str | None:
    """Lower-case host of a ``Host`` header value (port removed); None when unusable."""
    if not raw:
        return None
    plain = _PLAIN_HOST.fullmatch(raw)
    if plain is not None:
        return plain.group(1).lower()
    host = _split_host(f"//{raw.strip()[:300]}")
    return host[:253] if host else None


def referrer_host(raw: str | None) -> str | None:
    """Lower-case host of a ``Referer`` URL; None when absent, relative or unparsable."""
    if not raw:
        return None
    plain = _PLAIN_URL.match(raw)
    if plain is not None:
        return plain.group(1).lower()
    host = _split_host(raw.strip()[:2048])
    return (_CONTROL.sub("", host)[:253] or None) if host else None


def _split_host(url: str) -> str | None:
    """``urlsplit``'s lower-case host of ``url``; None when it has none or cannot be split."""
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def field_names(names: Iterable[str]) -> tuple[str, ...]:
    """Distinct, cleaned form field names in first-seen order, bounded."""
    seen: dict[str, None] = {}
    for raw in names:
        name = clean_value(raw, MAX_FIELD_NAME)
        if name is not None and name not in seen:
            seen[name] = None
            if len(seen) >= MAX_FORM_FIELDS:
                break
    return tuple(seen)


def is_form(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` is an HTML form post (urlencoded or multipart)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media in {"application/x-www-form-urlencoded", "multipart/form-data"}


def form_field_names(content_type: str | None, body: bytes) -> tuple[str, ...]:
    """Names (never values) of the fields in the first :data:`MAX_BODY_SCAN` bytes of a form.

    Handles ``application/x-www-form-urlencoded`` and ``multipart/form-data``; anything else
    (or garbage) yields an empty tuple.
    """
    if not content_type:
        return ()
    body = body[:MAX_BODY_SCAN]
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", "replace")
        keys = (
            unquote_plus(pair.partition("=")[0][: MAX_FIELD_NAME * 3], errors="replace")
            for pair in text.split("&", MAX_FORM_FIELDS * 2)[: MAX_FORM_FIELDS * 2]
        )
        return field_names(keys)
    if media == "multipart/form-data":
        if _BOUNDARY.search(content_type) is None:
            return ()
        names = (
            m.group(1)[: MAX_FIELD_NAME * 4].decode("utf-8", "replace")
            for m in _MULTIPART_NAME.finditer(body)
        )
        return field_names(names)
    return ()


@lru_cache(maxsize=32)
def _networks(
    cidrs: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    return tuple(nets)


def invalid_networks(cidrs: Iterable[str]) -> list[str]:
    """The entries of ``cidrs`` that are not valid CIDR networks (checked at setup)."""
    bad = []
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            bad.append(cidr)
    return bad


def client_trusted(client: str | None, cidrs: tuple[str, ...]) -> bool:
    """Whether the client address lies in one of the ``cidrs`` networks.

    A missing or non-IP client (e.g. a test client's placeholder name) is not trusted.
    Answers are cached (LRU, 4096 addresses).
    """
    if not client or not cidrs:
        return False
    return _client_trusted(client[:64], cidrs)


@lru_cache(maxsize=4096)
def _client_trusted(client: str, cidrs: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(client.strip().split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _networks(cidrs))
