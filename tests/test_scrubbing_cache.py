"""The scrubber's caches never change a verdict: cached and uncached checks agree on
generated text full of e-mails, phones, ids, dates, IPs, percent-encoding and surrogates."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from leadtrace import _pii, scrubbing, semconv
from leadtrace.scrubbing import ScrubbingSpanProcessor, scrub_text

FRAGMENTS = (
    "ada@example.com",
    "ADA.LOVELACE+news@Mail.Example.co.uk",
    "ada%40example.com",
    "ada%2540example.com",
    "%2B44%2020%207946%200958",
    "+44 20 7946 0958",
    "(415) 555-0100",
    "415.555.0100",
    "phone=5550109999",
    "L-20260302-0001",
    "51234567890",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "123e4567-e89b-12d3-a456-426614174000",
    "2024-05-01",
    "15.01.2024",
    "10:00:00",
    "192.168.100.200",
    "3.14159265358",
    "%20",
    "%2",
    "%",
    "@",
    "\udce9",
    "\0",
    " ",
    "=",
    "-",
    ".",
    "+",
    "caf\u00e9",
    "\u0663\u0664",
)

texts = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text("0123456789 .-+()%@=abc", max_size=12)),
    max_size=6,
).map("".join)
values = st.one_of(texts, st.lists(texts, min_size=1, max_size=3).map(tuple), st.integers())
mappings = st.dictionaries(
    st.sampled_from(["a", "url.full", semconv.LEAD_ID, semconv.FORM_ID]), values, min_size=1
)


def _uncached(mapping: dict[str, Any]) -> bool:
    """The reference: the rules on each text value and item alone, no cache anywhere."""
    items: list[str] = []
    for value in mapping.values():
        if isinstance(value, str):
            items.append(value)
        elif isinstance(value, tuple):
            items.extend(value)
    return any(_pii.suspect_text(text) for text in items)


def _swap_digits(value: Any) -> Any:
    """The value with every ASCII digit replaced by another (the same template)."""
    table = str.maketrans("0123456789", "7391046258")
    if isinstance(value, str):
        return value.translate(table)
    if isinstance(value, tuple):
        return tuple(v.translate(table) for v in value)
    return value


@given(mapping=mappings)
@settings(max_examples=250, deadline=None)
def test_a_cached_verdict_never_misses_what_the_uncached_check_finds(
    mapping: dict[str, Any],
) -> None:
    """A plan warmed with a span of the same template (digits swapped) still flags a span
    the uncached rules flag, and a span it calls clean scrubs to itself value by value."""
    processor = ScrubbingSpanProcessor()
    warm = {k: _swap_digits(v) for k, v in mapping.items()}
    plan = processor._plan_of(warm)
    plan.suspect(warm)
    plan.suspect(warm)
    verdict = plan.suspect(mapping)
    assert verdict or not _uncached(mapping)
    if not verdict:
        for value in mapping.values():
            if isinstance(value, str):
                assert scrub_text(value) is value


@given(text=texts)
@settings(max_examples=250, deadline=None)
def test_the_exact_text_cache_agrees_with_the_rules(text: str) -> None:
    """Looking a text up in the clean-text cache gives the rules' own verdict, every time."""
    expected = _pii.suspect_text(text)
    assert scrubbing._suspect_cached(text) == expected
    assert scrubbing._suspect_cached(text) == expected


@given(text=texts, digits=st.permutations("0123456789"))
@settings(max_examples=250, deadline=None)
def test_texts_of_one_template_share_a_verdict(text: str, digits: list[str]) -> None:
    """Why templates (digits as 0) are a sound cache key: two decoded texts without ``@``
    that share a template get the same verdict from the rules."""
    decoded = unquote(text)
    swapped = decoded.translate(str.maketrans("0123456789", "".join(digits)))
    assert _pii.template(swapped) == _pii.template(decoded)
    if "@" not in decoded:
        assert _pii.suspect_decoded(swapped) == _pii.suspect_decoded(decoded)


@given(text=st.text("0123456789abcdefABCXYZ", min_size=1, max_size=40))
@settings(max_examples=250, deadline=None)
def test_letters_and_digits_alone_never_look_like_a_phone(text: str) -> None:
    """Why ids of letters and digits only skip the pattern pass: the full rules never find a
    phone number (or an address) in such text."""
    assert not _pii.suspect_decoded(text)
    assert scrub_text(text) is text
