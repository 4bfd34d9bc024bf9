"""Reading the embedded journey store: journeys, one journey's timeline, stage health.

Spans come back as :class:`~leadtrace.testing.SpanRecord`, the view the journey assertions and
the health report use, so what a test asserts, what the report counts and what
``leadtrace journeys`` prints agree::

    from leadtrace.store.queries import JourneyStore

    store = JourneyStore(".leadtrace/journeys.db")
    for summary in store.journeys(broken=True):
        print(summary.journey_id, summary.failure.layer, summary.failure.problem)
    store.journey(journey_id).assert_healthy()
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadtrace import semconv
from leadtrace.errors import ConfigError
from leadtrace.quality import Contracts, load_contracts
from leadtrace.store._schema import SCHEMA_VERSION
from leadtrace.testing._journey import Failure, Journey, SpanSource, problem_of
from leadtrace.testing._records import SpanRecord

__all__ = ["JourneyStore", "JourneySummary", "StageHealth"]

_COLUMNS = (
    "name, attributes, trace_id, span_id, parent_span_id, start_ns, end_ns, error, "
    "status_description, service, exceptions"
)


@dataclass(frozen=True)
class JourneySummary:
    """One journey as ``leadtrace journeys`` lists it.

    Attributes:
        journey_id: the journey id.
        started_ns: first span's start (Unix ns).
        last_ns: last span's end (Unix ns).
        stages: stage names that arrived, in order.
        services: services that recorded spans of the journey, in order of first appearance.
        campaign: campaign id, when attributed.
        channel: campaign channel, when attributed.
        synthetic: every stage span is flagged synthetic.
        complete: every stage carried what its data contract requires.
        failure: the first stage with a problem (its layer, stage and why), None if healthy.
    """

    journey_id: str
    started_ns: int
    last_ns: int
    stages: tuple[str, ...]
    services: tuple[str, ...]
    campaign: str | None
    channel: str | None
    synthetic: bool
    complete: bool
    failure: Failure | None

    @property
    def broken(self) -> bool:
        """Whether some stage has a problem."""
        return self.failure is not None


@dataclass(frozen=True)
class StageHealth:
    """Good and total stage spans of one stage, campaign and channel over a time range."""

    stage: str
    campaign: str | None
    channel: str | None
    good: int
    total: int

    @property
    def ratio(self) -> float:
        """Share of good stage spans (1.0 when there were none)."""
        return self.good / self.total if self.total else 1.0


class _Loaded(SpanSource):
    """A fixed list of records, for :class:`~leadtrace.testing.Journey` assertions."""

    def __init__(self, records: list[SpanRecord], contracts: Contracts) -> None:
        self._records = records
        self.contracts = contracts

    def records(self) -> list[SpanRecord]:
        return list(self._records)

    def reset(self) -> None:
        self._records = []


def _record(row: Sequence[Any], sequence: int) -> SpanRecord:
    attributes = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(row[1]).items()}
    return SpanRecord(
        name=row[0],
        attributes=attributes,
        trace_id=row[2],
        span_id=row[3],
        parent_span_id=row[4],
        start_ns=row[5],
        end_ns=row[6],
        error=bool(row[7]),
        status_description=row[8],
        service_name=row[9],
        exceptions=tuple((str(t), str(m)) for t, m in json.loads(row[10])),
        sequence=sequence,
    )


class JourneyStore:
    """Read-only queries over a journey store written by
    :class:`~leadtrace.store.SQLiteSpanExporter`.

    Args:
        path: the store file, e.g. ``.leadtrace/journeys.db``.
        contracts: data contracts for the completeness verdicts; the built-in ones by default.

    Raises:
        ConfigError: there is no store at ``path``, or it was written by another version.
    """

    def __init__(self, path: str | Path, *, contracts: Contracts | None = None) -> None:
        self.path = Path(path)
        self.contracts = contracts or load_contracts(None)
        if not self.path.is_file():
            raise ConfigError(
                f"no journey store at {self.path}: run a service configured without an OTLP "
                "endpoint (it writes <LEADTRACE_LOCAL_DIR>/journeys.db), or pass --db PATH"
            )
        with self._connect() as conn:
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.DatabaseError as exc:
                raise ConfigError(f"{self.path} is not a leadtrace journey store: {exc}") from exc
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has store schema {row[0] if row else 'none'}, this leadtrace "
                f"reads {SCHEMA_VERSION}: delete the file to start a new store"
            )

    def __repr__(self) -> str:
        return f"<JourneyStore {str(self.path)!r}>"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        conn.execute("PRAGMA query_only = 1")
        return conn

    def records(
        self,
        *,
        journey_id: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> list[SpanRecord]:
        """Spans in start order, optionally of one journey and within ``[since, until)``."""
        clauses, params = self._range(since_ns, until_ns)
        if journey_id is not None:
            clauses.append("journey_id = ?")
            params.append(journey_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM spans {where} ORDER BY start_ns, rowid",  # noqa: S608
                params,
            ).fetchall()
        return [_record(row, n) for n, row in enumerate(rows)]

    def timeline(self, journey_id: str) -> list[SpanRecord]:
        """Every span of one journey, from every process, in start order.

        Raises:
            ConfigError: the store has no span of that journey.
        """
        records = self.records(journey_id=journey_id)
        if not records:
            raise ConfigError(f"no journey {journey_id!r} in {self.path}")
        return records

    def journey(self, journey_id: str) -> Journey:
        """The journey with the journey assertions (``assert_healthy()``, ``first_failure()``)."""
        return Journey(_Loaded(self.timeline(journey_id), self.contracts), journey_id)

    def journeys(
        self,
        *,
        since_ns: int | None = None,
        campaign: str | None = None,
        broken: bool | None = None,
        limit: int | None = 100,
    ) -> list[JourneySummary]:
        """Journeys started since ``since_ns``, newest first, with stages and verdicts.

        Args:
            since_ns: only journeys whose first span started at or after this time.
            campaign: only journeys attributed to this campaign id.
            broken: True for broken journeys only, False for healthy ones only.
            limit: at most this many (after the ``broken`` filter); None for all.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if since_ns is not None:
            clauses.append("first_ns >= ?")
            params.append(since_ns)
        if campaign is not None:
            clauses.append("campaign_id = ?")
            params.append(campaign)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT journey_id FROM journeys {where} ORDER BY first_ns DESC",  # noqa: S608
                    params,
                )
            ]
        summaries: list[JourneySummary] = []
        for chunk in _chunks(ids, 200):
            for summary in self._summaries(chunk):
                if broken is None or summary.broken == broken:
                    summaries.append(summary)
                if limit is not None and len(summaries) >= limit:
                    return summaries
        return summaries

    def stage_health(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[StageHealth]:
        """Good/total stage spans per stage, campaign and channel in ``[since, until)``.

        A stage span is good when the journey assertions find no problem with it (no error,
        valid, a successful outcome, its contract's fields present): the same verdict the
        health report and ``assert_healthy()`` use.
        """
        counts: dict[tuple[str, str | None, str | None], list[int]] = defaultdict(lambda: [0, 0])
        for record in self.records(since_ns=since_ns, until_ns=until_ns):
            if record.stage is None:
                continue
            key = (
                record.stage,
                _text(record.attributes.get(semconv.CAMPAIGN_ID)),
                _text(record.attributes.get(semconv.CAMPAIGN_CHANNEL)),
            )
            counts[key][1] += 1
            if problem_of(record, self.contracts) is None:
                counts[key][0] += 1
        return [
            StageHealth(stage, campaign, channel, good, total)
            for (stage, campaign, channel), (good, total) in sorted(
                counts.items(), key=lambda item: tuple(v or "" for v in item[0])
            )
        ]

    def _summaries(self, ids: Sequence[str]) -> list[JourneySummary]:
        marks = ",".join("?" * len(ids))
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT journey_id, {_COLUMNS} FROM spans WHERE journey_id IN ({marks}) "  # noqa: S608
                "ORDER BY start_ns, rowid",
                list(ids),
            ).fetchall()
        by_journey: dict[str, list[SpanRecord]] = defaultdict(list)
        for n, row in enumerate(rows):
            by_journey[row[0]].append(_record(row[1:], n))
        return [self._summary(j, by_journey[j]) for j in ids if by_journey.get(j)]

    def _summary(self, journey_id: str, records: list[SpanRecord]) -> JourneySummary:
        stages = [r for r in records if r.stage is not None]
        failure = None
        for record in stages:
            failure = problem_of(record, self.contracts)
            if failure is not None:
                break
        services = tuple(dict.fromkeys(r.service_name for r in records))
        return JourneySummary(
            journey_id=journey_id,
            started_ns=records[0].start_ns,
            last_ns=max(r.end_ns for r in records),
            stages=tuple(r.stage for r in stages if r.stage is not None),
            services=services,
            campaign=_first(records, semconv.CAMPAIGN_ID),
            channel=_first(records, semconv.CAMPAIGN_CHANNEL),
            synthetic=bool(stages)
            and all(r.attributes.get(semconv.JOURNEY_SYNTHETIC) for r in stages),
            complete=all(r.attributes.get(semconv.QUALITY_COMPLETE) is not False for r in stages),
            failure=failure,
        )

    @staticmethod
    def _range(since_ns: int | None, until_ns: int | None) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if since_ns is not None:
            clauses.append("start_ns >= ?")
            params.append(since_ns)
        if until_ns is not None:
            clauses.append("start_ns < ?")
            params.append(until_ns)
        return clauses, params


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _first(records: Iterable[SpanRecord], key: str) -> str | None:
    for record in records:
        value = _text(record.attributes.get(key))
        if value:
            return value
    return None


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
