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
import textwrap
from dataclasses import dataclass
from html.parser import HTMLParser
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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for this module's tests with `mkdocs build --strict`."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed; install the `docs` extra (make test does)")
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site_dir


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


class _Reference(HTMLParser):
    """What mkdocstrings rendered: each object's heading id, signatures, labels, prose."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []  # object headings, in page order
        self.signatures: dict[str, list[str]] = {}  # heading id -> signature texts
        self.labels: dict[str, list[str]] = {}  # heading id -> labels (async, property...)
        self.has_prose: set[str] = set()  # heading ids followed by a paragraph
        self._capture: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        classes = (names.get("class") or "").split()
        if self._capture is not None:
            self._depth += tag == "div"
        elif tag in ("h2", "h3", "h4", "h5") and "doc-heading" in classes and names.get("id"):
            self.ids.append(names["id"] or "")
        elif self.ids and tag == "div" and "doc-signature" in classes:
            self._capture, self._depth = [], 1
            self.signatures.setdefault(self.ids[-1], []).append("")
        elif self.ids and tag == "small" and "doc-label" in classes:
            self.labels.setdefault(self.ids[-1], []).extend(classes)
        elif self.ids and tag == "p":
            self.has_prose.add(self.ids[-1])

    def handle_endtag(self, tag: str) -> None:
        if self._capture is not None and tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self.signatures[self.ids[-1]][-1] = "".join(self._capture)
                self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._capture.append(data)


@pytest.fixture(scope="module")
def reference(site: Path) -> _Reference:
    parsed = _Reference()
    parsed.feed((site / "reference" / "index.html").read_text(encoding="utf-8"))
    return parsed


class TestTheBuiltSite:
    """What a reader of the built site sees; one `mkdocs build` serves every test here.

    `make test-matrix` deselects the class: on older interpreters the docs plugins
    resolve to releases that do not work together (mkdocstrings fails on 3.10).
    """

    def test_the_site_builds_with_no_warning(self, site: Path) -> None:
        assert (site / "index.html").is_file()

    def test_the_reference_lists_exactly_the_public_names(self, reference: _Reference) -> None:
        prefix = "sincpro_async_worker."
        top_level = [i.removeprefix(prefix) for i in reference.ids if i.count(".") == 1]
        assert sorted(top_level) == sorted(sincpro_async_worker.__all__)
        assert all(i.startswith(prefix) for i in reference.ids), reference.ids

    def test_the_reference_shows_each_public_name_with_its_docstring(
        self, reference: _Reference
    ) -> None:
        undocumented = [
            name
            for name in sincpro_async_worker.__all__
            if f"sincpro_async_worker.{name}" not in reference.has_prose
        ]
        assert undocumented == []

    def test_the_reference_shows_nothing_private(self, reference: _Reference) -> None:
        private = re.compile(r"(?<![\w.])_[A-Za-z]\w*")
        assert [i for i in reference.ids if "._" in i] == []
        shown = {
            i: s for i, texts in reference.signatures.items() for s in texts if private.search(s)
        }
        assert shown == {}, "a signature names a private object"

    def test_the_reference_shows_one_signature_per_callable(self, reference: _Reference) -> None:
        # Overloads would each add a signature; only the implementation's is shown.
        repeated = {i: len(texts) for i, texts in reference.signatures.items() if len(texts) > 1}
        assert repeated == {}
        for name in ("run_async_task", "sync_bridge", "fire_and_forget"):
            assert len(reference.signatures[f"sincpro_async_worker.{name}"]) == 1

    def test_the_reference_labels_nothing_async(self, reference: _Reference) -> None:
        # The public API is synchronous; a bridged `async def` is a sync callable.
        assert {i: ls for i, ls in reference.labels.items() if "doc-label-async" in ls} == {}


def test_bridged_functions_are_documented_as_the_sync_callables_they_are(
    tmp_path: Path,
) -> None:
    # The griffe extension behind the reference, on a module that uses every decorator form.
    griffe = pytest.importorskip("griffe", reason="install the `docs` extra (make test does)")
    (tmp_path / "sample.py").write_text(
        textwrap.dedent(
            """
            from collections.abc import AsyncIterator
            from sincpro_async_worker import fire_and_forget, sync_bridge
            import sincpro_async_worker as saw

            @sync_bridge
            async def fetch(url: str) -> bytes: ...

            @saw.sync_bridge(timeout=5)
            async def lines(path: str) -> AsyncIterator[list[str]]:
                yield []

            @fire_and_forget
            async def audit(event: str) -> int: ...

            async def plain() -> int: ...

            class _Unset: ...

            def configure(*, limit: int | _Unset | None = None) -> None: ...
            """
        ),
        encoding="utf-8",
    )
    extension = griffe.load_extensions(str(DOCS / "hooks" / "griffe_bridges.py"))
    module = griffe.load("sample", search_paths=[tmp_path], extensions=extension)
    shown = {
        name: ("async" in module[name].labels, str(module[name].returns))
        for name in ("fetch", "lines", "audit", "plain")
    }
    assert shown == {
        "fetch": (False, "bytes"),
        "lines": (False, "Iterator[list[str]]"),
        "audit": (False, "concurrent.futures.Future[int]"),
        "plain": (True, "int"),
    }
    assert str(module["configure"].parameters["limit"].annotation) == "int | None"
