"""Scrubbing safety net: e-mail addresses and phone numbers never leave in span attributes.

Runs on every span (ours and third-party ones: a URL query string, an exception message)
before any exporter sees it. It scans every text attribute value whatever its key (ids,
names, enums and URLs alike), the items of text sequences, the attribute keys themselves,
event and link attributes (e.g. the ``exception`` event), the status description and the
span name. Matches are replaced by a fixed marker (or by their keyed hash, see
:class:`ScrubbingSpanProcessor`); the keys that were redacted are listed in
``martech.redacted``; the matched text is never echoed anywhere.

What counts as a match is decided by the rules in :mod:`leadtrace._pii` (pure functions:
e-mail addresses, also percent-encoded; phone numbers written with ``+`` or separators, or
after a ``phone``/``tel``/``mobile`` label; never dates, times, IPs, decimals or bare digit
runs). ``leadtrace.identity()`` is the way to attach phone numbers; the scrubber is the net
under it. This module holds the span processor and the caches that keep it cheap.

No key is trusted by its name: a raw e-mail address given as a form id, a routing rule or a
contact id is caught like one in a URL. Numbers and flags are skipped by their type (an
``int`` cannot hold an address, and a bare digit run is not a phone).

Cost: spans of one kind repeat their text up to the numbers in it, so clean text is
remembered by its template (digits written as ``0``); each cache below says in its docstring
why it can never let a match through, and ``tests/test_scrubbing_cache.py`` compares cached
and uncached verdicts on generated text. See ``benchmarks/bench_scrubbing.py``.

Owns: the scrubbing span processor and its caches (each with its safety argument).

May import: the OpenTelemetry SDK, ``semconv``, ``_pii`` (the rules), ``privacy`` (keyed hashes
of a match), ``_guard`` (the internal-error guard) and ``_sdk`` (the SDK fields it reads and
rewrites).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any, Final
from urllib.parse import unquote

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from leadtrace import semconv
from leadtrace._guard import internal_error
from leadtrace._pii import (
    EMAIL,
    MARKER,
    PHONE,
    ZERO_DIGITS,
    Replacement,
    Replacer,
    contains_pii,
    might_contain_pii,
    scrub_text,
    scrub_value,
    suspect_decoded,
    suspect_text,
)
from leadtrace._sdk import (
    ENV,
    PRIVATES,
    ended_parts,
    on_ending,
    plain_mapping,
    rewrite_ended,
)

__all__ = [
    "EMAIL",
    "PHONE",
    "Replacement",
    "ScrubbingSpanProcessor",
    "contains_pii",
    "might_contain_pii",
    "scrub_text",
    "scrub_value",
]

_log = logging.getLogger("leadtrace")

# --- caches ------------------------------------------------------------------------------------
#
# Every cache here keeps only verdicts of "clean" (never text that matched, so no cache keeps
# personal data alive), is bounded (cleared when full), and is keyed on something from which
# the exact verdict follows. The argument for each is in its docstring.

_CLEAN: set[str] = set()
"""Short texts found clean by :func:`suspect_text`.

Why it cannot let a match through: the key is the exact text, and :func:`suspect_text` is a
pure function of its argument, so a text equal to a remembered one has the same verdict."""
_CLEAN_MAX: Final = 4096
_CLEAN_MAX_LEN: Final = 64  # sources, names, routes repeat; URLs with ids do not
_SHAPES_MAX: Final = 1024
_NAME_SHAPES_MAX: Final = 4  # shapes a span name keeps besides its first
_PLAN_CLEAN_MAX: Final = 1024
_TEMPLATE_MAX_LEN: Final = 4096


def _suspect_cached(text: str) -> bool:
    """:func:`suspect_text`, remembering short clean texts in ``_CLEAN``."""
    if text in _CLEAN:
        return False
    if suspect_text(text):
        return True
    if len(text) <= _CLEAN_MAX_LEN:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.add(text)
    return False


def _values_suspect(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    """The exact check, one value at a time: text values and the text items of sequences."""
    for key in keys:
        value = mapping.get(key)
        if value.__class__ is str:
            if _suspect_cached(value):
                return True
        elif isinstance(value, (tuple, list)) and any(
            isinstance(v, str) and _suspect_cached(v) for v in value
        ):
            return True
    return False


def _clean_mapping(
    attrs: Mapping[str, Any], safe: frozenset[str], replacer: Replacer
) -> tuple[dict[str, Any] | None, list[str]]:
    """Scrubbed copy of ``attrs`` (None when nothing changed) and the keys redacted.

    Keys are scrubbed too: a key that held a match is listed (and written) scrubbed.
    """
    redacted: list[str] = []
    result: dict[str, Any] | None = None
    for key, value in attrs.items():
        if key in safe:
            continue
        new_key = scrub_text(key, replacer)
        cleaned = value if isinstance(value, (bool, int, float)) else scrub_value(value, replacer)
        if new_key != key or cleaned is not value:
            if result is None:
                result = dict(attrs)
            if new_key != key:
                del result[key]
            result[new_key] = cleaned
            redacted.append(new_key)
    return result, redacted


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


class _TrustedSpan:
    __slots__ = ("context",)

    def __init__(self) -> None:
        self.context: object = None


_trusted = _TrustedSpan()
trusted_span = _trusted
"""The span being ended with pre-scrubbed attributes: ``emit()`` sets its ``context`` to the
span's SpanContext around ``span.end()``, and :meth:`on_end` then skips the scan (it receives
a read-only copy that shares that SpanContext object).

