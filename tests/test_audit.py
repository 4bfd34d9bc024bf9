"""Consent audit trail: hash-chained JSON lines, tamper detection, crash recovery, the CLI."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import leadtrace
from _metrics import counter_points
from leadtrace._cli import cli
from leadtrace._runtime import Leadtrace
from leadtrace.audit import (
    GENESIS,
    ConsentAuditTrail,
    FileAuditSink,
    record_hash,
    verify,
)
from leadtrace.consent import ConsentState, verify_audit_log
from leadtrace.errors import ConfigError

GRANTED = ConsentState(status="granted", purposes=frozenset({"analytics"}), source="banner")


def _write_log(path: Path, count: int = 5, **configure: Any) -> Leadtrace:
    """Emit ``count`` consent_captured events through a handle writing to ``path``."""
    h = leadtrace.configure(
        service_name="landing-web",
        local=True,
        environ={},
        consent_audit_log=str(path),
        **configure,
    )
    with h.activate():
        who = leadtrace.identity(email="ada@example.com", contact_id="C-1")
        with leadtrace.journey(identity=who):
            for i in range(count):
                status = "granted" if i % 2 == 0 else "withdrawn"
                leadtrace.emit("consent_captured", consent=GRANTED.replace(status=status))
            leadtrace.emit("form_submitted", form_id="demo")
    h.shutdown()
    return h


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A five-record consent audit log written through configure()."""
    path = tmp_path / "consent-audit.jsonl"
    _write_log(path)
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_every_consent_captured_event_becomes_one_chained_record(log: Path) -> None:
    """Five consent events give five records, each chained to the one before it."""
    records = [json.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(records):
        assert after["prev"] == before["hash"]
    for record in records:
        assert record["hash"] == record_hash(record)
    assert [r["consent"]["status"] for r in records] == [
        "granted", "withdrawn", "granted", "withdrawn", "granted"
    ]  # fmt: skip


def test_records_hold_hashed_identity_and_never_raw_values(log: Path) -> None:
    """A record carries the e-mail hash and journey id; the raw e-mail is nowhere in the file."""
    record = json.loads(_lines(log)[0])
    assert (
        record["identity"]["email_hash"] == leadtrace.identity(email="ada@example.com").email_hash
    )
    assert record["identity"]["contact_id"] == "C-1"
    assert record["service"] == "landing-web"
    assert len(record["journey_id"]) == 32
    assert b"ada@example.com" not in log.read_bytes()


def test_intact_log_verifies(log: Path) -> None:
    """verify() reports an intact log with its record count and head hash."""
    report = verify_audit_log(log)
    assert (report.ok, report.records, report.first_bad_line) == (True, 5, None)
    assert report.head == json.loads(_lines(log)[-1])["hash"]


def test_modified_record_is_detected_at_its_line(log: Path) -> None:
    """Changing a withdrawal into a grant breaks record 2's own hash."""
    lines = _lines(log)
    lines[1] = lines[1].replace(b'"withdrawn"', b'"granted"')
    log.write_bytes(b"".join(lines))
    report = verify(log)
    assert (report.ok, report.first_bad_line, report.records) == (False, 2, 1)
    assert "modified" in report.reason


def test_modified_record_with_a_recomputed_hash_is_detected_at_the_next_line(log: Path) -> None:
    """Rewriting a record and its own hash still breaks the chain at the following record."""
    lines = _lines(log)
    record = json.loads(lines[1])
    record["consent"]["status"] = "granted"
    record["hash"] = record_hash(record)
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    report = verify(log)
    assert (report.ok, report.first_bad_line) == (False, 3)
    assert "chain broken" in report.reason


def test_deleted_record_is_detected(log: Path) -> None:
    """Deleting record 3 breaks the chain where record 4 now sits (line 3)."""
    lines = _lines(log)
    del lines[2]
    log.write_bytes(b"".join(lines))
    report = verify(log)
    assert (report.ok, report.first_bad_line, report.records) == (False, 3, 2)


def test_reordered_records_are_detected(log: Path) -> None:
    """Swapping records 2 and 3 breaks the chain at line 2."""
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_bytes(b"".join(lines))
    report = verify(log)
    assert (report.ok, report.first_bad_line) == (False, 2)


def test_torn_last_line_is_reported_and_earlier_records_stay_valid(log: Path) -> None:
    """A half-written last record is reported as torn; the five records before it count."""
    with log.open("ab") as fh:
        fh.write(b'{"at":"2026-03-02T10:00:00.000Z","consent":{"sta')
    report = verify(log)
    assert (report.ok, report.torn, report.first_bad_line, report.records) == (False, True, 6, 5)
    assert "torn" in report.reason


def test_writer_moves_a_torn_tail_aside_and_records_the_recovery(log: Path) -> None:
    """Reopening a torn log moves the fragment to .torn, chains a recovery record, and goes on."""
    fragment = b'{"at":"2026-03-02T10:00:00.000Z","consent":{"sta'
    with log.open("ab") as fh:
        fh.write(fragment)
    _write_log(log, count=2)
    report = verify(log)
    assert (report.ok, report.records) == (True, 8)
    recovery = json.loads(_lines(log)[5])
    assert recovery["kind"] == "recovered_torn_tail"
    assert recovery["torn_bytes"] == len(fragment)
    assert log.with_name(log.name + ".torn").read_bytes() == fragment + b"\n"


def test_cli_verify_exits_zero_on_an_intact_log(log: Path) -> None:
    """`leadtrace consent verify FILE` prints ok and the record count, exit code 0."""
    result = CliRunner().invoke(cli, ["consent", "verify", str(log)])
    assert result.exit_code == 0, result.output
    assert "ok, 5 records" in result.output


def test_cli_verify_exits_one_with_the_broken_line_number(log: Path) -> None:
    """A tampered log makes the command exit 1 and name the first broken line."""
    lines = _lines(log)
    lines[2] = lines[2].replace(b'"granted"', b'"denied"', 1)
    log.write_bytes(b"".join(lines))
    result = CliRunner().invoke(cli, ["consent", "verify", str(log)])
    assert result.exit_code == 1
    assert f"{log}:3: broken" in result.output


def test_cli_verify_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    """A path that does not exist exits 2 (usage error)."""
    result = CliRunner().invoke(cli, ["consent", "verify", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2


def test_unwritable_audit_path_fails_at_setup(tmp_path: Path) -> None:
    """configure() raises ConfigError naming the setting when the log cannot be opened."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="consent_audit_log"):
        leadtrace.configure(
            service_name="x", local=True, environ={}, consent_audit_log=str(blocker / "a.jsonl")
        )


def test_local_handles_write_no_audit_log_unless_asked(tmp_path: Path) -> None:
    """configure(local=True) without the setting installs no trail; 'off' disables it."""
    for value in (None, "off"):
        h = leadtrace.configure(
            service_name="x", local=True, environ={}, consent_audit_log=value,
            local_dir=str(tmp_path),
        )  # fmt: skip
        assert not [hook for hook in h.event_hooks if isinstance(hook, ConsentAuditTrail)]
        h.shutdown()
    assert list(tmp_path.iterdir()) == []


class _BrokenSink:
    """A pluggable sink whose storage is down: every append raises."""

    def __init__(self) -> None:
        self.calls = 0

    def append(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        self.calls += 1
        raise OSError("disk full")

    def close(self) -> None:
        """Nothing to release."""


def test_write_failures_are_counted_and_never_raised(
    lenient: Leadtrace, metric_reader: InMemoryMetricReader
) -> None:
    """A sink that fails is retried, then its records are counted as lost; emit() goes on."""
    sink = _BrokenSink()
    trail = ConsentAuditTrail(sink, lenient.meter, retries=2)
    lenient.on_event(trail)
    leadtrace.emit("consent_captured", consent=GRANTED)
    assert trail.flush(5)
    trail.close()
    assert sink.calls == 2
    assert counter_points(metric_reader, "leadtrace.consent.audit.failures") == {
        (("error.type", "write_error"),): 1
    }


def test_full_queue_drops_are_counted(
    lenient: Leadtrace, metric_reader: InMemoryMetricReader, tmp_path: Path
) -> None:
    """With a one-slot queue and the writer stopped, extra records are dropped and counted."""
    trail = ConsentAuditTrail(FileAuditSink(tmp_path / "a.jsonl"), lenient.meter, max_queue=1)
    trail._thread = object()  # type: ignore[assignment]  # keep the writer from starting
    lenient.on_event(trail)
    for _ in range(3):
        leadtrace.emit("consent_captured", consent=GRANTED)
    assert counter_points(metric_reader, "leadtrace.consent.audit.failures") == {
        (("error.type", "queue_full"),): 2
    }


def test_shared_file_from_two_writers_stays_one_chain(tmp_path: Path) -> None:
    """Two sinks on one file (two worker processes) interleave without breaking the chain."""
    path = tmp_path / "shared.jsonl"
    first, second = FileAuditSink(path), FileAuditSink(path)
    for i in range(6):
        (first if i % 2 else second).append([{"kind": "consent_captured", "n": i}])
    first.close()
    second.close()
    report = verify(path)
    assert (report.ok, report.records) == (True, 6)


def test_a_consent_stage_that_raises_writes_no_record(tmp_path: Path) -> None:
    """A consent_captured @stage that raises captured no consent: the log holds only the
    stage that returned."""
    path = tmp_path / "consent-audit.jsonl"

    @leadtrace.stage("consent_captured", result=lambda given: {"consent": given})
    def capture(consent: ConsentState, fail: bool = False) -> ConsentState:
        if fail:
            raise ConnectionError("consent platform unreachable")
        return consent

    h = leadtrace.configure(
        service_name="landing-web", local=True, environ={}, consent_audit_log=str(path)
    )
    with h.activate(), leadtrace.journey():
        with pytest.raises(ConnectionError):
            capture(GRANTED.replace(status="withdrawn"), fail=True)
        capture(GRANTED)
    h.shutdown()
    records = [json.loads(line) for line in _lines(path)]
    assert [r["consent"]["status"] for r in records] == ["granted"]
