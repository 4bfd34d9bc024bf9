"""Exceptions raised by leadtrace.

One root, each subclass also a subclass of the matching builtin so callers can catch either::

    LeadtraceError(Exception)
    ├── ArgumentTypeError(TypeError)       strict mode: an API argument of the wrong type
    ├── ConfigError(ValueError)            bad settings at setup: names the setting and the fix
    ├── EventValidationError(ValueError)   strict mode: names the event, the field and the rule
    ├── UnknownEventError(KeyError)        ``events.get``: no event of that name or version
    └── ConsentParseError(ValueError)      ``consent.parse_tcf``: a malformed consent string

At runtime (lenient mode) leadtrace raises none of these into application code: it records
and counts the problem instead.

Owns: the exception hierarchy.

May import: nothing of leadtrace: every part may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ArgumentTypeError",
    "ConfigError",
    "EventValidationError",
    "LeadtraceError",
    "Violation",
]


class LeadtraceError(Exception):
    """Root of every exception leadtrace raises."""


class ArgumentTypeError(LeadtraceError, TypeError):
    """A public function got an argument of the wrong type, or text that is not valid Unicode.

    Raised in strict mode only; lenient mode counts it in ``leadtrace.internal_errors`` and
    carries on without that argument. The message never repeats the value.

    Attributes:
        function: the function called, e.g. ``journey``.
        argument: the argument's name, e.g. ``campaign``.
        given: what was passed, e.g. ``str`` or ``str with a lone surrogate``.
        expected: what the argument takes, e.g. ``Campaign or None``.
    """

    def __init__(self, function: str, argument: str, given: str, expected: str) -> None:
        self.function = function
        self.argument = argument
        self.given = given
        self.expected = expected
        super().__init__(
            f"{function}({argument}=...) got {given}, expected {expected}. Pass {expected}; "
            "with validation='lenient' leadtrace counts this and carries on without it."
        )


class ConfigError(LeadtraceError, ValueError):
    """A setting is missing or invalid; the message names the setting and how to fix it."""


@dataclass(frozen=True)
class Violation:
    """One schema violation: where it is and which rule it broke. Never the input value."""

    location: str
    """Dotted field path, e.g. ``campaign.id`` (``<event>`` for the event as a whole)."""
    type: str
    """Rule that failed, e.g. ``missing``, ``string_type``, ``extra_forbidden``."""
    message: str = ""
    """Human-readable rule description (pydantic's message, which never echoes the input)."""

    def __str__(self) -> str:
        return f"{self.location}:{self.type}"


class EventValidationError(LeadtraceError, ValueError):
    """An event failed validation in strict mode.

    Attributes:
        event: canonical event name, e.g. ``lead_routed``.
        violations: every violation found, first one in the message.
    """

    def __init__(self, event: str, violations: Sequence[Violation]) -> None:
        self.event = event
        self.violations = tuple(violations)
        first = self.violations[0] if self.violations else Violation("<event>", "unknown")
        more = f" (+{len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        detail = f": {first.message}" if first.message else ""
        super().__init__(
            f"event {event!r}: field {first.location!r} broke rule {first.type!r}{detail}{more}. "
            "Fix the value, or set validation='lenient' to record the violation instead of raising."
        )
