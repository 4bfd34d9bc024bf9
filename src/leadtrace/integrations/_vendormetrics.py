"""Vendor call metrics: every instrumented vendor call counted, sampled or not.

Each vendor instrumentor hands the :class:`~leadtrace.integrations._vendor.Outcome` of a call
to :func:`count_call`, whether or not its span is recorded, so these counts stay exact when
traces are sampled. It exports, on the current leadtrace handle's meter:

``martech.vendor.calls`` (counter, ``{call}``)
    Vendor calls by vendor, operation, CRM object and, for a failed call, failure layer and
    reason. Prometheus: ``martech_vendor_calls_total``.
``martech.vendor.retries`` (counter, ``{retry}``)
    Retries the vendor client made before its final answer (HubSpot's urllib3 retries,
    Segment / RudderStack upload retries). Prometheus: ``martech_vendor_retries_total``.
``martech.vendor.rate_limit.remaining`` (gauge, ``{call}``)
    Calls left in the vendor's rate-limit window, from the last answer that said so.
    Prometheus: ``martech_vendor_rate_limit_remaining``.

Attributes are bounded: ``martech.vendor.name``, ``martech.vendor.operation`` and
``martech.crm.object`` (together capped at :data:`OPERATION_LIMIT` distinct values, then
``_other``; an e-mail address or phone number in one, from a caller-chosen object type, is
replaced by the marker), ``martech.failure.layer``, ``martech.failure.reason`` and
``martech.journey.synthetic``.
Nothing from the request or the record (ids, property values) becomes a metric attribute.
Cost on the caller: one dict update under a lock; the instruments are observable and read
the counts when a metric reader collects. Like the SLI counters, a new counter series is
reported at zero once (its first collection) before its count, so Prometheus's ``rate()``
sees its first call.

Owns: the vendor call instruments and their per-handle state.

May import: ``semconv``, ``_active`` and ``context`` (the active handle and journey),
``_perhandle`` (per-handle state) and ``_pii`` (the detection rules).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.metrics import CallbackOptions, Observation

from leadtrace import semconv
from leadtrace._active import current
from leadtrace._perhandle import PerHandle
from leadtrace._pii import scrub_text
from leadtrace.context import current_journey

if TYPE_CHECKING:
    from leadtrace._runtime import Leadtrace

__all__ = [
    "CALLS",
    "OPERATION_LIMIT",
    "RATE_LIMIT_REMAINING",
    "RETRIES",
    "count_call",
]

CALLS: Final = "martech.vendor.calls"
"""Counter of vendor calls (``martech_vendor_calls_total``)."""
RETRIES: Final = "martech.vendor.retries"
"""Counter of retries before a vendor's final answer (``martech_vendor_retries_total``)."""
RATE_LIMIT_REMAINING: Final = "martech.vendor.rate_limit.remaining"
"""Gauge of calls left in a vendor's rate-limit window (``martech_vendor_rate_limit_remaining``)."""
OPERATION_LIMIT: Final = 200
"""Distinct operation and CRM object values per handle before the rest become ``_other``."""
_OVERFLOW: Final = "_other"


