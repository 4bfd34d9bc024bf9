"""Campaign attribution for web requests: channel rules and the signed first-touch cookie.

A visit's *touch* is a :class:`~leadtrace.Campaign` built from its UTM parameters, click id
and referrer host, with a channel chosen by an ordered :class:`ChannelRules` table (first
matching rule wins). The first touch of a journey is kept, unchanged, in an HMAC-signed
cookie; the last touch is stored next to it. A cookie whose signature does not verify is
rejected as a whole: attribution is never taken from unsigned data.

Cookie format (version 1)::

    v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(key, "v1." + payload))>
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final

from pydantic import ValidationError

from leadtrace import semconv
from leadtrace.events import Campaign, Channel
from leadtrace.privacy import DEVELOPMENT_HASH_KEY

__all__ = [
    "ATTRIBUTION_PARAMS",
    "CLICK_IDS",
    "DEFAULT_CAMPAIGN_ID_PARAMS",
    "DEFAULT_CHANNEL_RULES",
    "MAX_COOKIE_VALUE",
    "UTM_PARAMS",
    "AttributionState",
    "ChannelRule",
    "ChannelRules",
    "CookieRejectedError",
    "classify",
    "cookie_key",
    "decode_cookie",
    "encode_cookie",
    "last_touch_attributes",
    "same_campaign",
    "touches",
]

UTM_PARAMS: Final = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
)
"""UTM query parameters read from the landing URL."""

CLICK_IDS: Final = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid", "li_fat_id")
"""Ad click id parameters recognised, in priority order. Only the type is recorded."""

ATTRIBUTION_PARAMS: Final = frozenset(UTM_PARAMS + CLICK_IDS)
"""Every query parameter the web integrations read."""

MAX_COOKIE_VALUE: Final = 4096
"""Longest first-touch cookie value accepted (browsers cap a cookie at 4 KiB)."""

_COOKIE_VERSION = "v1"
_KEY_LABEL = b"leadtrace first-touch cookie v1"
_CAMPAIGN_FIELDS = (
    "id",
    "source",
    "medium",
    "name",
    "term",
    "content",
    "channel",
    "click_id_type",
    "id_source",
)
DEFAULT_CAMPAIGN_ID_PARAMS: Final = ("utm_id", "utm_campaign")
"""Where ``campaign.id`` comes from by default: ``utm_id``, else ``utm_campaign``."""


@dataclass(frozen=True, slots=True)
class ChannelRule:
    """One row of the channel table: a channel and the conditions that select it.

    Every condition given must hold (AND); within a condition any listed value matches (OR).
    A rule with no condition always matches (use it last, as the fallback). Comparisons are
    case-insensitive; ``referrer_hosts`` are globs (``*.google.*``).

    Args:
        channel: channel chosen when the rule matches; one of ``semconv.CHANNELS``.
        mediums: ``utm_medium`` values.
        sources: ``utm_source`` values.
        click_ids: click id parameter names (``gclid``, ``fbclid``, ...).
        referrer_hosts: host globs of the referring page (same-site referrers never match).
        has_campaign: True: the visit must carry UTM parameters or a click id;
            False: it must carry none.
    """

    channel: Channel
    mediums: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    click_ids: frozenset[str] = frozenset()
    referrer_hosts: tuple[str, ...] = ()
    has_campaign: bool | None = None

    def __post_init__(self) -> None:
        if self.channel not in semconv.CHANNELS:
            raise ValueError(
                f"ChannelRule channel must be one of {semconv.CHANNELS}, got {self.channel!r}"
            )
        for name in ("mediums", "sources", "click_ids"):
            values = frozenset(v.lower() for v in getattr(self, name))
            object.__setattr__(self, name, values)
        object.__setattr__(self, "referrer_hosts", tuple(h.lower() for h in self.referrer_hosts))

    def matches(
        self,
        params: Mapping[str, str],
        click_id: str | None,
        referrer: str | None,
    ) -> bool:
        """Whether this rule selects a visit with these parameters, click id and referrer."""
        if self.has_campaign is not None:
            has = click_id is not None or any(p in params for p in UTM_PARAMS)
            if has is not self.has_campaign:
                return False
        if self.mediums and params.get("utm_medium", "").lower() not in self.mediums:
            return False
        if self.sources and params.get("utm_source", "").lower() not in self.sources:
            return False
        if self.click_ids and click_id not in self.click_ids:
            return False
        if self.referrer_hosts:
            if referrer is None:
                return False
            if not any(fnmatch.fnmatchcase(referrer, glob) for glob in self.referrer_hosts):
                return False
        return True


@dataclass(frozen=True, slots=True, eq=False)
class ChannelRules:
    """An ordered, versioned channel table; the first matching rule wins.

    Tables compare by identity (results are cached per table). The version travels on
    ``campaign_attributed`` events (``martech.campaign.rule_version``)
    so a rule change is visible in the data. Extend the defaults rather than copying them::

        rules = ChannelRules(
            version="acme-1",
            rules=(ChannelRule("paid_social", sources={"acme-ads"}), *DEFAULT_CHANNEL_RULES.rules),
        )
    """

    version: str
    rules: tuple[ChannelRule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("ChannelRules needs at least one rule (end with a fallback)")

    def channel(
        self, params: Mapping[str, str], click_id: str | None, referrer: str | None
    ) -> Channel:
        """The channel of the first matching rule, ``other`` when none matches."""
        for rule in self.rules:
            if rule.matches(params, click_id, referrer):
                return rule.channel
        return "other"


_SOCIAL_SOURCES = frozenset(
    {
        "facebook",
        "fb",
        "instagram",
        "ig",
        "meta",
        "linkedin",
        "twitter",
        "x",
        "tiktok",
        "reddit",
        "pinterest",
        "snapchat",
        "youtube",
    }
)
_PAID_MEDIUMS = frozenset({"cpc", "ppc", "cpm", "paid", "paidsearch", "paid_search", "paid-search"})
_SEARCH_ENGINES = (
    "google.*",
    "*.google.*",
    "bing.com",
    "*.bing.com",
    "duckduckgo.com",
    "*.duckduckgo.com",
    "*.search.yahoo.com",
    "search.yahoo.com",
    "yandex.*",
    "*.yandex.*",
    "baidu.com",
    "*.baidu.com",
    "ecosia.org",
    "*.ecosia.org",
    "search.brave.com",
)

DEFAULT_CHANNEL_RULES: Final = ChannelRules(
    version="1",
    rules=(
        ChannelRule("paid_social", click_ids=frozenset({"fbclid", "ttclid", "li_fat_id"})),
        ChannelRule("paid_social", mediums=frozenset({"paid_social", "paidsocial", "paid-social"})),
        ChannelRule("paid_social", mediums=_PAID_MEDIUMS, sources=_SOCIAL_SOURCES),
        ChannelRule("paid_search", click_ids=frozenset({"gclid", "gbraid", "wbraid", "msclkid"})),
        ChannelRule("paid_search", mediums=_PAID_MEDIUMS | {"sem"}),
        ChannelRule("email", mediums=frozenset({"email", "e-mail", "e_mail", "newsletter"})),
        ChannelRule("email", sources=frozenset({"email", "newsletter"})),
        ChannelRule("organic", has_campaign=False, referrer_hosts=_SEARCH_ENGINES),
        ChannelRule("referral", has_campaign=False, referrer_hosts=("*",)),
        ChannelRule("other", has_campaign=True),
        ChannelRule("direct"),
    ),
)
"""The built-in channel table (version ``1``), in order:

