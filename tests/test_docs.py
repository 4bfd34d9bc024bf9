"""Every Python block in README.md and docs/ runs as written, as a newcomer would paste it.

A block runs alone in a fresh interpreter, in an empty directory, with no ``OTEL_*`` or
``LEADTRACE_*`` settings from this machine. A block that continues the one before it says so
with ``<!-- fragment -->`` on the line above it: it runs after the blocks it continues, in
the same file.

A block that calls a vendor's cloud API with your credentials (HubSpot, Salesforce, Segment,
RudderStack) says so with ``<!-- vendor-cloud -->``: it cannot run in a closed network, so it
is compiled and every module it imports is imported, which catches renamed modules, classes
and syntax errors. The instrumented calls themselves are covered by the integration tests
against each client's real library and a local server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(
    r"(?:<!-- (?P<marker>fragment|vendor-cloud) -->\n)?```python\n(?P<code>.*?)```", re.DOTALL
)
_CHECK_IMPORTS = """
import ast, importlib, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
    elif isinstance(node, ast.ImportFrom) and node.module:
        module = importlib.import_module(node.module)
        for alias in node.names:
            if not hasattr(module, alias.name):
                importlib.import_module(f"{node.module}.{alias.name}")
"""


@dataclass(frozen=True)
class Snippet:
    """A runnable program made of one doc block and the blocks it continues."""

    doc: str
    line: int
    code: str
    cloud: bool = False
    """True for a ``vendor-cloud`` block: compiled and its imports checked, not run."""


def _snippets() -> list[Snippet]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found: list[Snippet] = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        chain: list[str] = []
        for match in _BLOCK.finditer(text):
            code = textwrap.dedent(match.group("code"))  # a block may sit in a list item
            marker = match.group("marker")
            chain = [*chain, code] if marker == "fragment" else [code]
            line = text.count("\n", 0, match.start("code")) + 1
            where = str(doc.relative_to(ROOT))
            found.append(Snippet(where, line, "\n".join(chain), marker == "vendor-cloud"))
    return found


SNIPPETS = _snippets()


def _run(snippet: Snippet, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    script = workdir / "snippet.py"
    script.write_text(snippet.code, encoding="utf-8")
    command = (
        [sys.executable, "-c", _CHECK_IMPORTS, str(script)]
        if snippet.cloud
        else [sys.executable, str(script)]
    )
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[Snippet, str | None]:
    """Run every snippet (two at a time: they are separate processes) and keep each error."""

    def one(snippet: Snippet) -> str | None:
        try:
            result = _run(snippet, tmp_path_factory.mktemp("snippet"))
        except subprocess.TimeoutExpired:
            return "did not finish within 90 s (a network call? mark it <!-- vendor-cloud -->)"
        return None if result.returncode == 0 else (result.stderr or result.stdout)[-2000:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(SNIPPETS, pool.map(one, SNIPPETS), strict=True))


def test_the_docs_have_python_blocks() -> None:
    """The extractor finds the blocks (a broken pattern would make every check pass)."""
    assert len(SNIPPETS) >= 20
    assert any(s.doc == "README.md" for s in SNIPPETS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"{s.doc}:{s.line}" for s in SNIPPETS])
def test_block_runs_as_written(snippet: Snippet, results: dict[Snippet, str | None]) -> None:
    """The block (with the blocks it continues) exits 0 in a fresh interpreter."""
    error = results[snippet]
    if error is not None:
        pytest.fail(f"{snippet.doc}:{snippet.line} fails when run:\n{error}", pytrace=False)
