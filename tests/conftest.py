"""Shared fixtures: a local (non-global) leadtrace handle with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from _handles import active_handle
from leadtrace._runtime import Leadtrace


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """An in-memory metric reader for the handle under test."""
    return InMemoryMetricReader()


@pytest.fixture
def handle(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local strict-mode handle, active for the test; spans stay in memory."""
    yield from active_handle(metric_reader)


@pytest.fixture
def lenient(metric_reader: InMemoryMetricReader) -> Iterator[Leadtrace]:
    """A local lenient-mode handle (as in production), active for the test."""
    yield from active_handle(metric_reader, validation="lenient")


_CHECKOUT_STORE = Path(__file__).resolve().parent.parent / ".leadtrace"
_BEFORE = pytest.StashKey[set[Path]]()


def _store_files() -> set[Path]:
    return set(_CHECKOUT_STORE.rglob("*")) if _CHECKOUT_STORE.exists() else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remember what the checkout's own ``.leadtrace/`` holds before any test runs."""
    session.config.stash[_BEFORE] = _store_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test wrote into the checkout's ``.leadtrace/`` (tests use tmp dirs)."""
    written = sorted(_store_files() - session.config.stash.get(_BEFORE, set()))
    if written:
        names = ", ".join(str(p.relative_to(_CHECKOUT_STORE.parent)) for p in written)
        session.config.get_terminal_writer().line(
            f"tests wrote into the checkout: {names}; give them a temporary directory", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
