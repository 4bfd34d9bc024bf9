"""The framework-free parsers: channel rules, signed cookie, bounded request parsing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadtrace import semconv
from leadtrace.errors import ConfigError
from leadtrace.events import Campaign
from leadtrace.integrations._attribution import (
    ATTRIBUTION_PARAMS,
    CLICK_IDS,
    DEFAULT_CHANNEL_RULES,
    AttributionState,
    ChannelRule,
    ChannelRules,
    CookieRejectedError,
    classify,
    cookie_key,
    decode_cookie,
    encode_cookie,
)
from leadtrace.integrations._request import (
    MAX_COOKIES,
    MAX_FORM_FIELDS,
    MAX_HEADERS,
    MAX_PARAM_VALUE,
    READ_HEADERS,
    client_trusted,
    form_field_names,
    header_map,
    host_of,
    parse_cookies,
    parse_query,
    referrer_host,
)
from leadtrace.integrations._web import WebJourneys, asgi_steady_key, wsgi_steady_key

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
MOMENT = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("query", "referrer", "expected"),
    [
        ("gclid=abc", None, "paid_search"),
        ("msclkid=abc", None, "paid_search"),
        ("utm_source=google&utm_medium=cpc", None, "paid_search"),
        ("fbclid=abc", None, "paid_social"),
        ("li_fat_id=abc&utm_medium=cpc", None, "paid_social"),
        ("utm_source=linkedin&utm_medium=cpc", None, "paid_social"),
        ("utm_source=acme&utm_medium=paid_social", None, "paid_social"),
        ("utm_source=newsletter&utm_medium=email", None, "email"),
        ("utm_source=email", None, "email"),
        ("", "www.google.com", "organic"),
        ("", "duckduckgo.com", "organic"),
        ("", "news.ycombinator.com", "referral"),
        ("", "notgoogle.com", "referral"),
        ("utm_source=partner&utm_medium=banner", "partner.example", "other"),
        ("", None, "direct"),
        ("", "landing.test", "direct"),
    ],
)
def test_default_channel_table(query: str, referrer: str | None, expected: str) -> None:
    """The default rule table maps each typical visit to its documented channel."""
    params = parse_query(query, ATTRIBUTION_PARAMS)
    assert classify(params, referrer, "landing.test").channel == expected


def test_organic_visit_takes_referrer_as_source() -> None:
    """An organic visit without UTMs gets the search engine as source and medium organic."""
    touch = classify({}, "www.bing.com", "landing.test")
    assert (touch.source, touch.medium, touch.channel) == ("www.bing.com", "organic", "organic")


def test_custom_rules_come_first_and_carry_their_version() -> None:
    """A user rule placed before the defaults overrides them; its table has its own version."""
    rules = ChannelRules(
        version="acme-2",
        rules=(
            ChannelRule("paid_social", sources=frozenset({"Acme-Ads"})),
            *DEFAULT_CHANNEL_RULES.rules,
        ),
    )
    touch = classify({"utm_source": "acme-ads", "utm_medium": "email"}, None, None, rules)
    assert touch.channel == "paid_social"
    assert classify({"utm_medium": "email"}, None, None, rules).channel == "email"


def test_channel_rule_rejects_unknown_channel() -> None:
    """A rule naming a channel outside semconv.CHANNELS fails at construction."""
    with pytest.raises(ValueError, match="channel must be one of"):
        ChannelRule("telepathy")  # type: ignore[arg-type]


def test_web_journeys_rejects_bad_options(handle: object) -> None:
    """Invalid middleware options raise ConfigError at setup."""
    with pytest.raises(ConfigError, match="cookie_key"):
        WebJourneys(cookie_key="short")
    with pytest.raises(ConfigError, match="channel_rules"):
        WebJourneys(channel_rules=[])  # type: ignore[arg-type]


def _state(first: Campaign, last: Campaign) -> AttributionState:
    return AttributionState("journey-1", MOMENT, first, last)


def _fields(state: AttributionState) -> tuple[object, ...]:
    return (state.journey_id, state.started_at, state.first, state.last)


def test_cookie_round_trip() -> None:
    """A signed cookie decodes to the same journey, start time and touches."""
    first = Campaign(source="google", medium="cpc", channel="paid_search", touch="first")
    last = Campaign(source="newsletter", channel="email", touch="last")
    decoded = decode_cookie(encode_cookie(_state(first, last), KEY), KEY)
    assert _fields(decoded) == _fields(_state(first, last))


def test_cookie_with_long_non_ascii_values_still_fits() -> None:
    """Long Cyrillic UTM values never push the cookie past 4 KiB; the first touch survives."""
    word = "кампания" * 16  # 128 characters, 256 bytes in UTF-8
    first = Campaign(
        id="spring",
        source=word,
        medium=word,
        name=word,
        term=word,
        content=word,
        channel="paid_search",
        touch="first",
    )
    last = Campaign(source=word, medium=word, name=word, term=word, content=word, touch="last")
    value = encode_cookie(_state(first, last), KEY)
    assert len(value) <= 4096
    decoded = decode_cookie(value, KEY)
    assert (decoded.first.id, decoded.first.channel) == ("spring", "paid_search")
    assert decoded.first.source is not None
    assert word.startswith(decoded.first.source)


def test_queries_with_personal_data_are_not_cached() -> None:
    """A query holding an e-mail is parsed but never kept in the parse cache."""
    from leadtrace.integrations import _request

    _request._QUERY_CACHE.clear()
    parse_query("utm_source=google&email=jane%40example.com", {"utm_source"})
    parse_query("utm_source=google&utm_medium=cpc", {"utm_source"})
    assert [key for key, _ in _request._QUERY_CACHE] == ["utm_source=google&utm_medium=cpc"]


def test_cookie_signed_with_another_key_is_forged() -> None:
    """A cookie signed with a different key is rejected as forged."""
    value = encode_cookie(_state(Campaign(touch="first"), Campaign(touch="last")), OTHER_KEY)
    with pytest.raises(CookieRejectedError) as info:
        decode_cookie(value, KEY)
    assert info.value.reason == "forged"


def test_oversized_cookie_is_rejected_before_verification() -> None:
    """A cookie over 4 KiB is rejected as oversized."""
    with pytest.raises(CookieRejectedError) as info:
        decode_cookie("v1." + "a" * 5000 + ".sig", KEY)
    assert info.value.reason == "oversized"


def test_derived_cookie_key_differs_from_hash_key() -> None:
    """Without a cookie key the signing key is derived, never the hash key itself."""
    derived = cookie_key(None, b"h" * 32)
    assert derived != b"h" * 32
    assert len(derived) == 32
    assert cookie_key(KEY, b"h" * 32) == KEY


def test_client_trust_by_network() -> None:
    """Loopback and listed networks are trusted; public, malformed and missing addresses not."""
    nets = ("127.0.0.0/8", "10.0.0.0/8", "::1/128")
    assert client_trusted("127.0.0.1", nets)
    assert client_trusted("::ffff:10.1.2.3", nets)
    assert client_trusted("::1", nets)
    assert not client_trusted("203.0.113.9", nets)
    assert not client_trusted("testclient", nets)
    assert not client_trusted(None, nets)


def test_repeated_parameter_first_occurrence_wins() -> None:
    """Of repeated UTM parameters the first non-empty value is used."""
    params = parse_query("utm_source=&utm_source=first&UTM_SOURCE=second", ATTRIBUTION_PARAMS)
    assert params == {"utm_source": "first"}


def test_header_casing_and_repeated_cookie_headers() -> None:
    """Header names are lower-cased and split Cookie headers are joined."""
    headers = header_map([(b"Sec-GPC", b"1"), ("COOKIE", "a=1"), ("cookie", "b=2")])
    assert headers["sec-gpc"] == "1"
    assert parse_cookies(headers["cookie"]) == {"a": "1", "b": "2"}


def test_asgi_header_names_in_any_casing_are_read() -> None:
    """The ASGI path looks lower-case names up directly and lowers any other casing."""
    pairs = [
        (b"X-Request-Id", b"abc"),
        (b"Sec-GPC", b"1"),
        (b"REFERER", b"https://www.google.com/"),
        (b"host", b"landing.test"),
        (b"1234", b"digits only"),
        (b"cookie", b"a=1"),
        (b"Cookie", b"b=\xff2"),
    ]
    assert header_map(pairs, READ_HEADERS) == {
        "sec-gpc": "1",
        "referer": "https://www.google.com/",
        "host": "landing.test",
        "cookie": "a=1; b=\ufffd2",
    }


def test_asgi_steady_key_holds_the_raw_inputs_of_plain_requests_only() -> None:
    """The key of a remembered decision: client address (not port), query string and the
    raw values of the headers the decision reads; None for any request not in the plain
    shape, which is then always decided in full."""
    scope = {
        "headers": [(b"host", b"landing.test"), (b"cookie", b"a=1"), (b"user-agent", b"x")],
        "client": ("198.51.100.7", 50000),
        "query_string": b"utm_source=x",
    }
    key = asgi_steady_key(scope)
    assert key == ("198.51.100.7", b"utm_source=x", b"landing.test", None, b"a=1", None, None, None)
    assert asgi_steady_key({**scope, "client": ("198.51.100.7", 50001)}) == key
    more = [
        *scope["headers"],
        (b"referer", b"https://www.google.com/"),
        (b"sec-gpc", b"1"),
        (b"leadtrace-journey", b"j-1"),
        (b"leadtrace-synthetic", b"1"),
    ]
    assert asgi_steady_key({**scope, "headers": more})[3:] == (
        b"https://www.google.com/",
        b"a=1",
        b"1",
        b"j-1",
        b"1",
    )
    too_many = [(f"x-{i}".encode(), b"1") for i in range(MAX_HEADERS + 1)]
    for headers in (
        [(b"Cookie", b"a=1"), (b"host", b"landing.test")],  # not lower case
        [(b"cookie", b"a=1"), (b"cookie", b"b=2")],  # repeated
        too_many,
        "not headers",
        None,
    ):
        assert asgi_steady_key({**scope, "headers": headers}) is None
    assert asgi_steady_key({}) is None


def test_a_key_no_dict_can_hold_is_a_miss(handle: object) -> None:
    """A server handing over unhashable raw values gets every request decided in full."""
    from opentelemetry.trace import INVALID_SPAN

    journeys = WebJourneys()
    assert journeys.remembered(("10.0.0.1", bytearray(b"q")), INVALID_SPAN) is None


def test_wsgi_steady_key_holds_the_raw_inputs() -> None:
    """The WSGI key reads the server's merged, upper-cased header variables."""
    environ = {"HTTP_COOKIE": "a=1", "QUERY_STRING": "utm_source=x", "REMOTE_ADDR": "10.0.0.1"}
    key = wsgi_steady_key(environ)
    assert {"a=1", "utm_source=x", "10.0.0.1"} <= set(key)
    assert wsgi_steady_key({**environ, "HTTP_USER_AGENT": "other"}) == key
    assert wsgi_steady_key({**environ, "HTTP_SEC_GPC": "1"}) != key


