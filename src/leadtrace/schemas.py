"""Closed JSON Schemas per event version, and SchemaVer compatibility checks.

Layout of an export (one file per event version, Iglu-style ``self`` block inside)::

    DIR/lead_routed/1-0-0.json

:func:`check` compares the current registry with an exported baseline and says, per event,
which bump each change needs under SchemaVer ``MODEL-REVISION-ADDITION``:

- ADDITION: a new optional field (closed schemas make this safe for all history);
- REVISION: a widened type, a new enum value, a looser constraint, a required field made
  optional;
- MODEL: a removed or renamed field, a new required field, a narrowed type, a tighter
  constraint.

It fails when the declared version bump is smaller than needed, or when a published version
was edited in place (published versions are immutable).

Owns: JSON Schema export and SchemaVer compatibility checks.

May import: ``events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from leadtrace.events import Event, all_events, parse_version

__all__ = [
    "Bump",
    "Change",
    "CheckReport",
    "EventReport",
    "check",
    "export",
    "json_schema",
    "load_baseline",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
VENDOR = "dev.leadtrace"


class Bump(IntEnum):
    """Size of a SchemaVer bump, ordered so that ``max()`` gives the one needed."""

    NONE = 0
    ADDITION = 1
    REVISION = 2
    MODEL = 3

    @classmethod
    def between(cls, old: str, new: str) -> Bump:
        """The bump declared by going from version ``old`` to ``new``."""
        o, n = parse_version(old), parse_version(new)
        if n[0] != o[0]:
            return cls.MODEL
        if n[1] != o[1]:
            return cls.REVISION
        if n[2] != o[2]:
            return cls.ADDITION
        return cls.NONE


def json_schema(cls: type[Event]) -> dict[str, Any]:
    """The closed JSON Schema of one event version, with an Iglu-style ``self`` block."""
    schema = cls.model_json_schema(mode="validation")
    properties = schema.setdefault("properties", {})
    properties["schema_version"] = {
        "const": cls.event_version,
        "description": "SchemaVer of this event model.",
    }
    schema["additionalProperties"] = False
    return {
        "$schema": SCHEMA_DIALECT,
        "self": {
            "vendor": VENDOR,
            "name": cls.event_name,
            "format": "jsonschema",
            "version": cls.event_version,
        },
        "x-leadtrace-layer": cls.event_layer,
        **schema,
    }


def export(directory: str | Path, events: Iterable[type[Event]] | None = None) -> list[Path]:
    """Write every registered event version's schema under ``directory``; returns the paths."""
    root = Path(directory)
    written = []
    for cls in events if events is not None else all_events():
        path = root / cls.event_name / f"{cls.event_version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(json_schema(cls), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def load_baseline(directory: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Read an export: ``{event name: {version: schema}}``.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        ValueError: a file is not JSON or not named ``<version>.json``.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"baseline directory {str(root)!r} does not exist")
    baseline: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(root.glob("*/*.json")):
        try:
            parse_version(path.stem)
        except ValueError as exc:
            raise ValueError(f"{path}: file name must be a SchemaVer version: {exc}") from exc
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
        baseline.setdefault(path.parent.name, {})[path.stem] = schema
    return baseline


# --- structural diff ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """One field path of a flattened schema."""

    required: bool
    types: frozenset[str]
    constraints: Mapping[str, Any]


_CONSTRAINTS_UPPER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_CONSTRAINTS_LOWER = ("minLength", "minimum", "exclusiveMinimum", "minItems")


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"), {})
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs) if "$ref" in target else merged
    return node