class _Instruments:
    """The vendor instruments of one handle and the counts they report.

    The caller pays for one dict update under a lock: the counts are kept here and read by
    observable instruments when a metric reader collects (an OpenTelemetry counter's
    ``add()`` costs about half a span start per call on this path).

    A new series is reported at zero once before its count, because Prometheus's ``rate()``
    and ``increase()`` start from a series' first sample: the first rate-limited or failed
    call of a kind would otherwise never show on the dashboard.
    """

    def __init__(self, handle: Leadtrace) -> None:
        meter = handle.meter
        self.lock = threading.Lock()
        self.calls: dict[tuple[tuple[str, str], ...], int] = {}
        self.retries: dict[str, int] = {}
        self.fresh: set[object] = set()  # series not reported yet: shown at zero once
        self.remaining: dict[str, int] = {}
        self.labels: dict[str, str] = {}
        meter.create_observable_counter(
            CALLS,
            callbacks=[self._observe_calls],
            unit="{call}",
            description="Vendor client calls, by outcome.",
        )
        meter.create_observable_counter(
            RETRIES,
            callbacks=[self._observe_retries],
            unit="{retry}",
            description="Retries before a vendor's final answer.",
        )
        meter.create_observable_gauge(
            RATE_LIMIT_REMAINING,
            callbacks=[self._observe_remaining],
            unit="{call}",
            description="Calls left in the vendor's rate-limit window (last answer).",
        )

    def label(self, value: str) -> str:
        """``value`` as a metric attribute value: an e-mail address or phone number in it
        is replaced by the marker (metrics do not pass the span scrubber), and past
        :data:`OPERATION_LIMIT` distinct values the rest become ``_other``. Each distinct
        value is checked once."""
        found = self.labels.get(value)
        if found is not None:
            return found
        with self.lock:
            if len(self.labels) >= OPERATION_LIMIT:
                return _OVERFLOW
            found = self.labels[value] = scrub_text(value)
        return found

    def count(
        self,
        key: tuple[tuple[str, str], ...],
        vendor: str,
        retries: int | None,
        remaining: int | None,
    ) -> None:
        """Add one call under ``key``, its retries, and the quota it reported."""
        with self.lock:
            calls = self.calls.get(key)
            if calls is None:
                self.fresh.add(key)
            self.calls[key] = (calls or 0) + 1
            if retries:
                before = self.retries.get(vendor)
                if before is None:
                    self.fresh.add(vendor)
                self.retries[vendor] = (before or 0) + retries
            if remaining is not None:
                self.remaining[vendor] = remaining

    def _reported(self, items: Iterable[tuple[Any, int]]) -> list[tuple[Any, int]]:
        """``(key, value)`` pairs to report: a fresh key's value is zero, this once."""
        out = []
        for key, value in items:
            if key in self.fresh:
                self.fresh.discard(key)
                value = 0
            out.append((key, value))
        return out

    def _observe_calls(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            seen = self._reported(list(self.calls.items()))
        return [Observation(value, dict(key)) for key, value in seen]

    def _observe_retries(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            seen = self._reported(sorted(self.retries.items()))
        return [Observation(value, {semconv.VENDOR_NAME: vendor}) for vendor, value in seen]

    def _observe_remaining(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self.lock:
            seen = sorted(self.remaining.items())
        return [Observation(value, {semconv.VENDOR_NAME: vendor}) for vendor, value in seen]


_instruments: PerHandle[_Instruments] = PerHandle(_Instruments)


def count_call(
    vendor: str,
    operation: str,
    crm_object: str | None,
    *,
    failure_layer: str | None,
    failure_reason: str | None,
    retries: int | None,
    rate_remaining: int | None,
    handle: Leadtrace | None = None,
) -> None:
    """Count one vendor call on the current handle's meter (sampled or not).

    Args:
        vendor: ``semconv.VENDOR_*``.
        operation: the span's low-cardinality operation (``crm.contacts create``).
        crm_object: normalised CRM object (``contact``), or None for analytics calls.
        failure_layer: ``martech.failure.layer`` of a failed call, None when it succeeded.
        failure_reason: ``martech.failure.reason`` of a failed call, None when it succeeded.
        retries: retries before the final answer, when the client says.
        rate_remaining: calls left in the rate-limit window, when the answer says.
        handle: the leadtrace handle to count on; default the current one (a consumer
            thread passes the handle that owns its queue).
    """
    instruments = _instruments.get(handle if handle is not None else current())
    journey = current_journey()
    key: tuple[tuple[str, str], ...] = (
        (semconv.VENDOR_NAME, vendor),
        (semconv.VENDOR_OPERATION, instruments.label(operation)),
        (
            semconv.JOURNEY_SYNTHETIC,
            "true" if journey is not None and journey.synthetic else "false",
        ),
    )
    if crm_object:
        key += ((semconv.CRM_OBJECT, instruments.label(crm_object)),)
    if failure_reason is not None:
        key += (
            (semconv.FAILURE_LAYER, failure_layer or ""),
            (semconv.FAILURE_REASON, failure_reason),
        )
    instruments.count(key, vendor, retries, rate_remaining)