def test_multipart_names_without_values() -> None:
    """Multipart bodies yield their field names and never the values."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="email"\r\n\r\nada@example.com\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n\r\n%PDF\r\n'
        b"--XyZ--\r\n"
    )
    assert form_field_names("multipart/form-data; boundary=XyZ", body) == ("email", "cv")


# --- properties -----------------------------------------------------------------------------------

text_or_bytes = st.one_of(st.text(max_size=3000), st.binary(max_size=3000))
param_values = (
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-_.é ü+", min_size=1, max_size=128)
    .map(str.strip)
    .filter(bool)
)


@given(raw=text_or_bytes)
def test_parse_query_is_total_and_bounded(raw: str | bytes) -> None:
    """Any query string parses without error into known keys with bounded, clean values."""
    params = parse_query(raw, ATTRIBUTION_PARAMS)
    assert set(params) <= ATTRIBUTION_PARAMS
    for value in params.values():
        assert 0 < len(value) <= MAX_PARAM_VALUE
        assert not any(ord(c) < 32 or ord(c) == 127 for c in value)
        assert value == value.strip()


@given(raw=text_or_bytes)
def test_parse_cookies_is_total_and_bounded(raw: str | bytes) -> None:
    """Any Cookie header parses without error into at most MAX_COOKIES cookies."""
    assert len(parse_cookies(raw)) <= MAX_COOKIES


@given(raw=st.text(max_size=500))
def test_referrer_host_is_total(raw: str) -> None:
    """Any Referer value gives None or a lower-case host of at most 253 characters."""
    host = referrer_host(raw)
    assert host is None or (host == host.lower() and len(host) <= 253)


@given(
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain", ""]
    ),
    body=st.binary(max_size=4000),
)
def test_form_field_names_is_total_and_bounded(content_type: str, body: bytes) -> None:
    """Any body gives at most MAX_FORM_FIELDS distinct names without error."""
    names = form_field_names(content_type, body)
    assert len(names) <= MAX_FORM_FIELDS
    assert len(set(names)) == len(names)


@given(
    params=st.dictionaries(st.sampled_from(sorted(ATTRIBUTION_PARAMS)), param_values, max_size=8),
    referrer=st.one_of(st.none(), st.text(max_size=60)),
)
def test_classify_always_gives_a_known_channel(
    params: dict[str, str], referrer: str | None
) -> None:
    """Any parameters and referrer give one of the documented channels."""
    touch = classify(params, referrer, "landing.test")
    assert touch.channel in semconv.CHANNELS
    assert touch.click_id_type is None or touch.click_id_type in CLICK_IDS


campaigns = st.builds(
    Campaign,
    id=st.one_of(st.none(), param_values),
    source=st.one_of(st.none(), param_values),
    medium=st.one_of(st.none(), param_values),
    name=st.one_of(st.none(), param_values),
    channel=st.one_of(st.none(), st.sampled_from(semconv.CHANNELS)),
    click_id_type=st.one_of(st.none(), st.sampled_from(CLICK_IDS)),
)


@settings(max_examples=50)
@given(first=campaigns, last=campaigns, position=st.integers(min_value=0))
def test_cookie_round_trips_and_any_edit_is_rejected(
    first: Campaign, last: Campaign, position: int
) -> None:
    """Every state round-trips; changing any one character of the cookie is rejected."""
    state = _state(
        first.model_copy(update={"touch": "first"}), last.model_copy(update={"touch": "last"})
    )
    value = encode_cookie(state, KEY)
    assert _fields(decode_cookie(value, KEY)) == _fields(state)
    i = position % len(value)
    edited = value[:i] + ("B" if value[i] != "B" else "C") + value[i + 1 :]
    with pytest.raises(CookieRejectedError):
        decode_cookie(edited, KEY)


@given(raw=st.text(max_size=5000))
def test_decode_cookie_only_ever_rejects(raw: str) -> None:
    """Arbitrary text is rejected with CookieRejectedError, never another exception."""
    with pytest.raises(CookieRejectedError):
        decode_cookie(raw, KEY)


def _urlsplit_host(raw: str, *, url: bool) -> str | None:
    """The reference: what urlsplit makes of a Host header or a Referer URL."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(raw.strip() if url else f"//{raw.strip()}").hostname
    except ValueError:
        return None
    return host or None


_host_chars = st.text(alphabet="abcXYZ019.-:_@[]/ ?#%", max_size=40)


@given(raw=_host_chars)
def test_host_fast_path_agrees_with_urlsplit(raw: str) -> None:
    """Plain host values are read without urlsplit; the answer is the same."""
    assert host_of(raw) == (_urlsplit_host(raw, url=False) if raw else None)


@given(
    raw=st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", ""]),
        _host_chars,
    )
)
def test_referrer_fast_path_agrees_with_urlsplit(raw: str) -> None:
    """Plain http(s) referrers are read without urlsplit; the answer is the same."""
    expected = _urlsplit_host(raw, url=True) if raw else None
    assert referrer_host(raw) == (expected[:253] if expected else None)


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("landing.test", "landing.test"),
        ("Landing.Test:8080", "landing.test"),
        ("198.51.100.7:443", "198.51.100.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("user@landing.test", "landing.test"),
    ],
)
def test_host_header_shapes(raw: str, host: str) -> None:
    """Ports, case, IPv6 brackets and user info are handled as urlsplit does."""
    assert host_of(raw) == host