One slot for all threads on purpose (a thread-local costs more per span than the check it
guards): it only ever holds the context of a trusted span, which it keeps alive, so another
span can never match it. A race between two threads can only make :meth:`on_end` scan a
span it could have skipped, never skip one."""


def _values_of(keys: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]] | None:
    """A C-level getter returning the values of ``keys`` as a tuple; None for no keys."""
    if len(keys) > 1:
        return itemgetter(*keys)
    if keys:
        only = keys[0]
        return lambda mapping: (mapping[only],)
    return None


_NOT_TEXT: Final = frozenset({int, float, bool, type(None)})


class _ShapePlan:
    """How to check one attribute shape (the keys of a span, in order) for personal data.

    Built on the first span of a shape from its value types: the text values (and the items
    of text sequences) are read with one C-level getter and joined by NUL, so one pass of the
    rules checks them all; numbers and flags are skipped while they stay numbers; the keys
    themselves are checked once, when the plan is built. Anything unexpected (a number that
    became text, a sequence of non-text) takes the exact check value by value.

    Why joining cannot hide a match: no rule matches across a NUL (it is not part of an
    address, a phone number, a separator or a label), so a value that matches alone matches
    inside the joined text too (the joined text can only match more: a label in the value
    before; that costs a scrub pass that finds nothing, never a leak).

    Why :attr:`clean` cannot let a match through: it holds templates (see
    :func:`leadtrace._pii.template`) of joined texts found clean, and the joined verdict follows
    from the template.
    """

    __slots__ = ("_numbers", "_scanned", "_seqs", "_texts", "clean", "keys", "size", "suspect")

    def __init__(self, shape: tuple[str, ...], mapping: Mapping[str, Any], safe: frozenset[str]):
        scanned = tuple(k for k in shape if k not in safe)
        text = tuple(k for k in scanned if mapping[k].__class__ is str)
        seqs = tuple(k for k in scanned if isinstance(mapping[k], (tuple, list)))
        numbers = tuple(k for k in scanned if k not in text and k not in seqs)
        self._scanned = scanned
        self._texts = _values_of(text) or (lambda mapping: ())
        self._seqs = seqs
        self._numbers = numbers
        self.clean: set[bytes] = set()
        """Templates of this shape's joined texts found clean."""
        self.keys = frozenset(shape)
        """The keys of the shape: a mapping of :attr:`size` keys that are all in here has
        exactly them (one C-level check, cheaper than building the mapping's shape)."""
        self.size = len(shape)
        keys_suspect = any(suspect_text(k) for k in scanned)
        self.suspect: Callable[[Mapping[str, Any]], bool] = (
            _always if keys_suspect else self._suspect if scanned else _never
        )
        """Whether a span of this shape may hold an e-mail address or a phone number."""

    def _suspect(self, mapping: Mapping[str, Any]) -> bool:
        # Runs on every span of the shape: one frame, no helper calls on the usual path.
        for key in self._numbers:  # numbers and flags are skipped only while they stay so
            if mapping[key].__class__ not in _NOT_TEXT:
                return _values_suspect(mapping, self._scanned)
        try:
            texts = self._texts(mapping)
            for key in self._seqs:
                items = mapping[key]
                if items.__class__ is str:  # joining a string would split it into letters
                    return _values_suspect(mapping, self._scanned)
                texts = (*texts, *items)
            text = "\0".join(texts)
        except TypeError:  # a text value that is no longer text, a sequence item that is not
            return _values_suspect(mapping, self._scanned)
        if "%" in text:
            text = unquote(text)
            if "%40" in text:  # encoded twice
                return True
        if "@" in text:
            return True
        shape = text.encode("utf-8", "surrogatepass").translate(ZERO_DIGITS)  # as in template()
        clean = self.clean
        if shape in clean:
            return False
        if suspect_decoded(text):
            return True
        if len(shape) <= _TEMPLATE_MAX_LEN:
            if len(clean) >= _PLAN_CLEAN_MAX:
                clean.clear()
            clean.add(shape)
        return False


