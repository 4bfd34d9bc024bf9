"""JSON Schema export and the SchemaVer compatibility check, through the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pytest
from click.testing import CliRunner
from pydantic import Field

from leadtrace import events, schemas
from leadtrace._cli import cli
from leadtrace.events import Event, Layer
from leadtrace.schemas import Bump


def _event(version: str, **fields: object) -> type[Event]:
    """A throwaway 'demo_booked' event model with the given fields."""
    namespace: dict[str, object] = {
        "__annotations__": {
            "event_name": ClassVar[str],
            "event_layer": ClassVar[Layer],
            "event_version": ClassVar[str],
        },
        "event_name": "demo_booked",
        "event_layer": "sales",
        "event_version": version,
    }
    for name, (annotation, default) in fields.items():  # type: ignore[misc]
        namespace["__annotations__"][name] = annotation  # type: ignore[index]
        if default is not ...:
            namespace[name] = default
    return type(f"DemoBooked_{version.replace('-', '_')}", (Event,), namespace)


BASE = {"meeting_id": (str, ...), "slot": (str | None, None), "seats": (int, 1)}


@pytest.fixture
def baseline(tmp_path: Path) -> Iterator[Path]:
    """An exported baseline holding demo_booked 1-0-0."""
    schemas.export(tmp_path, [_event("1-0-0", **BASE)])
    return tmp_path


def _check(baseline: Path, cls: type[Event]) -> schemas.EventReport:
    return schemas.check(schemas.load_baseline(baseline), [cls]).events[0]


def test_export_writes_closed_schema_per_version(tmp_path: Path) -> None:
    """Every canonical event exports a closed schema with its SchemaVer self block."""
    paths = schemas.export(tmp_path)
    assert len(paths) >= 12
    doc = json.loads((tmp_path / "lead_routed" / "1-0-0.json").read_text())
    assert doc["self"] == {
        "vendor": "dev.leadtrace",
        "name": "lead_routed",
        "format": "jsonschema",
        "version": "1-0-0",
    }
    assert doc["additionalProperties"] is False
    assert doc["$defs"]["Campaign"]["additionalProperties"] is False
    assert {"lead_id", "routing_rule_id"} <= set(doc["required"])
    assert doc["properties"]["schema_version"] == {
        "const": "1-0-0",
        "description": "SchemaVer of this event model.",
    }


def test_unchanged_schema_passes(baseline: Path) -> None:
    """The same model at the same version passes."""
    assert _check(baseline, _event("1-0-0", **BASE)).ok


@pytest.mark.parametrize(
    ("fields", "needed", "reason"),
    [
        ({**BASE, "room": (str | None, None)}, Bump.ADDITION, "new optional field"),
        ({**BASE, "seats": (float, 1.0)}, Bump.REVISION, "type widened"),
        ({**BASE, "slot": (str, ...)}, Bump.MODEL, "optional field made required"),
        ({k: v for k, v in BASE.items() if k != "slot"}, Bump.MODEL, "field removed or renamed"),
        ({**BASE, "host": (str, ...)}, Bump.MODEL, "new required field"),
        ({**BASE, "seats": (str, "1")}, Bump.MODEL, "type narrowed or changed"),
        (
            {**BASE, "slot": (Annotated[str | None, Field(max_length=5)], None)},
            Bump.MODEL,
            "constraint tightened",
        ),
        (
            {**BASE, "slot": (Literal["am", "pm"] | None, None)},
            Bump.MODEL,
            "type narrowed or changed",
        ),
    ],
)
def test_needed_bump_is_computed(
    baseline: Path, fields: dict[str, object], needed: Bump, reason: str
) -> None:
    """Each kind of change needs the SchemaVer bump documented in the module."""
    report = _check(baseline, _event("9-0-0", **fields))
    assert report.needed == needed
    assert any(c.reason == reason for c in report.changes), report.changes


def test_too_small_bump_fails_naming_event_field_and_fix(baseline: Path) -> None:
    """A new required field declared as an ADDITION fails with the version to declare."""
    report = _check(baseline, _event("1-0-1", **BASE, host=(str, ...)))
    assert not report.ok
    assert report.problems == [
        "demo_booked 1-0-0 -> 1-0-1 declares an ADDITION bump but field 'host' "
        "(new required field) needs MODEL: declare 2-0-0"
    ]


def test_bigger_bump_than_needed_passes(baseline: Path) -> None:
    """Declaring a REVISION for an ADDITION is allowed."""
    assert _check(baseline, _event("1-1-0", **BASE, room=(str | None, None))).ok


def test_edit_in_place_of_published_version_fails(baseline: Path) -> None:
    """Changing a published version without a bump is refused as an in-place edit."""
    report = _check(baseline, _event("1-0-0", **BASE, room=(str | None, None)))
    assert not report.ok
    assert "edited in place" in report.problems[0]
    assert "1-0-1" in report.problems[0]


def test_cli_export_and_check_pass_on_unchanged_registry(tmp_path: Path) -> None:
    """`leadtrace schema export` then `check` against it exits 0."""
    runner = CliRunner()
    exported = runner.invoke(cli, ["schema", "export", str(tmp_path)])
    assert exported.exit_code == 0, exported.output
    assert "exported" in exported.output
    checked = runner.invoke(cli, ["schema", "check", "--baseline", str(tmp_path)])
    assert checked.exit_code == 0, checked.output
    assert "0 failed" in checked.output


def test_cli_check_fails_on_in_place_edit(tmp_path: Path) -> None:
    """A baseline whose lead_routed lost a field makes `schema check` exit 1 naming it."""
    schemas.export(tmp_path)
    path = tmp_path / "lead_routed" / "1-0-0.json"
    doc = json.loads(path.read_text())
    doc["properties"]["legacy_code"] = {"type": "string"}
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(cli, ["schema", "check", "--baseline", str(tmp_path)])
    assert result.exit_code == 1
    assert "lead_routed 1-0-0 was published and then edited in place" in result.output
    assert "legacy_code: field removed or renamed (needs MODEL)" in result.output


def test_cli_check_missing_baseline_is_a_usage_error(tmp_path: Path) -> None:
    """A baseline directory that does not exist exits 2 with a message."""
    result = CliRunner().invoke(cli, ["schema", "check", "--baseline", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_user_event_registered_by_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--import loads the user's module so its events are exported too."""
    (tmp_path / "myevents.py").write_text(
        "from typing import ClassVar\n"
        "from leadtrace.events import Event, register\n"
        "@register\n"
        "class Webinar(Event):\n"
        "    event_name: ClassVar[str] = 'webinar_joined'\n"
        "    webinar_id: str\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    try:
        result = CliRunner().invoke(cli, ["schema", "export", str(out), "--import", "myevents"])
        assert result.exit_code == 0, result.output
        assert (out / "webinar_joined" / "1-0-0.json").is_file()
    finally:
        events.unregister("webinar_joined")
