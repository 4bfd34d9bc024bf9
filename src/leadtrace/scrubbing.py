"""Scrubbing safety net: e-mail addresses and phone numbers never leave in span attributes.

Runs on every span (ours and third-party ones: a URL query string, an exception message)
before any exporter sees it. Matches are replaced by a fixed marker; the keys that were
redacted are listed in ``martech.redacted``; the matched text is never echoed anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from leadtrace import semconv
from leadtrace._guard import internal_error

__all__ = ["SAFE_KEYS", "ScrubbingSpanProcessor", "scrub_text", "scrub_value"]

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w.])\+?\d[\d\s().\-]{7,}\d(?![\w.])")
_MIN_PHONE_DIGITS = 8

SAFE_KEYS: frozenset[str] = frozenset(
    {
        semconv.EVENT_NAME,
        semconv.EVENT_ID,
        semconv.EVENT_SCHEMA_VERSION,
        semconv.EVENT_LAYER,
        semconv.JOURNEY_ID,
        semconv.JOURNEY_STAGE,
        semconv.JOURNEY_STARTED_AT,
        semconv.IDENTITY_EMAIL_HASH,
        semconv.IDENTITY_PHONE_HASH,
        semconv.CONSENT_STATUS,
        semconv.CAMPAIGN_CHANNEL,
        semconv.LEAD_DEDUPE_OUTCOME,
        semconv.QUALITY_VIOLATIONS,
        semconv.QUALITY_MISSING,
        semconv.REDACTED,
        "http.request.method",
        "http.response.status_code",
        "http.route",
        "service.name",
    }
)
"""Keys whose values are ids, hashes or enums: never scanned."""


def _phone_repl(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return semconv.REDACTED_MARKER if digits >= _MIN_PHONE_DIGITS else match.group(0)


def scrub_text(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by the marker."""
    if "@" in text or "%40" in text:
        text = EMAIL.sub(semconv.REDACTED_MARKER, text)
    if sum(c.isdigit() for c in text) >= _MIN_PHONE_DIGITS:
        text = PHONE.sub(_phone_repl, text)
    return text


def scrub_value(value: Any) -> Any:
    """Scrub a string or a sequence of strings; other values are returned unchanged."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
        return type(value)(scrub_text(v) if isinstance(v, str) else v for v in value)
    return value


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _scrub_mapping(
    attrs: Mapping[str, Any], safe: frozenset[str]
) -> tuple[dict[str, Any] | None, list[str]]:
    redacted: list[str] = []
    result: dict[str, Any] | None = None
    for key, value in attrs.items():
        if key in safe:
            continue
        cleaned = scrub_value(value)
        if cleaned != value:
            if result is None:
                result = dict(attrs)
            result[key] = cleaned
            redacted.append(key)
    return result, redacted


class ScrubbingSpanProcessor(SpanProcessor):
    """Redacts e-mail and phone values in every span's attributes and event attributes.

    Must run before exporting processors; ``configure()`` puts it there.
    """

    def __init__(self, safe_keys: Iterable[str] = SAFE_KEYS) -> None:
        self._safe = frozenset(safe_keys)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do before the span ends."""

    def on_end(self, span: ReadableSpan) -> None:
        """Replace matched values in place before exporters read the span."""
        try:
            self._scrub(span)
        except Exception as exc:
            internal_error(exc, "ScrubbingSpanProcessor.on_end")

    def _scrub(self, span: ReadableSpan) -> None:
        redacted: list[str] = []
        if span.attributes:
            cleaned, keys = _scrub_mapping(span.attributes, self._safe)
            if cleaned is not None:
                redacted.extend(keys)
                cleaned[semconv.REDACTED] = sorted(
                    set(keys) | set(_as_list(span.attributes.get(semconv.REDACTED)))
                )
                span._attributes = BoundedAttributes(
                    attributes=cleaned, immutable=True, max_value_len=None
                )
        for event in span.events:
            if event.attributes:
                cleaned, keys = _scrub_mapping(event.attributes, self._safe)
                if cleaned is not None:
                    event._attributes = BoundedAttributes(attributes=cleaned, immutable=True)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing buffered."""
        return True