def _always(_mapping: Mapping[str, Any]) -> bool:
    return True


def _never(_mapping: Mapping[str, Any]) -> bool:
    return False


def _keyed_digest(key: bytes | None) -> Callable[[str, str], str]:
    """The digest of ``replacement="hash"``: the keyed hash :func:`leadtrace.identity` gives
    the same address or number, so a redacted value still joins."""

    def digest(kind: str, text: str) -> str:
        # Deferred: privacy imports the guard, which imports this module.
        from leadtrace.privacy import hash_value, normalize_email, normalize_phone

        if kind == "email":
            return hash_value(normalize_email(text.replace("%40", "@")), key)
        return hash_value(normalize_phone(text), key)

    return digest


class ScrubbingSpanProcessor(SpanProcessor):
    """Redacts e-mail and phone values in every span before exporters read it.

    Scans span attributes (every text value and key, whatever the key), event attributes
    (``exception.message``, ``exception.stacktrace``), link attributes, the status description
    and the span name. Redacted attribute keys are listed in ``martech.redacted`` (event
    attributes as ``<event name>:<key>``, the status as ``otel.status_description``, the name
    as ``otel.span_name``). ``configure()`` installs it in front of every exporter.

    On a provider you set up yourself, wrap the exporting processor, so that no exporter can
    see a span before it is scrubbed, whatever order processors are added in::

        provider.add_span_processor(
            ScrubbingSpanProcessor(forward_to=BatchSpanProcessor(exporter))
        )

    (Added on its own, it must be added before every exporting processor, and it needs the
    SDK fields :mod:`leadtrace._sdk` probes to change a span in place; without them, only the
    wrapped form scrubs: see docs/compatibility.md.)

    Args:
        safe_keys: keys you vouch for, never scanned; none by default (leadtrace trusts no
            key by its name).
        replacement: ``marker`` (default) writes ``[redacted]``; ``hash`` writes
            ``[email_hash:<hex>]`` / ``[phone_hash:<hex>]`` with the same keyed hash as
            :func:`leadtrace.identity`, so a redacted value still joins.
        key: HMAC key for ``hash``; defaults to the configured ``LEADTRACE_HASH_KEY``.
        forward_to: the processor that receives every span once it is scrubbed (usually the
            exporting one); its ``on_start`` is called directly, and ``shutdown`` and
            ``force_flush`` reach it too. It is also cheaper: the SDK calls one processor
            instead of two.
    """

    def __init__(
        self,
        safe_keys: Iterable[str] = (),
        *,
        replacement: Replacement = "marker",
        key: bytes | None = None,
        forward_to: SpanProcessor | None = None,
    ) -> None:
        self.forward_to = forward_to
        """The processor that receives spans after scrubbing, or None."""
        self._forward_end: Callable[[ReadableSpan], None] | None = None
        if forward_to is not None:
            # Bound straight to the wrapped processor: no extra Python frame per span.
            self.on_start = forward_to.on_start  # type: ignore[method-assign]
            ending = on_ending(forward_to)
            if ending is not None:
                self._on_ending = ending  # type: ignore[method-assign,assignment]
            self._forward_end = forward_to.on_end
        elif not PRIVATES:
            _log.warning(
                "leadtrace: ScrubbingSpanProcessor() added on its own cannot change spans "
                "with this opentelemetry-sdk (or %s=off): wrap your exporting processor "
                "instead, ScrubbingSpanProcessor(forward_to=BatchSpanProcessor(exporter)); "
                "see docs/compatibility.md",
                ENV,
            )
        self._safe = frozenset(safe_keys)
        self._shapes: dict[tuple[str, ...], _ShapePlan] = {}
        self._named: dict[str, _ShapePlan] = {}
        self._named_more: dict[str, tuple[_ShapePlan, ...]] = {}
        self._key_plans: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._replacer = MARKER if replacement == "marker" else Replacer(_keyed_digest(key))

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do before the span ends (``forward_to`` gets the call instead)."""

    def scrub(self, text: str) -> str:
        """``text`` scrubbed with this processor's replacement (a span name, say)."""
        return scrub_text(text, self._replacer)

    def scrub_attributes(self, attrs: dict[str, Any]) -> list[str]:
        """Scrub a span's attribute dict in place before the span exists; returns redacted keys.

        ``emit()`` builds its span's attributes itself, so it scrubs them here (journey
        attributes once per journey, the event's own fields per event) and then ends the
        span with :data:`trusted_span` set, so :meth:`on_end` does not scan it again.
        """
        if not self._suspect_mapping(attrs):
            return []
        return self._apply(attrs, attrs)

    def scrub_keys(self, attrs: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
        """Like :meth:`scrub_attributes`, looking only at ``keys`` of ``attrs``.

        ``emit()`` passes the attribute names its event class can write: the rest of the
        dict came from the journey and was scrubbed once already.
        """
        # Keyed by identity: callers pass the same long-lived tuple (one per event class),
        # and hashing a tuple of strings on every event is not free.
        scan = self._key_plans.get(id(keys))
        if scan is None or scan[0] is not keys:
            scan = self._key_plans[id(keys)] = (keys, tuple(k for k in keys if k not in self._safe))
            if len(self._key_plans) > _SHAPES_MAX:
                self._key_plans.clear()
        if not _values_suspect(attrs, scan[1]):
            return []
        return self._apply(attrs, {k: attrs[k] for k in keys if k in attrs})

    def scrub_late(
        self, attrs: dict[str, Any], name: str, keys: tuple[str, ...] | None = None
    ) -> str:
        """Scrub ``keys`` of ``attrs`` (all of them when None) that were set after
        :meth:`scrub_keys` ran (an unknown event's name and journey attributes, violation
        locations) and return ``name`` (the span name) scrubbed; what was redacted is added
        to ``martech.redacted``."""
        redacted = self.scrub_attributes(attrs) if keys is None else self.scrub_keys(attrs, keys)
        cleaned = self.scrub(name)
        if cleaned != name:
            redacted.append("otel.span_name")
        if redacted:
            attrs[semconv.REDACTED] = tuple(
                sorted({*redacted, *_as_list(attrs.get(semconv.REDACTED))})
            )
        return cleaned

    def _apply(self, attrs: dict[str, Any], part: Mapping[str, Any]) -> list[str]:
        """Scrub ``part`` of ``attrs`` (all of it, or some of its keys) into ``attrs``."""
        cleaned, redacted = _clean_mapping(part, self._safe, self._replacer)
        if cleaned is not None:
            for key in part:
                if key not in cleaned:  # a key that held a match: written scrubbed instead
                    del attrs[key]
            attrs.update(cleaned)
        return redacted

    def on_end(self, span: ReadableSpan) -> None:
        """Replace matched values in place before exporters read the span.

        Runs on every span, so the usual case (a span with no personal data) is decided here
        in one frame: it reads the SDK span's own fields (the public properties copy on each
        call), finds the plan of the span's keys by the span's name and asks it. With
        ``forward_to``, the span is handed on afterwards, whatever happened.
        """
        forwarded: ReadableSpan = span
        try:
            trusted = _trusted.context
            if trusted is not None and trusted is span.context:
                return
            try:
                parts = ended_parts(span)
                if parts is None:  # not an SDK span, or no privates: the public API
                    if self._suspect_public(span):
                        forwarded = self._scrub(span)
                    return
                mapping, name, rare = parts
                # Spans of one name mostly share one shape: the name's first plan is tried
                # first (a name is only ever remembered clean, so its check is skipped).
                plan = self._named.get(name)
                if plan is None or plan.size != len(mapping) or not plan.keys.issuperset(mapping):
                    plan = self._plan_named(mapping, name)
                    if plan is None:  # the name may hold personal data
                        forwarded = self._scrub(span)
                        return
                if plan.suspect(mapping) or (rare and self._suspect_rest(span)):
                    forwarded = self._scrub(span)
            except Exception as exc:
                # The quick check failed: scrub the span in full rather than pass it unchecked.
                with contextlib.suppress(Exception):
                    forwarded = self._scrub(span)
                internal_error(exc, "ScrubbingSpanProcessor.on_end")
        finally:
            forward = self._forward_end  # a local: calling an attribute as a method is slower
            if forward is not None:
                forward(forwarded)

    def _plan_named(self, mapping: Mapping[str, Any], name: str) -> _ShapePlan | None:
        """The plan of ``mapping``'s shape for a span called ``name`` that the name's first
        plan does not fit; None if ``name`` may hold personal data (never remembered).

        A name's first plan stays first (``on_end`` tries it); a few more are kept per name,
        because some names come in more than one shape (OTel's ASGI send spans, with and
        without a status code), and looking them up is cheaper than by the shape."""
        more = self._named_more.get(name, ())
        for known in more:
            if known.size == len(mapping) and known.keys.issuperset(mapping):
                return known
        if name not in _CLEAN and _suspect_cached(name):
            return None
        plan = self._plan_of(mapping)
        if len(self._named) >= _SHAPES_MAX:  # boilerplate: bounded cache
            self._named.clear()
            self._named_more.clear()
        if name not in self._named:
            self._named[name] = plan
        elif len(more) < _NAME_SHAPES_MAX:
            self._named_more[name] = (*more, plan)
        return plan

    def _suspect_rest(self, span: ReadableSpan) -> bool:
        """Whether the status description, an event (its name or attributes) or a link may hold
        personal data."""
        description = span.status.description
        if description is not None and suspect_text(description):
            return True
        for event in span.events:
            if _suspect_cached(event.name):
                return True
            if event.attributes and self._suspect_mapping(event.attributes):
                return True
        return any(
            link.attributes and self._suspect_mapping(link.attributes) for link in span.links
        )

    def _suspect_public(self, span: ReadableSpan) -> bool:
        """The check of :meth:`on_end` for spans that are not the SDK's own type."""
        if span.attributes and self._suspect_mapping(span.attributes):
            return True
        if span.name and _suspect_cached(span.name):
            return True
        return self._suspect_rest(span)

    def _suspect_mapping(self, attrs: Mapping[str, Any]) -> bool:
        """Whether any scanned value of ``attrs`` may hold an e-mail or phone."""
        mapping = plain_mapping(attrs)
        return self._plan_of(mapping).suspect(mapping)

    def _plan_of(self, mapping: Mapping[str, Any]) -> _ShapePlan:
        """The plan of ``mapping``'s shape: spans of one kind carry the same keys in the same
        order, so each shape is planned once (bounded: cleared when full)."""
        shape = tuple(mapping)
        plan = self._shapes.get(shape)
        if plan is not None:
            return plan
        plan = _ShapePlan(shape, mapping, self._safe)
        if len(self._shapes) >= _SHAPES_MAX:
            self._shapes.clear()
        self._shapes[shape] = plan
        return plan

    def _scrub(self, span: ReadableSpan) -> ReadableSpan:
        """Redact every match in ``span``; returns the span to hand on (``span`` itself, or
        a scrubbed copy when the SDK's fields cannot be changed: see :mod:`leadtrace._sdk`)."""
        replacer = self._replacer
        redacted: list[str] = []
        events: list[tuple[int, str | None, Mapping[str, Any] | None]] = []
        for index, event in enumerate(span.events):
            event_name = scrub_text(event.name, replacer)
            renamed = event_name if event_name != event.name else None
            if renamed is not None:
                redacted.append(f"{event_name}:otel.event_name")
            cleaned = None
            if event.attributes:
                cleaned, keys = _clean_mapping(event.attributes, self._safe, replacer)
                if cleaned is not None:
                    redacted.extend(f"{event_name}:{k}" for k in keys)
            if renamed is not None or cleaned is not None:
                events.append((index, renamed, cleaned))
        links: list[tuple[int, Mapping[str, Any]]] = []
        for index, link in enumerate(span.links):
            if link.attributes:
                cleaned, keys = _clean_mapping(link.attributes, self._safe, replacer)
                if cleaned is not None:
                    links.append((index, cleaned))
                    redacted.extend(f"link:{k}" for k in keys)
        status = None
        description = span.status.description
        if description:
            cleaned_description = scrub_text(description, replacer)
            if cleaned_description != description:
                status = Status(span.status.status_code, cleaned_description)
                redacted.append("otel.status_description")
        name: str | None = scrub_text(span.name, replacer)
        if name != span.name:
            redacted.append("otel.span_name")
        else:
            name = None
        attrs = span.attributes or {}
        cleaned_attrs, keys = _clean_mapping(attrs, self._safe, replacer)
        redacted.extend(keys)
        if not redacted:
            return span
        new_attrs = cleaned_attrs if cleaned_attrs is not None else dict(attrs)
        new_attrs[semconv.REDACTED] = sorted(
            set(redacted) | set(_as_list(attrs.get(semconv.REDACTED)))
        )
        return rewrite_ended(
            span, name=name, attributes=new_attrs, status=status, events=events, links=links
        )

    def shutdown(self) -> None:
        """Shut ``forward_to`` down (nothing of its own to release)."""
        if self.forward_to is not None:
            self.forward_to.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush ``forward_to`` (nothing buffered of its own)."""
        return self.forward_to is None or self.forward_to.force_flush(timeout_millis)
