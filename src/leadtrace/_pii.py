"""What counts as an e-mail address or a phone number in text: the rules, as pure functions.

Nothing here keeps state; :mod:`leadtrace.scrubbing` (the span processor and its caches) and
:mod:`leadtrace.logging` (the structlog processor) apply these rules. Each rule has its
examples and counter-examples in ``tests/test_scrubbing.py``.

- e-mail: ``local@domain.tld``, also percent-encoded (``%40``) as in query strings;
- phone: 8 to 15 digits that start with ``+`` (or ``%2B``), or that are written with
  separators (``+1 (555) 010-9999``, ``0151 1234 5678``, ``555.010.9999``); dates, times,
  IPv4 addresses and decimals are left alone;
- labelled phone: any 8-15 digit number right after a ``phone``/``tel``/``mobile``/``fax``
  label (``phone=5550109999``, ``"mobile": "015112345678"``).

A bare run of digits with no ``+``, no separator and no label is NOT a phone: that shape is far
more often a CRM record id, an order number or a timestamp.

Owns: the detection rules for e-mail addresses and phone numbers, and text replacement.

May import: the standard library and ``semconv`` (a keyed hash of a match comes
from the ``digest`` a :class:`Replacer` is given).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal
from urllib.parse import unquote

from leadtrace import semconv

__all__ = [
    "EMAIL",
    "MARKER",
    "PHONE",
    "ZERO_DIGITS",
    "Replacement",
    "Replacer",
    "contains_pii",
    "might_contain_pii",
    "scrub_text",
    "scrub_value",
    "suspect_decoded",
    "suspect_text",
    "template",
]

Replacement = Literal["marker", "hash"]
"""How a match is replaced: the fixed ``[redacted]`` marker, or its keyed hash."""

EMAIL: Final = re.compile(
    r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
"""E-mail addresses, plain or with a percent-encoded ``@``."""
PHONE: Final = re.compile(
    r"(?<![\w.\-])"
    # not a date (2024-05-01, 01.05.2024): a date may run straight into a phone number
    r"(?![0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2}(?![0-9])"
    r"|[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{4}(?![0-9]))"
    r"\+?\(?[0-9](?:[ \t.\-/()+]{0,3}[0-9]){7,14}(?!\w)"
)
"""Phone-number candidates; :func:`scrub_text` keeps dates, IPs and decimals among them."""
_LABELLED: Final = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|sms|whatsapp|msisdn)[\w\-]*"
    r"(?:\"|')?\s*[:=]\s*(?:\"|')?(\+?[0-9](?:[ \t.\-/()]{0,3}[0-9]){7,14})(?!\w)"
)
_LABEL_WORDS: Final = ("phone", "tel", "mobile", "cell", "fax", "sms", "whatsapp", "msisdn")
_LABEL_WORD: Final = re.compile("|".join(_LABEL_WORDS))  # searched in lower-cased text
# Eight digits with at most three separators between them: every phone shape has this, and
# a string without it (or without "@") cannot hold anything we redact. Cheap to search.
_DIGITS8: Final = re.compile(r"[0-9](?:[ \t.\-/()+]{0,3}[0-9]){7}")
_IPV4: Final = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# A run of phone characters not glued to a word. The look-behind comes after the first
# character so the engine keeps its fast scan for the leading character class.
# ASCII \w: a few more candidate runs (digits after a non-ASCII letter), a faster scan.
_RUN: Final = re.compile(r"[0-9+(](?<![\w.\-][0-9+(])[0-9 \t.\-/()+]{7,}", re.ASCII)
_LABEL_REACH: Final = 40  # how far before a number its label may start ("mobile_phone": ")
_MIN_DIGITS: Final = 8
_MAX_DIGITS: Final = 15
_MAX_DEPTH: Final = 32  # deeper containers are judged by their repr as a whole


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _is_phone(candidate: str) -> bool:
    """Whether a :data:`PHONE` candidate is a phone number (not a date, time, IP or decimal)."""
    digits = _digits(candidate)
    if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
        return False
    if candidate.startswith("+"):
        return True
    if len(candidate) == digits:  # bare digit run: an id or a timestamp far more often
        return False
    if _IPV4.fullmatch(candidate):
        return False
    return not (candidate.count(".") == 1 and candidate.replace(".", "").isdigit())


class Replacer:
    """Builds replacements: the ``[redacted]`` marker, or, with a ``digest(kind, text)``
    (``kind`` is ``email`` or ``phone``), ``[email_hash:<hex>]`` / ``[phone_hash:<hex>]``."""

    __slots__ = ("_digest",)

    def __init__(self, digest: Callable[[str, str], str] | None = None) -> None:
        self._digest = digest

    def email(self, match: re.Match[str]) -> str:
        if self._digest is None:
            return semconv.REDACTED_MARKER
        return f"[email_hash:{self._digest('email', match.group(0))}]"

    def phone_text(self, text: str) -> str:
        if self._digest is None:
            return semconv.REDACTED_MARKER
        return f"[phone_hash:{self._digest('phone', text)}]"

    def phone(self, match: re.Match[str]) -> str:
        candidate = match.group(0)
        return self.phone_text(candidate) if _is_phone(candidate) else candidate

    def labelled(self, match: re.Match[str]) -> str:
        number = match.group(1)
        digits = _digits(number)
        if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
            return match.group(0)
        start = match.start(1) - match.start(0)
        return match.group(0)[:start] + self.phone_text(number)


MARKER = Replacer()


def suspect_text(text: str) -> bool:
    """Whether ``text`` may hold an e-mail or phone: exact for phones, cheap when it is not.

    Percent-encoded text is checked decoded (once; a still-encoded ``%40`` counts as an
    ``@``).
    """
    if text.isascii() and text.isalnum():
        # Letters and digits only (hex ids, hashes, tokens): no ``@``, no separator, no label,
        # so any run of digits in it is bare or glued to a letter, never a phone number.
        return False
    if "%" in text:
        text = unquote(text)
    return "@" in text or "%40" in text or suspect_decoded(text)


def suspect_decoded(text: str) -> bool:
    """The phone half of :func:`suspect_text`, on text already decoded.

    The fast path is one search for a run of phone characters that is not glued to a word
    (``L-20260302-0001`` and ``id12345678`` are not runs); only inside a run does the slower,
    exact phone pattern run. The verdict depends on which characters are digits, never on
    which digit they are (see :func:`template`).
    """
    run = _RUN.search(text)
    while run is not None:
        start, end = run.span()
        for candidate in PHONE.finditer(text, start, end + 1):
            if _is_phone(candidate.group(0)):
                return True
        if (
            text[max(0, start - 3) : start].rstrip(" \t\"'").endswith(("=", ":"))
            and _LABEL_WORD.search(text[max(0, start - _LABEL_REACH) : start].lower())
            and _digits(run.group(0)) >= _MIN_DIGITS
        ):
            return True
        run = _RUN.search(text, end)
    return False


ZERO_DIGITS: Final = bytes.maketrans(b"123456789", b"000000000")


def template(decoded: str) -> bytes:
    """The template of ``decoded`` (text already percent-decoded once, without ``@``): its
    UTF-8 bytes (lone surrogates passed through, so no two texts share bytes) with every ASCII
    digit written as ``0``.

    Why equal templates mean equal verdicts of :func:`suspect_decoded`: its patterns and
    checks only ask whether a character is an ASCII digit (``[0-9]``, digit counts, the IPv4
    and decimal shapes), never which digit it is; every other character, non-ASCII digits
    included, is kept as it is. Percent-encoded text must be decoded first: ``%2B`` and ``%2C``
    differ in a digit and decode to different characters.
    """
    return decoded.encode("utf-8", "surrogatepass").translate(ZERO_DIGITS)


def _scrub_plain(text: str, replacer: Replacer) -> str:
    if "@" in text or "%40" in text:
        text = EMAIL.sub(replacer.email, text)
    if _DIGITS8.search(text) is None:
        return text
    lowered = text.lower()
    if any(word in lowered for word in _LABEL_WORDS):
        text = _LABELLED.sub(replacer.labelled, text)
    return PHONE.sub(replacer.phone, text)


def scrub_text(text: str, _replacer: Replacer = MARKER) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by the marker.

    Percent-encoded text (a URL, a query string) is also checked decoded; when that finds
    something, the decoded, scrubbed text is returned.
    """
    if not suspect_text(text):
        return text
    cleaned = _scrub_plain(text, _replacer)
    if "%" in cleaned:
        decoded = unquote(cleaned)
        if decoded != cleaned:
            rescrubbed = _scrub_plain(decoded, _replacer)
            if rescrubbed != decoded:
                return rescrubbed
    return cleaned


