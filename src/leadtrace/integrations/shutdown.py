"""Flush telemetry when a web server stops, so the last requests' spans are not lost.

Servers stop on SIGTERM (Docker, Kubernetes, systemd). uvicorn handles it, runs the ASGI
lifespan shutdown, then raises SIGTERM again with the default handler in place: the process
ends without running ``atexit`` hooks, so spans still queued for export are lost.
:class:`~leadtrace.integrations.asgi.LeadtraceMiddleware` flushes on the lifespan shutdown by
itself. Elsewhere call one of these:

- :func:`flush` from the server's own stop hook (gunicorn's ``worker_exit``);
- :func:`flush_on_signal` once at start-up where the server has no stop hook (Django's
  ``runserver``, a WSGI server without hooks, a Django ASGI app under uvicorn): on SIGTERM it
  flushes, then hands the signal on to the handler that was there before.

See ``docs/integrations/web.md`` ("Stopping the server").
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any, Final

from leadtrace._runtime import current

__all__ = ["DEFAULT_FLUSH_TIMEOUT_MILLIS", "flush", "flush_on_signal"]

DEFAULT_FLUSH_TIMEOUT_MILLIS: Final = 10_000
"""How long a shutdown flush may take by default: well inside the 30 s Kubernetes and
Docker wait between SIGTERM and SIGKILL."""

_log = logging.getLogger("leadtrace")


def flush(timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
    """Export what the active leadtrace handle still holds; True when it all went out in time.

    Safe to call more than once and from any thread; never raises (a failure is logged).
    """
    try:
        return current().force_flush(timeout_millis)
    except Exception:
        _log.warning("leadtrace: flushing telemetry at shutdown failed", exc_info=True)
        return False


def flush_on_signal(
    *signals: signal.Signals, timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS
) -> None:
    """On each of ``signals`` (default SIGTERM): flush, then do what the signal did before.

    The handler that was installed before is called afterwards; when that was the default
    action, the signal is raised again with it, so the process still ends as stopped by the
    signal (orchestrators read the exit status). Call it from the main thread at start-up.
    A server that installs its own handler later (uvicorn, gunicorn) puts this one back when
    it stops, or needs its own hook instead (gunicorn: :func:`flush` in ``worker_exit``).

    Raises:
        ValueError: called outside the main thread (Python only allows handlers there).
    """
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("flush_on_signal() must be called from the main thread")
    for signum in signals or (signal.SIGTERM,):
        previous = signal.getsignal(signum)
        signal.signal(signum, _handler(signum, previous, timeout_millis))


def _handler(signum: signal.Signals, previous: Any, timeout_millis: int) -> Any:
    def on_signal(number: int, frame: FrameType | None) -> None:
        flush(timeout_millis)
        if callable(previous):
            previous(number, frame)
        elif previous == signal.SIG_IGN:
            return
        else:  # the default action (or a handler not set from Python): end as it would have
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    return on_signal
