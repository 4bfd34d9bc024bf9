"""The on-disk spool: encoded OTLP requests kept while the collector cannot take them.

Each segment is one file holding the exact bytes of an ``ExportTraceServiceRequest`` (several
requests appended are still one valid request: protobuf merges repeated fields), named so that
sorting the names gives the order they were written in::

    <time ns, 20 digits>-<pid>-<sequence>-<span count>.otlp

A segment is written under a temporary name and renamed into place, so a reader never sees
half of one. Several processes may share a directory (gunicorn workers): a sender holds an
exclusive ``flock`` on the segment it is sending, and a segment another process already
removed is skipped. The size cap counts every segment in the directory; what does not fit is
refused, and the caller counts it as dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per spool directory
    fcntl = None  # type: ignore[assignment]

__all__ = ["Segment", "Spool"]

_SUFFIX = ".otlp"
_TEMP_PREFIX = ".tmp-"


@dataclass
class Segment:
    """One spooled request, locked for sending until :meth:`remove` or :meth:`release`."""

    path: Path
    data: bytes
    count: int
    _fd: int = field(repr=False, default=-1)
    _spool: Spool | None = field(repr=False, default=None)

    def remove(self) -> None:
        """Delete the segment (it was delivered, or counted as dropped)."""
        if self._spool is not None:
            self._spool._discard(self.path, len(self.data))
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.release()

    def replace(self, parts: list[tuple[bytes, int]]) -> None:
        """Replace the segment by ``parts`` (its halves after a rejection), same place in order."""
        stem = self.path.name[: -len(_SUFFIX)].rsplit("-", 1)[0]
        written = 0
        for index, (data, count) in enumerate(parts):
            name = f"{stem}.{index}-{count}{_SUFFIX}"
            self.path.with_name(_TEMP_PREFIX + name).write_bytes(data)
            os.replace(self.path.with_name(_TEMP_PREFIX + name), self.path.with_name(name))
            written += len(data)
        if self._spool is not None:
            self._spool._forget(len(self.data) - written)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.release()

    def release(self) -> None:
        """Unlock the segment, keeping it for a later attempt."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _count_of(name: str) -> int:
    try:
        return int(name[: -len(_SUFFIX)].rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


class Spool:
    """A size-capped directory of spooled OTLP requests, oldest first.

    Args:
        directory: where segments live; created on first write.
        max_bytes: cap on the bytes of all segments in ``directory``.
        buffer_bytes: spans added one by one (:meth:`add`) are gathered in memory up to this
            size before they are written as one segment.
    """

    def __init__(
        self, directory: str | Path, max_bytes: int, *, buffer_bytes: int = 256 * 1024
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._buffer_bytes = buffer_bytes
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._buffered = 0
        self._sequence = itertools.count()
        self._pid = os.getpid()
        self._size = self._scan_size()
        self._inflight = 0

    def __repr__(self) -> str:
        return f"<Spool {self.directory} {self._size}/{self.max_bytes} bytes>"

    def _scan_size(self) -> int:
        try:
            return sum(
                entry.stat().st_size
                for entry in os.scandir(self.directory)
                if entry.name.endswith(_SUFFIX) and not entry.name.startswith(".")
            )
        except (FileNotFoundError, NotADirectoryError):
            return 0

    def _forget(self, size: int) -> None:
        with self._lock:
            self._size = max(0, self._size - size)

    def _discard(self, path: Path, size: int) -> None:
        """Delete a segment and stop counting it, in one step under the lock (a rescan in
        between would otherwise count it neither on disk nor in ``_size``)."""
        with self._lock:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._size = max(0, self._size - size)

    def _written(self, size: int) -> None:
        """A reserved write of ``size`` bytes is on disk (or failed): no longer in flight."""
        with self._lock:
            self._inflight -= size

    @property
    def size(self) -> int:
        """Bytes held: segments on disk plus the in-memory buffer."""
        return self._size + len(self._buffer)

    def write(self, data: bytes, count: int) -> bool:
        """Keep ``data`` (an encoded request of ``count`` spans) as a segment.

        Returns False, keeping nothing, when it does not fit under the cap or cannot be
        written; the caller counts those spans as dropped.
        """
        with self._lock:
            if self._size + len(self._buffer) + len(data) > self.max_bytes:
                return False
            self._size += len(data)
            self._inflight += len(data)
        try:
            self._write_file(data, count)
        except OSError:
            self._forget(len(data))
            return False
        finally:
            self._written(len(data))
        return True

    def _write_file(self, data: bytes, count: int) -> None:
        if os.getpid() != self._pid:  # forked: keep names unique per process
            self._pid = os.getpid()
        name = f"{time.time_ns():020d}-{self._pid}-{next(self._sequence):08d}-{count}{_SUFFIX}"
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / (_TEMP_PREFIX + name)
        temp.write_bytes(data)
        os.replace(temp, self.directory / name)

    def add(self, data: bytes, count: int) -> bool:
        """Buffer one small request; written as a segment once the buffer is full.

        Returns False when it does not fit under the cap.
        """
        with self._lock:
            if self._size + len(self._buffer) + len(data) > self.max_bytes:
                return False
            self._buffer += data
            self._buffered += count
            full = len(self._buffer) >= self._buffer_bytes
        if full:
            self.seal()
        return True

    def seal(self) -> int:
        """Write the in-memory buffer as a segment; returns the spans that could not be kept."""
        with self._lock:
            data, count = bytes(self._buffer), self._buffered
            self._buffer.clear()
            self._buffered = 0
            if not data:
                return 0
            self._size += len(data)
            self._inflight += len(data)
        try:
            self._write_file(data, count)
        except OSError:
            self._forget(len(data))
            return count
        finally:
            self._written(len(data))
        return 0

    @property
    def buffered(self) -> int:
        """Spans in the in-memory buffer."""
        return self._buffered

    def names(self) -> list[str]:
        """Segment file names, oldest first."""
        try:
            names = [
                n
                for n in os.listdir(self.directory)
                if n.endswith(_SUFFIX) and not n.startswith(".")
            ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        names.sort()
        return names

    def pending(self) -> int:
        """Spans waiting: in segments on disk and in the buffer."""
        return sum(_count_of(n) for n in self.names()) + self._buffered

    def segments(self) -> Iterator[Segment]:
        """Lock and yield segments oldest first, skipping ones another process is sending.

        The caller must :meth:`~Segment.remove` or :meth:`~Segment.release` each one.
        """
        with self._lock:
            # Other processes' segments count too; writes reserved but not yet renamed into
            # place are not on disk yet (counted twice for a moment at most: never under).
            self._size = self._scan_size() + self._inflight
        for name in self.names():
            path = self.directory / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
            try:
                if os.fstat(fd).st_nlink == 0:  # sent and removed by another process
                    os.close(fd)
                    continue
                with os.fdopen(os.dup(fd), "rb") as fh:
                    data = fh.read()
            except OSError:
                os.close(fd)
                continue
            yield Segment(path, data, _count_of(name), fd, self)
