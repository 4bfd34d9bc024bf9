"""The ``leadtrace`` command as a user runs it: a real subprocess from their project directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import leadtrace
from leadtrace._cli import cli
from leadtrace.consent import ConsentState

_EVENTS_MODULE = (
    "from typing import ClassVar\n"
    "from leadtrace.events import Event, register\n"
    "@register\n"
    "class Webinar(Event):\n"
    "    event_name: ClassVar[str] = 'webinar_joined'\n"
    "    webinar_id: str\n"
)


def _leadtrace(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (unlike ``python -m``, it does not add the cwd)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = Path(sys.executable).parent / "leadtrace"
    return subprocess.run(
        [str(script), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_schema_export_imports_from_the_project_directory(tmp_path: Path) -> None:
    """`--import myapp.events` works from the project root without PYTHONPATH, as in pytest."""
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "events.py").write_text(_EVENTS_MODULE)

    result = _leadtrace("schema", "export", "out", "--import", "myapp.events", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "webinar_joined" / "1-0-0.json").is_file()


def test_schema_export_names_where_it_looked_when_the_import_fails(tmp_path: Path) -> None:
    """A module that is not there exits 2 and says the current directory was searched."""
    result = _leadtrace("schema", "export", "out", "--import", "nowhere.events", cwd=tmp_path)

    assert result.returncode == 2
    assert "cannot import 'nowhere.events'" in result.stderr
    assert str(tmp_path) in result.stderr.replace("\n", "")


def test_consent_verify_counts_one_record_in_the_singular(tmp_path: Path) -> None:
    """A log with one record reads "1 record", not "1 records"."""
    path = tmp_path / "audit.jsonl"
    handle = leadtrace.configure(
        service_name="web", local=True, environ={}, consent_audit_log=str(path)
    )
    with handle.activate(), leadtrace.journey():
        leadtrace.emit("consent_captured", consent=ConsentState(status="granted"))
    handle.shutdown()

    result = CliRunner().invoke(cli, ["consent", "verify", str(path)])

    assert result.exit_code == 0, result.output
    assert ", 1 record, head " in result.output
