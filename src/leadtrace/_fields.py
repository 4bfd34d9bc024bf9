"""Field metadata shared by event models: which span attribute a model field becomes.

Owns: the field metadata (:class:`Attr`) that maps a model field to a span attribute.

May import: nothing of leadtrace.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Attr"]


@dataclass(frozen=True, slots=True)
class Attr:
    """Marks a model field with the span attribute it is exported as.

    Used as ``Annotated[str | None, Attr(semconv.LEAD_ID)] = None``. A field without ``Attr``
    is exported under the event's ``attribute_prefix`` plus the field name.
    """

    name: str
    """The attribute key, one of the :mod:`leadtrace.semconv` constants for built-in events."""