1. ``paid_social``: an ``fbclid``, ``ttclid`` or ``li_fat_id`` click id; or a paid-social
   medium (``paid_social``); or a paid medium (``cpc``, ``ppc``, ``cpm``, ``paid``...) from a
   social source (``facebook``, ``linkedin``, ``tiktok``...).
2. ``paid_search``: a ``gclid``, ``gbraid``, ``wbraid`` or ``msclkid`` click id; or a paid medium.
3. ``email``: medium ``email`` / ``newsletter``, or source ``email`` / ``newsletter``.
4. ``organic``: no campaign markers, referred by a search engine.
5. ``referral``: no campaign markers, referred by another site.
6. ``other``: campaign markers no rule above recognised.
7. ``direct``: everything else.
"""


def classify(
    params: Mapping[str, str],
    referrer: str | None,
    own_host: str | None,
    rules: ChannelRules = DEFAULT_CHANNEL_RULES,
    id_params: tuple[str, ...] = DEFAULT_CAMPAIGN_ID_PARAMS,
) -> Campaign:
    """The touch of one visit: UTM values, click id type, referrer-derived source and channel.

    A referrer on ``own_host`` (internal navigation) counts as no referrer. Without UTM
    parameters, organic and referral visits take the referrer host as their source and
    ``organic`` / ``referral`` as their medium. The campaign id is the value of the first of
    ``id_params`` present (its name goes to ``id_source``). Results are cached (LRU, 1024
    entries): the same landing URL and referrer give the same, immutable campaign.
    """
    if referrer is not None and own_host is not None and referrer == own_host:
        referrer = None
    return _classify(tuple(sorted(params.items())), referrer, rules, id_params)[0]


def touches(
    params: Mapping[str, str],
    referrer: str | None,
    own_host: str | None,
    rules: ChannelRules = DEFAULT_CHANNEL_RULES,
    id_params: tuple[str, ...] = DEFAULT_CAMPAIGN_ID_PARAMS,
) -> tuple[Campaign, Campaign]:
    """The visit's touch labelled as first and as last touch (see :func:`classify`)."""
    if referrer is not None and own_host is not None and referrer == own_host:
        referrer = None
    _, first, last = _classify(tuple(sorted(params.items())), referrer, rules, id_params)
    return first, last