def _alternatives(node: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    node = _resolve(node, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            result: list[Mapping[str, Any]] = []
            for option in node[key]:
                result.extend(_alternatives(option, defs))
            return result
    return [node]


def _atoms(option: Mapping[str, Any]) -> set[str]:
    if "const" in option:
        return {f"value:{json.dumps(option['const'], sort_keys=True)}"}
    if "enum" in option:
        return {f"value:{json.dumps(v, sort_keys=True)}" for v in option["enum"]}
    kind = option.get("type")
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if isinstance(kind, str):
        fmt = option.get("format")
        return {f"{kind}:{fmt}" if fmt else kind}
    return {"any"}


def _flatten(schema: Mapping[str, Any]) -> dict[str, _Node]:
    defs = schema.get("$defs", {})
    nodes: dict[str, _Node] = {}

    def walk(obj: Mapping[str, Any], prefix: str, parent_required: bool) -> None:
        required = set(obj.get("required", ()))
        for name, raw in obj.get("properties", {}).items():
            path = f"{prefix}{name}"
            options = _alternatives(raw, defs)
            types: set[str] = set()
            constraints: dict[str, Any] = {}
            for option in options:
                types |= _atoms(option)
                for key in (*_CONSTRAINTS_UPPER, *_CONSTRAINTS_LOWER, "pattern"):
                    if key in option:
                        constraints[key] = option[key]
                if option.get("type") == "object" and "properties" in option:
                    walk(option, f"{path}.", parent_required and name in required)
                items = option.get("items")
                if option.get("type") == "array" and isinstance(items, Mapping):
                    item_types: set[str] = set()
                    for item in _alternatives(items, defs):
                        item_types |= _atoms(item)
                        if item.get("type") == "object" and "properties" in item:
                            walk(item, f"{path}[].", False)
                    nodes[f"{path}[]"] = _Node(True, frozenset(item_types), {})
            nodes[path] = _Node(name in required, frozenset(types), constraints)

    walk(schema, "", True)
    return nodes


def _covers(new: frozenset[str], old: frozenset[str]) -> bool:
    """Whether every value valid under ``old`` types is valid under ``new`` types."""
    if "any" in new:
        return True
    for atom in old:
        if atom in new:
            continue
        if atom == "integer" and "number" in new:
            continue
        if atom.startswith("value:"):
            value = json.loads(atom.removeprefix("value:"))
            kind = {str: "string", bool: "boolean", int: "integer", float: "number"}.get(
                type(value)
            )
            if kind in new or (kind == "integer" and "number" in new):
                continue
            if value is None and "null" in new:
                continue
        if ":" in atom and not atom.startswith("value:") and atom.split(":", 1)[0] in new:
            continue  # a dropped format is a widening
        return False
    return True


def _constraint_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> Bump:
    bump = Bump.NONE
    for key in _CONSTRAINTS_UPPER:
        if key in old or key in new:
            o, n = old.get(key), new.get(key)
            if n is not None and (o is None or n < o):
                return Bump.MODEL
            if o is not None and (n is None or n > o):
                bump = Bump.REVISION
    for key in _CONSTRAINTS_LOWER:
        if key in old or key in new:
            o, n = old.get(key), new.get(key)
            if n is not None and (o is None or n > o):
                return Bump.MODEL
            if o is not None and (n is None or n < o):
                bump = Bump.REVISION
    if old.get("pattern") != new.get("pattern"):
        return Bump.MODEL if new.get("pattern") is not None else max(bump, Bump.REVISION)
    return bump


@dataclass(frozen=True)
class Change:
    """One difference between two versions of an event's schema."""

    field: str
    bump: Bump
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason} (needs {self.bump.name})"


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every change from schema ``old`` to ``new`` with the bump it needs."""
    before, after = _flatten(old), _flatten(new)
    for flat in (before, after):
        flat.pop("schema_version", None)  # its const is the version itself
    changes: list[Change] = []
    for path in sorted(before.keys() - after.keys()):
        changes.append(Change(path, Bump.MODEL, "field removed or renamed"))
    for path in sorted(after.keys() - before.keys()):
        if after[path].required and not path.endswith("[]"):
            changes.append(Change(path, Bump.MODEL, "new required field"))
        else:
            changes.append(Change(path, Bump.ADDITION, "new optional field"))
    for path in sorted(before.keys() & after.keys()):
        o, n = before[path], after[path]
        if not o.required and n.required:
            changes.append(Change(path, Bump.MODEL, "optional field made required"))
        elif o.required and not n.required:
            changes.append(Change(path, Bump.REVISION, "required field made optional"))
        if o.types != n.types:
            if _covers(n.types, o.types):
                changes.append(Change(path, Bump.REVISION, "type widened"))
            else:
                changes.append(Change(path, Bump.MODEL, "type narrowed or changed"))
        constraint = _constraint_change(o.constraints, n.constraints)
        if constraint is Bump.MODEL:
            changes.append(Change(path, Bump.MODEL, "constraint tightened"))
        elif constraint is Bump.REVISION:
            changes.append(Change(path, Bump.REVISION, "constraint loosened"))
    return changes


def _comparable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema without documentation-only keys, for the edited-in-place check."""
    ignored = {"description", "title", "examples"}

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: strip(v) for k, v in value.items() if k not in ignored}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(schema)  # type: ignore[no-any-return]


