"""The shape of the code: no import circles, and each module names what it may import.

Imports are read from the source with :mod:`ast`: top-level and function-level (deferred)
imports alike are edges; only imports inside an ``if TYPE_CHECKING:`` block are not (they
never run). The package face (``leadtrace/__init__``) is not a node: importing any submodule
runs it first by Python's rules, and it only re-exports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "leadtrace"

# Modules that only read the active handle (from ``_active``) and never the runtime: every
# part below the wiring. The runtime's importers are the public face and the top-level tools.
RUNTIME_IMPORTERS_ALLOWED = {"leadtrace", "leadtrace._describe", "leadtrace._distro"}
RUNTIME_IMPORTERS_ALLOWED_PACKAGES = ("leadtrace.integrations", "leadtrace.testing")


def module_name(path: Path) -> str:
    """Dotted module name of a file under ``src/``."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(sub) for sub in ast.walk(node))
    return skipped


def imports_of(name: str, modules: dict[str, Path] = MODULES) -> set[str]:
    """Modules of the package that ``name`` imports when it runs (deferred imports too)."""
    path = modules[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target not in (name, "leadtrace"):
                found.add(target)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    """The check itself works: a three-module loop and a two-module loop are both reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(circles(graph)) == [["a", "b", "c"], ["d", "e"]]


def test_deferred_imports_count_and_type_checking_imports_do_not(tmp_path: Path) -> None:
    """An import inside a function is an edge; one under ``if TYPE_CHECKING:`` is not."""
    pkg = tmp_path / "leadtrace"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from leadtrace import c\n"
        "def f():\n    from leadtrace.b import g\n"
    )
    (pkg / "b.py").write_text("")
    (pkg / "c.py").write_text("")
    modules = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
        for p in pkg.rglob("*.py")
    }
    assert imports_of("leadtrace.a", modules) == {"leadtrace.b"}


def test_no_import_circle_in_src() -> None:
    """No two modules of the package import each other, directly or through others."""
    graph = {name: imports_of(name) for name in MODULES if name != "leadtrace"}
    assert circles(graph) == []


def test_parts_never_import_the_runtime_back() -> None:
    """Only the public face, top-level tools, integrations and testing import ``_runtime``;
    every other part reads the active handle from ``leadtrace._active``."""
    offenders = sorted(
        name
        for name in MODULES
        if "leadtrace._runtime" in imports_of(name)
        and name not in RUNTIME_IMPORTERS_ALLOWED
        and not name.startswith(RUNTIME_IMPORTERS_ALLOWED_PACKAGES)
    )
    assert offenders == []


def test_the_active_handle_holder_imports_nothing_of_ours() -> None:
    """``_active`` is the bottom of the graph."""
    assert imports_of("leadtrace._active") == set()


TOP_LEVEL = sorted(name for name, path in MODULES.items() if path.parent == PACKAGE)


def _paragraph(doc: str, label: str) -> str:
    match = re.search(rf"^{label}:(.*?)(?:\n\s*\n|\Z)", doc, re.S | re.M)
    return match.group(1) if match else ""


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_each_module_says_what_it_owns_and_may_import(name: str) -> None:
    """The docstring has an ``Owns:`` and a ``May import:`` paragraph, and every module of
    the package it imports at run time is named in the latter."""
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))) or ""
    owns, may = _paragraph(doc, "Owns"), _paragraph(doc, "May import")
    assert owns.strip(), f"{name}: docstring lacks an 'Owns:' paragraph"
    assert may.strip(), f"{name}: docstring lacks a 'May import:' paragraph"
    unnamed = []
    for target in sorted(imports_of(name)):
        short = target.removeprefix("leadtrace.")
        candidates = {short, short.split(".")[0]}
        if not any(re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", may) for c in candidates):
            unnamed.append(short)
    assert unnamed == [], f"{name} imports {unnamed} but its 'May import:' does not name them"