@lru_cache(maxsize=1024)
def _classify(
    items: tuple[tuple[str, str], ...],
    referrer: str | None,
    rules: ChannelRules,
    id_params: tuple[str, ...],
) -> tuple[Campaign, Campaign, Campaign]:
    params = dict(items)
    id_source = next((name for name in id_params if params.get(name)), None)
    click_id = next((c for c in CLICK_IDS if c in params), None)
    channel = rules.channel(params, click_id, referrer)
    source = params.get("utm_source")
    medium = params.get("utm_medium")
    if source is None and referrer is not None and channel in {"organic", "referral"}:
        source = referrer
        medium = medium or channel
    base = Campaign(
        id=params[id_source] if id_source is not None else None,
        source=source,
        medium=medium,
        name=params.get("utm_campaign"),
        term=params.get("utm_term"),
        content=params.get("utm_content"),
        channel=channel,
        click_id_type=click_id,
        id_source=id_source,
    )
    return (
        base,
        base.model_copy(update={"touch": semconv.TOUCH_FIRST}),
        base.model_copy(update={"touch": semconv.TOUCH_LAST}),
    )


# --- the signed cookie ---------------------------------------------------------------------------


class CookieRejectedError(ValueError):
    """A first-touch cookie was not accepted; ``reason`` says why (a metric attribute)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"first-touch cookie rejected: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class AttributionState:
    """What the first-touch cookie holds: the journey and its first and last touches.

    Compared by identity: :func:`decode_cookie` returns the same object for the same cookie.
    """

    journey_id: str
    started_at: datetime
    first: Campaign
    last: Campaign


def cookie_key(cookie_key: bytes | None, hash_key: bytes | None) -> bytes:
    """The key that signs the cookie: the configured one, else one derived from ``hash_key``.

    Deriving (HMAC of a fixed label) keeps the cookie signature independent of identity
    hashes even when only ``LEADTRACE_HASH_KEY`` is set.
    """
    if cookie_key is not None:
        return cookie_key
    return hmac.new(hash_key or DEVELOPMENT_HASH_KEY, _KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def _campaign_dict(campaign: Campaign) -> dict[str, str]:
    return {
        name: value
        for name in _CAMPAIGN_FIELDS
        if isinstance(value := getattr(campaign, name), str)
    }


_ESSENTIAL_FIELDS = ("id", "source", "medium", "channel", "click_id_type", "id_source")


def encode_cookie(state: AttributionState, key: bytes) -> str:
    """Serialise and sign ``state`` as a cookie value (base64url characters and dots).

    The value always fits :data:`MAX_COOKIE_VALUE`: when long (e.g. non-ASCII) UTM values
    would not, the last touch is left out, then the first touch keeps only its essential
    fields (id, source, medium, channel, click id type), then those are shortened.
    """
    first, last = _campaign_dict(state.first), _campaign_dict(state.last)
    essential = {k: v for k, v in first.items() if k in _ESSENTIAL_FIELDS}
    attempts = (
        (first, last),
        (first, first),
        (essential, essential),
        ({k: v[:32] for k, v in essential.items()},) * 2,
    )
    value = ""
    for first_touch, last_touch in attempts:
        payload = {
            "j": state.journey_id,
            "t": int(state.started_at.timestamp() * 1000),
            "f": first_touch,
            "l": last_touch,
        }
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        signed = f"{_COOKIE_VERSION}.{_b64(text.encode('utf-8'))}"
        value = f"{signed}.{_signature(key, signed)}"
        if len(value) <= MAX_COOKIE_VALUE:
            break
    return value


def _campaign_from(data: Any, touch: str) -> Campaign:
    if not isinstance(data, dict):
        raise CookieRejectedError("malformed")
    values = {k: v for k, v in data.items() if k in _CAMPAIGN_FIELDS and isinstance(v, str)}
    return Campaign(**values, touch=touch)


@lru_cache(maxsize=1024)
def decode_cookie(value: str, key: bytes) -> AttributionState:
    """Verify and parse a cookie made by :func:`encode_cookie`.

    Valid cookies are cached (LRU, 1024 entries) by value and key: a returning visitor's
    cookie is verified once. Rejections are never cached.

    Raises:
        CookieRejectedError: ``reason`` is ``oversized``, ``malformed`` (not our format) or
            ``forged`` (the signature does not match: tampered or signed with another key).
    """
    if len(value) > MAX_COOKIE_VALUE:
        raise CookieRejectedError("oversized")
    version, sep, rest = value.partition(".")
    body, sep2, signature = rest.rpartition(".")
    if version != _COOKIE_VERSION or not sep or not sep2 or not body:
        raise CookieRejectedError("malformed")
    expected = _signature(key, f"{version}.{body}")
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise CookieRejectedError("forged")
    try:
        payload = json.loads(_unb64(body))
        journey_id = payload["j"]
        millis = payload["t"]
        if not isinstance(journey_id, str) or not journey_id or len(journey_id) > 128:
            raise CookieRejectedError("malformed")
        if not isinstance(millis, int) or isinstance(millis, bool):
            raise CookieRejectedError("malformed")
        started_at = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
        first = _campaign_from(payload["f"], semconv.TOUCH_FIRST)
        last = _campaign_from(payload["l"], semconv.TOUCH_LAST)
    except CookieRejectedError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        OSError,
        binascii.Error,
        ValidationError,
    ) as exc:
        raise CookieRejectedError("malformed") from exc
    return AttributionState(journey_id, started_at, first, last)


_campaign_key = attrgetter(*_CAMPAIGN_FIELDS)


def same_campaign(a: Campaign, b: Campaign) -> bool:
    """Whether two touches describe the same campaign (the ``touch`` label aside)."""
    return a is b or bool(_campaign_key(a) == _campaign_key(b))


def last_touch_attributes(campaign: Campaign) -> dict[str, str]:
    """Span attributes (``martech.campaign.last_touch.*``) of a last-touch campaign."""
    pairs: Iterable[tuple[str, str | None]] = (
        (semconv.CAMPAIGN_LAST_ID, campaign.id),
        (semconv.CAMPAIGN_LAST_SOURCE, campaign.source),
        (semconv.CAMPAIGN_LAST_MEDIUM, campaign.medium),
        (semconv.CAMPAIGN_LAST_NAME, campaign.name),
        (semconv.CAMPAIGN_LAST_CHANNEL, campaign.channel),
        (semconv.CAMPAIGN_LAST_CLICK_ID_TYPE, campaign.click_id_type),
    )
    return {k: v for k, v in pairs if v is not None}
