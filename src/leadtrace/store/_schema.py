"""The journey store's SQLite schema: one row per span, one per journey, and their indexes."""

from __future__ import annotations

from typing import Final

__all__ = ["SCHEMA", "SCHEMA_VERSION"]

SCHEMA_VERSION: Final = 1
"""Bumped when the tables change; a store with another version is refused, not migrated."""

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    journey_id TEXT,
    event_name TEXT,
    stage TEXT,
    campaign_id TEXT,
    channel TEXT,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    error INTEGER NOT NULL,
    status_description TEXT NOT NULL,
    attributes TEXT NOT NULL,
    exceptions TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_by_journey ON spans (journey_id, start_ns);
CREATE INDEX IF NOT EXISTS spans_by_event ON spans (event_name, start_ns);
CREATE INDEX IF NOT EXISTS spans_by_campaign ON spans (campaign_id, start_ns);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);
CREATE TABLE IF NOT EXISTS journeys (
    journey_id TEXT PRIMARY KEY,
    first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    campaign_id TEXT,
    channel TEXT
);
CREATE INDEX IF NOT EXISTS journeys_by_first ON journeys (first_ns);
CREATE INDEX IF NOT EXISTS journeys_by_last ON journeys (last_ns);
CREATE INDEX IF NOT EXISTS journeys_by_campaign ON journeys (campaign_id, first_ns);
"""
"""Idempotent DDL run by every writer when it opens the store (writes schema version 1)."""

assert f"'schema_version', '{SCHEMA_VERSION}'" in SCHEMA, "bump the version in the DDL too"
