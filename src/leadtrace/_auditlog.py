"""The consent audit log's format: hash-chained JSON-lines records, their sinks and verify().

Owns: how a record is sealed (``v``, ``seq``, ``prev``, ``hash``), the append-only
:class:`FileAuditSink` (fsync per batch, torn-tail recovery) and :func:`verify`.
:mod:`leadtrace.audit` turns consent events into records and re-exports all of this.

May import: the standard library only. It sits below :mod:`leadtrace.consent` (whose
``verify_audit_log()`` calls :func:`verify`) and the trail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writing process per file
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "AuditReport",
    "AuditSink",
    "FileAuditSink",
    "record_hash",
    "seal_records",
    "verify",
]

_log = logging.getLogger("leadtrace.audit")

GENESIS: Final = "0" * 64
"""``prev`` of the first record of a log."""
FORMAT_VERSION: Final = 1
"""Value of ``v`` in every record."""
_TAIL_READ = 64 * 1024


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex of a record's canonical JSON (sorted keys, no spaces), ``hash`` excluded."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _seal(body: Mapping[str, Any], seq: int, prev: str) -> tuple[bytes, str]:
    record = {**body, "v": FORMAT_VERSION, "seq": seq, "prev": prev}
    digest = record_hash(record)
    record["hash"] = digest
    return _canonical(record) + b"\n", digest


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify`."""

    ok: bool
    """True when every record is intact and chained to the one before it."""
    records: int
    """Number of valid records before the first problem (all of them when ``ok``)."""
    first_bad_line: int | None = None
    """1-based line number of the first broken record; None when ``ok``."""
    reason: str = ""
    """Why that line is broken, e.g. ``hash mismatch (record modified)``."""
    head: str = GENESIS
    """Hash of the last valid record: store it elsewhere to detect cut-off tails."""
    torn: bool = False
    """True when the only problem is a torn last line (a write interrupted by a crash)."""


def _check(line: bytes, expected_prev: str, expected_seq: int) -> tuple[str | None, str]:
    """(problem or None, hash of the record)."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return "not a JSON record", ""
    if not isinstance(record, dict) or not isinstance(record.get("hash"), str):
        return "not an audit record (no hash)", ""
    digest = record_hash(record)
    if digest != record["hash"]:
        return "hash mismatch (record modified)", ""
    if record.get("prev") != expected_prev:
        return (
            "chain broken: prev does not match the previous record "
            "(a record was deleted, inserted or reordered)",
            "",
        )
    if record.get("seq") != expected_seq:
        return f"sequence broken: expected seq {expected_seq}", ""
    return None, digest


def verify(path: str | Path) -> AuditReport:
    """Check the hash chain of a consent audit log, streaming it line by line.

    Args:
        path: the JSON-lines audit file.

    Returns:
        An :class:`AuditReport`; ``first_bad_line`` names the first record that fails.

    Raises:
        OSError: the file cannot be read.
    """
    prev, seq = GENESIS, 1
    with Path(path).open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            complete = raw.endswith(b"\n")
            body = raw.rstrip(b"\r\n")
            problem, digest = _check(body, prev, seq) if body else ("empty line", "")
            if problem is None and complete:
                prev, seq = digest, seq + 1
                continue
            if not complete:  # only the last line can lack its newline
                return AuditReport(
                    ok=False,
                    records=seq - 1,
                    first_bad_line=line_no,
                    reason="torn last line (interrupted write); earlier records are intact",
                    head=prev,
                    torn=True,
                )
            return AuditReport(
                ok=False,
                records=seq - 1,
                first_bad_line=line_no,
                reason=str(problem),
                head=prev,
            )
    return AuditReport(ok=True, records=seq - 1, head=prev)


# --- sinks --------------------------------------------------------------------------------------


def seal_records(
    bodies: Sequence[Mapping[str, Any]], last: Mapping[str, Any] | None
) -> list[bytes]:
    """Chain ``bodies`` after ``last`` (the current last record, None for an empty log).

    Returns one JSON line per body with ``v``, ``seq``, ``prev`` and ``hash`` added. Sinks call
    this while holding whatever lock makes "read the last record, then append" atomic.
    """
    prev = str(last["hash"]) if last else GENESIS
    seq = int(last["seq"]) + 1 if last else 1
    lines: list[bytes] = []
    for body in bodies:
        line, prev = _seal(body, seq, prev)
        lines.append(line)
        seq += 1
    return lines


@runtime_checkable
class AuditSink(Protocol):
    """Where audit records go. Implement it to keep the trail in a database or object store."""

    def append(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Seal ``bodies`` with :func:`seal_records` after the stored last record and store
        them durably before returning; raise on failure (the trail counts and logs it)."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class FileAuditSink:
    """Appends to a JSON-lines file with ``fsync``; recovers a torn last line on open.

    Several processes (e.g. web workers) may share one file: each append holds an exclusive
    ``flock`` while it reads the chain head and writes, so the chain stays linear.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._known_size = -1
        self._last: Mapping[str, Any] | None = None
        self.recovered: tuple[str, int] | None = None
        """(sha256, size in bytes) of a torn tail moved aside on open, if there was one."""
        with self._locked():
            self._recover_torn_tail()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _last_line(self, size: int) -> bytes:
        """Bytes after the last newline before ``size`` (reads backwards in 64 KiB steps)."""
        start = max(0, size - _TAIL_READ)
        chunk = os.pread(self._fd, size - start, start)
        while b"\n" not in chunk and start > 0:
            start = max(0, start - _TAIL_READ)
            chunk = os.pread(self._fd, size - start, start)
        return chunk[chunk.rfind(b"\n") + 1 :]

    def _recover_torn_tail(self) -> None:
        size = os.fstat(self._fd).st_size
        fragment = self._last_line(size) if size else b""
        if not fragment:
            return
        digest = hashlib.sha256(fragment).hexdigest()
        torn_path = self.path.with_name(self.path.name + ".torn")
        with torn_path.open("ab") as fh:
            fh.write(fragment + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.ftruncate(self._fd, size - len(fragment))
        self._write(
            seal_records(
                [
                    {
                        "kind": "recovered_torn_tail",
                        "at": _iso_now(),
                        "torn_sha256": digest,
                        "torn_bytes": len(fragment),
                    }
                ],
                self._read_last(),
            )
        )
        self.recovered = (digest, len(fragment))
        _log.warning(
            "consent audit log %s ended with a torn line (%d bytes, sha256 %s): moved to %s",
            self.path,
            len(fragment),
            digest,
            torn_path,
        )

    def _read_last(self) -> Mapping[str, Any] | None:
        size = os.fstat(self._fd).st_size
        if size != self._known_size:
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                # Another writer crashed mid-line since we last looked.
                self._recover_torn_tail()
                return self._last
            line = self._last_line(size - 1) if size else b""
            record = json.loads(line) if line else None
            self._last = record if isinstance(record, dict) else None
            self._known_size = size
        return self._last

    def _write(self, lines: Sequence[bytes]) -> None:
        data = b"".join(lines)
        before = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError:
            # Leave no partial record behind: the next append must chain to a whole one.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            raise
        self._known_size = before + len(data)
        self._last = json.loads(lines[-1])

    def append(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Chain ``bodies`` after the file's last record, append them and fsync."""
        if not bodies:
            return
        with self._locked():
            self._write(seal_records(bodies, self._read_last()))

    def close(self) -> None:
        """Close the file."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
