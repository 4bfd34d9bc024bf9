"""Run generators and async generators step by step inside a re-entered scope.

A context attached before a ``yield`` must be detached before control returns to the caller,
or the caller's context leaks into the generator and back. These helpers re-enter a scope
(a journey, a span) around each step instead, and forward ``send``/``throw``/``close``.

Owns: step-by-step re-entry of a scope around generators and async generators.

May import: nothing of leadtrace.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["scoped_async_generator", "scoped_generator"]

Scope = Callable[[], AbstractContextManager[Any]]


def scoped_generator(gen: Generator[Any, Any, Any], scope: Scope) -> Generator[Any, Any, Any]:
    """Drive ``gen``, entering ``scope()`` around every step."""
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        with scope():
            try:
                item = gen.throw(to_throw) if to_throw is not None else gen.send(to_send)
            except StopIteration as stop:
                return stop.value
        to_send, to_throw = None, None
        try:
            to_send = yield item
        except GeneratorExit:
            with scope():
                gen.close()
            raise
        except BaseException as exc:
            to_throw = exc


async def scoped_async_generator(
    agen: AsyncGenerator[Any, Any],
    scope: Scope,
    on_error: Callable[[Exception], object] | None = None,
    on_finish: Callable[[], object] | None = None,
) -> AsyncGenerator[Any, Any]:
    """Drive ``agen``, entering ``scope()`` around every step.

    ``asend``/``athrow``/``aclose`` are forwarded to ``agen``. ``on_error`` sees an exception
    leaving ``agen`` (before it propagates); ``on_finish`` runs once when iteration ends,
    however it ends.
    """
    to_send: Any = None
    to_throw: BaseException | None = None
    try:
        while True:
            with scope():
                try:
                    if to_throw is not None:
                        item = await agen.athrow(to_throw)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    if on_error is not None:
                        on_error(exc)
                    raise
            to_send, to_throw = None, None
            try:
                to_send = yield item
            except GeneratorExit:
                with scope():
                    await agen.aclose()
                raise
            except BaseException as exc:
                to_throw = exc
    finally:
        if on_finish is not None:
            on_finish()
