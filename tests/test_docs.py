"""The documentation builds cleanly and every Python block in it runs.

Each ```python block in docs/*.md and README.md runs on its own, in a fresh interpreter,
and must exit 0 with nothing on stderr (no traceback, no warning, no library log). A block
that is not meant to run (a framework snippet, a signature with `...`) is marked by this
HTML comment, alone on the line right before its fence; it is invisible once rendered:

    <!-- docs-test: no-run -->

Blocks included from examples/ with `--8<--` are skipped here: the examples' own tests
run them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import sincpro_async_worker

from .conftest import ROOT

NO_RUN = "<!-- docs-test: no-run -->"
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marked_no_run: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_snippet(self) -> bool:
        return self.code.lstrip().startswith("--8<--")


def blocks_in(path: Path) -> list[Block]:
    """Every fenced block at the start of a line, with the marker that precedes it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, start = opening["fence"], index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith(fence):
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise AssertionError(f"{path.name}:{start + 1}: code fence is never closed")
        index += 1
        before = lines[start - 1].strip() if start > 0 else ""
        found.append(
            Block(
                path, start + 1, opening["lang"].lower(), "\n".join(body) + "\n", before == NO_RUN
            )
        )
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_in(page)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.lang in ("python", "py") and not b.is_snippet]
RUNNABLE = [b for b in PYTHON_BLOCKS if not b.marked_no_run]


def test_the_site_builds_with_no_warning(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed; install the `docs` extra (make test does)")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").is_file()


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.id)
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    # A file named after the page, so a traceback points at the block.
    script = tmp_path / f"{block.path.stem}_line_{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert result.returncode == 0, f"{block.id} failed:\n{result.stderr}"
    assert result.stderr == "", f"{block.id} wrote to stderr:\n{result.stderr}"


@pytest.mark.parametrize(
    "block", [b for b in RUNNABLE if "assert_type(" in b.code], ids=lambda block: block.id
)
def test_typing_block_type_checks_under_mypy_strict(block: Block, tmp_path: Path) -> None:
    # The page promises what mypy sees; hold it to that, with the project's mypy settings.
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed; install the `test` extra (make test does)")
    script = tmp_path / f"{block.path.stem}_line_{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(script),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_run_markers_are_rare_and_stand_before_python_blocks() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() != NO_RUN:
                continue
            following = FENCE.match(lines[number + 1]) if number + 1 < len(lines) else None
            lang = following["lang"] if following is not None else None
            assert lang in ("python", "py"), (
                f"{page.name}:{number + 1}: {NO_RUN} must stand right before a ```python fence"
            )
    assert len(PYTHON_BLOCKS) - len(RUNNABLE) <= len(RUNNABLE) // 3, "most examples must run"


def test_the_reference_page_documents_every_public_name() -> None:
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: sincpro_async_worker\.(\w+)\s*$", reference, re.M))
    assert documented == set(sincpro_async_worker.__all__)
