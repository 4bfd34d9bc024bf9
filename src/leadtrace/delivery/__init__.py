"""Delivery: getting every span to the collector, or to disk until it can, or counting it.

The SDK's ``BatchSpanProcessor`` and OTLP exporter drop spans almost silently when the queue
fills or the collector is down, and their flush and shutdown ignore the caller's deadline.
leadtrace exports through :class:`DeliveryProcessor` instead: spans the collector cannot
take wait in a bounded on-disk :class:`Spool` and are sent again in order when it answers;
flush and shutdown end by their deadline; every span lost anyway is counted in
``leadtrace.spans.dropped{reason}``. See ``docs/delivery.md``.
"""

from __future__ import annotations

from leadtrace.delivery._drops import REASONS, Drops
from leadtrace.delivery._encode import encode, repaired
from leadtrace.delivery._processor import DeliveryProcessor
from leadtrace.delivery._spool import Spool
from leadtrace.delivery._transport import Outcome, Sent, Transport, transport_for

__all__ = [
    "REASONS",
    "DeliveryProcessor",
    "Drops",
    "Outcome",
    "Sent",
    "Spool",
    "Transport",
    "encode",
    "repaired",
    "transport_for",
]