def might_contain_pii(text: str) -> bool:
    """Cheap check: False means ``text`` holds no e-mail or phone :func:`scrub_text` would
    redact; True means it may (then :func:`contains_pii` says for sure)."""
    return suspect_text(text)


def contains_pii(text: str) -> bool:
    """Whether :func:`scrub_text` would change ``text``."""
    return scrub_text(text) != text


def scrub_value(value: Any, _replacer: Replacer = MARKER, _depth: int = 0) -> Any:
    """``value`` with e-mail addresses and phone numbers replaced, however it holds them.

    Strings are scrubbed with :func:`scrub_text`; bytes are read as UTF-8 (and come back as
    scrubbed text when they held a match); lists, tuples, sets, frozensets and mappings are
    walked, mapping keys included; any other object whose ``repr`` holds a match is replaced
    by its scrubbed ``repr``. Past :data:`_MAX_DEPTH` levels a container is judged by its
    ``repr`` as a whole. Numbers, flags and None pass through.

    An unchanged value is returned as the same object, so ``scrub_value(v) is v`` means clean.
    """
    if isinstance(value, str):
        cleaned = scrub_text(value, _replacer)
        return value if cleaned == value else cleaned
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        cleaned_text = scrub_text(text, _replacer)
        return value if cleaned_text == text else cleaned_text
    if _depth < _MAX_DEPTH:
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [scrub_value(v, _replacer, _depth + 1) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
                return type(value)(*items)
            return type(value)(items) if type(value) in _REBUILDABLE else tuple(items)
        if isinstance(value, Mapping):
            pairs = [
                (scrub_value(k, _replacer, _depth + 1), scrub_value(v, _replacer, _depth + 1))
                for k, v in value.items()
            ]
            if all(k is a and v is b for (k, v), (a, b) in zip(pairs, value.items(), strict=True)):
                return value
            return dict(pairs)
    text = repr(value)
    cleaned_repr = scrub_text(text, _replacer)
    return value if cleaned_repr == text else cleaned_repr


_REBUILDABLE: Final = frozenset({list, tuple, set, frozenset})
