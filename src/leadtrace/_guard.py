"""The one internal-error guard: leadtrace's own failures never reach application code.

Every SDK step that runs on the application's path (processors, event conversion, hooks)
reports its exceptions here. In lenient mode the error is counted
(``leadtrace.internal_errors``) and logged at most once a minute per place, and the
application carries on. In strict mode (development, tests) it is re-raised so bugs surface.
The guard is never put around user code: exceptions from the user's own functions propagate.

Owns: the internal-error guard and the exception text it logs (scrubbed).

May import: ``_active`` (to count on the active handle's meter), ``_pii`` and ``errors``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from typing import Any

from leadtrace._active import current
from leadtrace._pii import scrub_text
from leadtrace.errors import ArgumentTypeError

__all__ = ["checked", "describe", "internal_error"]

_log = logging.getLogger("leadtrace")
_LOG_INTERVAL_S = 60.0
_last_logged: dict[str, float] = {}
_lock = threading.Lock()


def describe(exc: BaseException) -> str:
    """Exception type, message and traceback with e-mail addresses and phone numbers redacted.

    The guard also wraps user callables (result mappers, hooks) whose exceptions often quote
    their input; the log (exported over OTLP when configured) must not carry it.
    """
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return scrub_text(text.strip())


def internal_error(exc: BaseException, where: str) -> None:
    """Record an internal failure at ``where``; re-raise it only in strict mode."""

    runtime = current()
    # The counter itself failing must not mask the original error.
    with contextlib.suppress(Exception):
        runtime.instruments.internal_errors.add(
            1, {"where": where, "error.type": type(exc).__name__}
        )
    now = time.monotonic()
    with _lock:
        due = now - _last_logged.get(where, -_LOG_INTERVAL_S) >= _LOG_INTERVAL_S
        if due:
            _last_logged[where] = now
    if due:
        _log.warning("leadtrace internal error in %s: %s", where, describe(exc))
    if runtime.strict:
        raise exc


def _unencodable(value: object) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def checked(
    function: str, argument: str, value: Any, types: type | tuple[type, ...], expected: str
) -> Any:
    """``value`` when it is None or of ``types`` (text: valid Unicode); otherwise None.

    A wrong value is reported as an :class:`~leadtrace.errors.ArgumentTypeError` through
    :func:`internal_error`: raised in strict mode, counted (``where`` is
    ``<function>.<argument>``) and logged in lenient mode, where the caller carries on
    without it. The value itself is never logged, only its type.
    """
    if value is None or (isinstance(value, types) and not _unencodable(value)):
        return value
    given = type(value).__name__
    if _unencodable(value):
        given += " with a lone surrogate (not encodable as UTF-8)"
    internal_error(ArgumentTypeError(function, argument, given, expected), f"{function}.{argument}")
    return None
