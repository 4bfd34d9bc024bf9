"""State a part keeps for each leadtrace handle, made the first time that handle needs it.

Owns: :class:`PerHandle`, a weakly keyed, lock-guarded map from a handle to what a part built
for it (its metric instruments, say); an entry goes away with its handle.

May import: nothing of leadtrace at run time (type names only, for the checker).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from leadtrace._runtime import Leadtrace

__all__ = ["PerHandle"]

T = TypeVar("T")


class PerHandle(Generic[T]):
    """``make(handle)`` once per handle, then the same value for that handle.

    Args:
        make: builds the value for a handle; called at most once per handle.
    """

    def __init__(self, make: Callable[[Leadtrace], T]) -> None:
        self._make = make
        self._values: weakref.WeakKeyDictionary[Leadtrace, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, handle: Leadtrace) -> T:
        """The value for ``handle``, built on first use."""
        found = self._values.get(handle)
        if found is None:
            with self._lock:
                found = self._values.get(handle)
                if found is None:
                    found = self._values[handle] = self._make(handle)
        return found
