"""Which handle the module-level API uses now: the one bottom-level holder of that fact.

Owns: the stack of handles activated in this context (``handle.activate()``), the global
handle ``configure()`` installed, and the fallback that builds the "unconfigured" handle the
first time anything runs before ``configure()``.

May import: nothing of leadtrace at run time (type names only, for the checker). Every part
that needs the active handle (``emit()``, ``@stage``, journeys, the internal-error guard,
consent, identity) reads it here; ``configure()`` in :mod:`leadtrace._runtime` writes it.
That keeps the arrows pointing one way: the runtime wires the parts, the parts never import
the runtime back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadtrace._runtime import Leadtrace

__all__ = ["activated", "current", "global_handle", "install_global", "set_fallback"]

_stack: ContextVar[tuple[Leadtrace, ...]] = ContextVar("leadtrace_active", default=())
_global: Leadtrace | None = None
_unconfigured: Leadtrace | None = None
_fallback: Callable[[], Leadtrace] | None = None


def current() -> Leadtrace:
    """The handle the module-level API uses now: activated, else global, else unconfigured.

    Runs on every ``emit()``: three cheap checks before the one-time fallback.
    """
    stack = _stack.get()
    if stack:
        return stack[-1]
    if _global is not None:
        return _global
    if _unconfigured is not None:
        return _unconfigured
    return _unconfigured_handle()


def _unconfigured_handle() -> Leadtrace:
    global _unconfigured
    if _unconfigured is None:
        if _fallback is None:  # pragma: no cover - the runtime registers it at import
            raise RuntimeError("leadtrace._runtime was not imported; import leadtrace")
        _unconfigured = _fallback()
    return _unconfigured


def set_fallback(build: Callable[[], Leadtrace]) -> None:
    """Register how to build the handle used before ``configure()`` (the runtime does)."""
    global _fallback
    _fallback = build


def global_handle() -> Leadtrace | None:
    """The handle ``configure()`` installed, or None."""
    return _global


def install_global(handle: Leadtrace | None) -> None:
    """Make ``handle`` the global one (None forgets it and the unconfigured one: tests)."""
    global _global, _unconfigured
    _global = handle
    if handle is None:
        _unconfigured = None


@contextmanager
def activated(handle: Leadtrace) -> Iterator[Leadtrace]:
    """Use ``handle`` inside the block; context-local (this thread and its asyncio tasks)."""
    token = _stack.set((*_stack.get(), handle))
    try:
        yield handle
    finally:
        _stack.reset(token)
