"""The delivery processor: batches spans to the collector, spools what it cannot take.

It replaces the SDK's ``BatchSpanProcessor`` + OTLP exporter for the collector leadtrace
exports to, keeping its cheap ``on_end`` (a deque append) and adding what that pair lacks:

- a span that finds the queue full goes to the spool instead of being dropped (the thread
  that ends it pays its encoding, about 0.1 ms, only while the queue is full);
- a batch the collector does not take (unreachable, 5xx, timeout) goes to the spool, and the
  spool is sent again, oldest first and before newer spans, once the collector answers;
- ``force_flush(timeout)`` and ``shutdown()`` end by their deadline: each request is bounded
  by the time left, and what is still unsent at the end is spooled; ``force_flush`` returns
  True only when nothing is left unsent;
- a batch the collector refuses (4xx) is halved until the refused span is found, so one bad
  span never takes its neighbours with it;
- every span that is lost anyway is counted by reason (:class:`~._drops.Drops`).

Without a spool (``spool_dir=off``, or ``configure(local=True)``) a failed batch is retried
until the export timeout and then counted as dropped. With an exporter instead of a transport
(the local JSON-lines store) spans are handed to it in batches, failures counted.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from leadtrace.delivery._drops import Drops
from leadtrace.delivery._encode import encode, split
from leadtrace.delivery._spool import Spool
from leadtrace.delivery._transport import Outcome, Transport

__all__ = ["DeliveryProcessor"]

_log = logging.getLogger("leadtrace")
_MAX_BACKOFF = 30.0
_MARGIN = 0.05
"""Seconds kept back from a deadline to spool what is left."""
_SPOOL_COST = 0.0002
"""Seconds to encode and spool one span, kept back per queued span."""


class DeliveryProcessor(SpanProcessor):
    """Batch, send, spool and count; see the module docstring.

    Args:
        drops: where dropped, spooled and replayed spans are counted.
        transport: sends encoded OTLP requests (the collector).
        exporter: instead of a transport, a span exporter (the local store).
        spool: on-disk spool for what the collector cannot take; None to drop and count.
        value_limit: longest text attribute value kept (see ``_encode``).
        max_queue_size: spans held in memory.
        max_batch_size: spans per request.
        schedule_delay: seconds between two deliveries when the queue is not full.
        export_timeout: seconds one request may take.
        shutdown_timeout: seconds ``shutdown()`` may take when not given a timeout.
        max_request_bytes: requests larger than this are halved before sending.
    """

    def __init__(
        self,
        drops: Drops,
        *,
        transport: Transport | None = None,
        exporter: SpanExporter | None = None,
        spool: Spool | None = None,
        value_limit: int = 4096,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay: float = 1.0,
        export_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        max_request_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        if (transport is None) == (exporter is None):
            raise ValueError("DeliveryProcessor needs exactly one of transport or exporter")
        self.drops = drops
        self.transport = transport
        self.exporter = exporter
        self.spool = spool if transport is not None else None
        self._limit = value_limit
        self._max_queue = max_queue_size
        self._batch = min(max_batch_size, max_queue_size)
        self._delay = schedule_delay
        self._export_timeout = export_timeout
        self._shutdown_timeout = shutdown_timeout
        self._max_request = max_request_bytes
        self._backoff = 0.0
        self._retry_at = 0.0
        self._stopping = False
        self._stopped = False
        self._init_threading()
        if hasattr(os, "register_at_fork"):
            reinit = weakref.WeakMethod(self._init_threading)

            def after_fork() -> None:
                method = reinit()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=after_fork)

    def _init_threading(self) -> None:
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        """Held by whoever is sending: the worker, a flush or the shutdown."""
        self._state = threading.Lock()
        self._in_flight: tuple[bytes, int] | None = None
        self._thread = threading.Thread(target=self._work, name="leadtrace-delivery", daemon=True)
        self._thread.start()

    # --- the application's thread ---------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a sampled span; when the queue is full, spool its oldest span (or count it)."""
        if not span.context.trace_flags.sampled:
            return
        queue = self._queue
        if len(queue) >= self._max_queue or self._stopping:
            self._overflow(span)
            return
        queue.append(span)
        if len(queue) >= self._batch and not self._wake.is_set():
            self._wake.set()

    def _overflow(self, span: ReadableSpan) -> None:
        if self._stopping:
            self.drops.add("shutdown", 1)
            return
        spool = self.spool
        if spool is None:
            self.drops.add("queue_full", 1)
            return
        try:
            try:
                oldest = self._queue.popleft()
            except IndexError:
                oldest = span
            else:
                self._queue.append(span)
            data, count = encode([oldest], self._limit)
        except Exception:  # never into the application: counted instead
            _log.debug("leadtrace: spooling an overflowing span failed", exc_info=True)
            self.drops.add("queue_full", 1)
            return
        if not count:
            self.drops.add("unencodable", 1)
        elif spool.add(data, count):
            self.drops.spooled(count)
        else:
            self.drops.add("spool_full", count)

    # --- delivery (the worker, flush and shutdown) ---------------------------------------------

    def _work(self) -> None:
        while not self._stopping:
            self._wake.wait(self._delay)
            self._wake.clear()
            if self._stopping:
                break
            with self._lock:
                try:
                    self._deliver(None, force=False)
                except Exception:  # the worker must survive anything to keep delivering
                    _log.exception("leadtrace: delivery failed")

    def _left(self, deadline: float | None) -> float:
        """Seconds one request may take now."""
        if deadline is None:
            return self._export_timeout
        keep = _MARGIN + len(self._queue) * _SPOOL_COST
        return min(self._export_timeout, deadline - time.monotonic() - keep)

    def _deliver(self, deadline: float | None, *, force: bool) -> None:
        """Send the spool, then the queue, until both are empty, the collector fails, or the
        deadline comes (flush and shutdown); while the collector is down, queue to the spool."""
        spool = self.spool
        if spool is not None:
            self._count_lost(spool.seal(), "spool_full")
            if force or time.monotonic() >= self._retry_at:
                while self._replay(spool, deadline):
                    pass
        while self._queue:
            if self._stopping and deadline is None:
                return  # the shutdown takes over
            if deadline is not None and self._left(deadline) <= 0:
                return
            batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
            if self.exporter is not None:
                self._export(batch)
                continue
            data, count = encode(batch, self._limit)
            self._count_lost(len(batch) - count, "unencodable")
            if not count:
                continue
            if spool is not None and (self._down() or spool.names()):
                self._keep(data, count)  # behind what is spooled already, in order
                continue
            self._send(data, count, deadline)

    def _down(self) -> bool:
        return time.monotonic() < self._retry_at

    def _failed(self, retry_after: float | None) -> None:
        self._backoff = min(_MAX_BACKOFF, max(1.0, self._backoff * 2))
        wait = retry_after if retry_after is not None else self._backoff
        self._retry_at = time.monotonic() + wait * random.uniform(0.8, 1.2)

    def _count_lost(self, count: int, reason: str) -> None:
        if count > 0:
            self.drops.add(reason, count)

    def _keep(self, data: bytes, count: int, reason: str = "spool_full") -> None:
        """Spool a request, or count it as dropped for ``reason`` when there is no room."""
        if self.spool is not None and self.spool.write(data, count):
            self.drops.spooled(count)
        else:
            self.drops.add(reason if self.spool is None else "spool_full", count)

    def _send(self, data: bytes, count: int, deadline: float | None) -> None:
        assert self.transport is not None
        if len(data) > self._max_request and count > 1:
            for part, part_count in split(data):
                self._send(part, part_count, deadline)
            return
        started = time.monotonic()
        while True:
            with self._state:
                self._in_flight = (data, count)
            result = self.transport.send(data, self._left(deadline))
            with self._state:
                mine, self._in_flight = self._in_flight is not None, None
            if not mine:
                return  # shutdown gave up waiting and spooled it already
            if result.outcome is Outcome.SENT:
                self._backoff, self._retry_at = 0.0, 0.0
                self._count_lost(result.rejected, "rejected")
                return
            if result.outcome is Outcome.REJECTED:
                parts = split(data)
                if not parts:
                    _log.warning("leadtrace: the collector refused a span (%s)", result.detail)
                    self._count_lost(count, "rejected")
                for part, part_count in parts:
                    self._send(part, part_count, deadline)
                return
            self._failed(result.retry_after)
            if self.spool is not None:
                self._keep(data, count)
                return
            # No spool: retry in place until the export timeout, then count the loss.
            until = started + self._export_timeout
            if deadline is not None:
                until = min(until, deadline - _MARGIN)
            pause = max(0.0, min(self._retry_at, until) - time.monotonic())
            if time.monotonic() + pause >= until or self._stop.wait(pause):
                self._count_lost(count, "shutdown" if self._stopping else "export_failed")
                return

    def _replay(self, spool: Spool, deadline: float | None) -> bool:
        """Send spooled segments oldest first; True when another pass is needed."""
        assert self.transport is not None
        for segment in spool.segments():
            try:
                if (deadline is not None and self._left(deadline) <= 0) or (
                    self._stopping and deadline is None
                ):
                    return False
                result = self.transport.send(segment.data, self._left(deadline))
                if result.outcome is Outcome.SENT:
                    segment.remove()
                    self._backoff, self._retry_at = 0.0, 0.0
                    self.drops.replayed(segment.count - result.rejected)
                    self._count_lost(result.rejected, "rejected")
                elif result.outcome is Outcome.REJECTED:
                    parts = split(segment.data)
                    if parts:
                        segment.replace(parts)
                        return True
                    segment.remove()
                    self._count_lost(segment.count, "rejected")
                else:
                    self._failed(result.retry_after)
                    return False
            finally:
                segment.release()
        return False

    def _export(self, batch: list[ReadableSpan]) -> None:
        assert self.exporter is not None
        try:
            result = self.exporter.export(batch)
        except Exception:
            _log.exception("leadtrace: exporting spans failed")
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.drops.add("export_failed", len(batch))

    def _spool_rest(self, reason: str) -> None:
        """Move every queued span to the spool (or count it dropped for ``reason``)."""
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
            if self.exporter is not None:
                self._export(batch)
                continue
            data, count = encode(batch, self._limit)
            self._count_lost(len(batch) - count, "unencodable")
            if count:
                self._keep(data, count, reason)
        if self.spool is not None:
            self._count_lost(self.spool.seal(), "spool_full")

    def pending(self) -> int:
        """Spans not delivered yet: queued, being sent, or spooled."""
        with self._state:
            in_flight = self._in_flight[1] if self._in_flight is not None else 0
        spooled = self.spool.pending() if self.spool is not None else 0
        return len(self._queue) + in_flight + spooled

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Deliver everything within ``timeout_millis``; what is left goes to the spool.

        Returns:
            True only when nothing is left unsent (queue, request in flight and spool empty)
            and nothing was dropped meanwhile.
        """
        deadline = time.monotonic() + max(0, timeout_millis) / 1e3
        dropped = self.drops.total
        if self._stopped:
            return self.pending() == 0
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            self._deliver(deadline, force=True)
            if self._queue and self.spool is not None:
                self._spool_rest("spool_full")
        except Exception:
            _log.exception("leadtrace: flush failed")
        finally:
            self._lock.release()
        return self.pending() == 0 and self.drops.total == dropped

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Send what can be sent by the deadline, spool the rest, stop the worker.

        Args:
            timeout_millis: the deadline; the ``shutdown_timeout`` setting when None.
        """
        if self._stopped:
            return
        seconds = self._shutdown_timeout if timeout_millis is None else timeout_millis / 1e3
        deadline = time.monotonic() + max(0.0, seconds)
        self._stopping = True
        self._stop.set()
        self._wake.set()
        try:
            if self._lock.acquire(timeout=max(0.0, deadline - time.monotonic() - _MARGIN)):
                try:
                    self._deliver(deadline, force=True)
                    self._spool_rest("shutdown")
                finally:
                    self._lock.release()
            else:
                # The worker is stuck on a slow collector: take its request and the queue.
                with self._state:
                    in_flight, self._in_flight = self._in_flight, None
                if in_flight is not None:
                    self._keep(*in_flight, reason="shutdown")
                self._spool_rest("shutdown")
        finally:
            self._stopped = True
            self.drops.report()
            self._close()
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _close(self) -> None:
        closer: Callable[[], object] | None = None
        if self.transport is not None:
            closer = self.transport.close
        elif self.exporter is not None:
            closer = self.exporter.shutdown
        if closer is not None:
            try:
                closer()
            except Exception:
                _log.debug("leadtrace: closing the exporter failed", exc_info=True)
