"""Every Python block in README.md and docs/ runs as written, as a newcomer would paste it.

A block runs alone in a fresh interpreter, in an empty directory, with no ``OTEL_*`` or
``LEADTRACE_*`` settings from this machine. A block that continues the one before it says so
with ``<!-- fragment -->`` on the line above it: it runs after the blocks it continues, in
the same file. Nothing else is exempt.
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
_BLOCK = re.compile(r"(?P<marker><!-- fragment -->\n)?```python\n(?P<code>.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    """A runnable program made of one doc block and the blocks it continues."""

    doc: str
    line: int
    code: str


def _snippets() -> list[Snippet]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found: list[Snippet] = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        chain: list[str] = []
        for match in _BLOCK.finditer(text):
            code = textwrap.dedent(match.group("code"))  # a block may sit in a list item
            chain = [*chain, code] if match.group("marker") else [code]
            line = text.count("\n", 0, match.start("code")) + 1
            found.append(Snippet(str(doc.relative_to(ROOT)), line, "\n".join(chain)))
    return found


SNIPPETS = _snippets()


def _run(snippet: Snippet, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LEADTRACE_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    script = workdir / "snippet.py"
    script.write_text(snippet.code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[Snippet, str | None]:
    """Run every snippet (two at a time: they are separate processes) and keep each error."""

    def one(snippet: Snippet) -> str | None:
        result = _run(snippet, tmp_path_factory.mktemp("snippet"))
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
