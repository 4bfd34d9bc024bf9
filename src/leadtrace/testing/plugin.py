"""The leadtrace pytest plugin (entry point ``pytest11``): loaded by installing leadtrace.

Fixtures:
    leadtrace_capture: an in-memory, deterministic leadtrace setup, active for one test.
    leadtrace_receiver: an OTLP/HTTP receiver on 127.0.0.1, stopped after the test.

Settings (``[tool.pytest.ini_options]`` or ``pytest.ini``):
    leadtrace_contracts: contracts YAML used by the capture and the receiver (relative to
        the rootdir); ``LEADTRACE_CONTRACTS`` in the environment is used when unset.
    leadtrace_validation: ``strict`` (default) or ``lenient`` for the capture.

Importing this module is cheap: leadtrace itself is imported only when a fixture is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from leadtrace.testing import Capture, OTLPReceiver

__all__ = ["leadtrace_capture", "leadtrace_receiver", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's ini settings."""
    parser.addini(
        "leadtrace_contracts",
        "leadtrace: contracts YAML for journey assertions (default: LEADTRACE_CONTRACTS or "
        "the built-in contracts)",
        default="",
    )
    parser.addini(
        "leadtrace_validation",
        "leadtrace: validation mode of leadtrace_capture, strict or lenient",
        default="strict",
    )


def _contracts(config: pytest.Config) -> str | None:
    configured = str(config.getini("leadtrace_contracts") or "")
    if configured:
        return str(Path(config.rootpath, configured))
    return os.environ.get("LEADTRACE_CONTRACTS") or None


@pytest.fixture
def leadtrace_capture(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """A local in-memory leadtrace setup with deterministic ids and clock, active for the test.

    Ids, clock and the synthetic-identity series are reset when the test ends.
    """
    from leadtrace.testing import Capture, reset_synthetic_identities

    capture = Capture(
        contracts=_contracts(request.config),
        validation=str(request.config.getini("leadtrace_validation") or "strict"),
    )
    reset_synthetic_identities()
    try:
        with capture:
            yield capture
    finally:
        reset_synthetic_identities()


@pytest.fixture
def leadtrace_receiver(request: pytest.FixtureRequest) -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on 127.0.0.1 (random port), stopped when the test ends."""
    from leadtrace.testing import OTLPReceiver

    with OTLPReceiver(contracts=_contracts(request.config)) as receiver:
        yield receiver