@dataclass
class EventReport:
    """Outcome of the check for one event version."""

    event: str
    version: str
    baseline_version: str | None
    declared: Bump
    needed: Bump
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether this event version passes."""
        return not self.problems


@dataclass
class CheckReport:
    """Outcome of :func:`check` for every event."""

    events: list[EventReport]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every event passes."""
        return all(e.ok for e in self.events)


def _article(bump: Bump) -> str:
    return f"an {bump.name}" if bump.name[0] in "AEIOU" else f"a {bump.name}"


def _suggest(baseline: str, bump: Bump) -> str:
    model, revision, addition = parse_version(baseline)
    if bump is Bump.MODEL:
        return f"{model + 1}-0-0"
    if bump is Bump.REVISION:
        return f"{model}-{revision + 1}-0"
    return f"{model}-{revision}-{addition + 1}"


def check(
    baseline: Mapping[str, Mapping[str, Mapping[str, Any]]],
    events: Iterable[type[Event]] | None = None,
) -> CheckReport:
    """Compare current event schemas with ``baseline`` (from :func:`load_baseline`)."""
    current = list(events if events is not None else all_events())
    reports: list[EventReport] = []
    for cls in current:
        name, version = cls.event_name, cls.event_version
        schema = json_schema(cls)
        published = baseline.get(name, {})
        if version in published:
            report = EventReport(name, version, version, Bump.NONE, Bump.NONE)
            if _comparable(published[version]) != _comparable(schema):
                report.changes = diff(published[version], schema)
                report.needed = max((c.bump for c in report.changes), default=Bump.ADDITION)
                report.problems.append(
                    f"{name} {version} was published and then edited in place; published "
                    f"versions are immutable: restore it and declare "
                    f"{_suggest(version, report.needed)} for the change"
                )
            reports.append(report)
            continue
        older = [v for v in published if parse_version(v) < parse_version(version)]
        if not older:
            newer = sorted(published, key=parse_version)
            report = EventReport(name, version, None, Bump.NONE, Bump.NONE)
            if newer:
                report.problems.append(
                    f"{name} {version} is older than the published {newer[-1]}: versions "
                    "never go backwards"
                )
            reports.append(report)
            continue
        previous = max(older, key=parse_version)
        changes = diff(published[previous], schema)
        needed = max((c.bump for c in changes), default=Bump.NONE)
        declared = Bump.between(previous, version)
        report = EventReport(name, version, previous, declared, needed, changes)
        if declared < needed:
            worst = next(c for c in changes if c.bump == needed)
            report.problems.append(
                f"{name} {previous} -> {version} declares {_article(declared)} bump but field "
                f"{worst.field!r} ({worst.reason}) needs {needed.name}: declare "
                f"{_suggest(previous, needed)}"
            )
        reports.append(report)
    names = {cls.event_name for cls in current}
    notes = [
        f"{name}: in the baseline but no longer registered (consumers may still send it)"
        for name in sorted(set(baseline) - names)
    ]
    return CheckReport(reports, notes)
