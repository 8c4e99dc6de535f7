"""The release files hold what they promise: built here, opened and checked.

`make dist` builds the sdist and the wheel an upload to the package index carries. These
tests build the same two files, offline and without build isolation (the `dist` extra
brings the backend), from a copy of the source tree, so that build output left in a
checkout cannot stand in for a file the manifest forgot. Then they check what users and
downstream packagers rely on: the licence in both files; the package and its `py.typed` in
the wheel, and nothing else; the project URLs and licence in the metadata; and in the sdist
the complete test suite with everything it reads, a part of which is run from the unpacked
sdist. The README is also the project's page on the index, so its links must be absolute.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.timeout(240)

NAME = "sincpro_async_worker"
VERSION = "1.0.0"
SITE = "https://sincpro-srl.github.io/sincpro_async_worker/"
REPO = "https://github.com/Sincpro-SRL/sincpro_async_worker"
URLS = {
    "Source": REPO,
    "Documentation": SITE,
    "Changelog": f"{REPO}/blob/main/CHANGELOG.md",
    "Issues": f"{REPO}/issues",
}
# The test suite and what it reads besides itself: the docs pages and site config it
# builds and runs, the examples it runs, the benchmark suite it smoke-tests.
SUITE_TREES = ("tests", "examples", "docs", "benchmarks")
SUITE_FILES = ("pyproject.toml", "README.md", "mkdocs.yml", "LICENSE", "CHANGELOG.md")
# Run from the unpacked sdist: the shared conftest, a subfolder with its own support
# module, an example, and a test that reads docs/. A few seconds, not the whole suite.
SMOKE = (
    "tests/test_public_api.py",
    "tests/reliability/test_bad_input.py",
    "tests/test_examples.py",
    "tests/test_decorators.py",
)
# Local state at the top of a checkout that no source release contains.
NOT_SOURCE = {".git", "build", "dist", "site", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
NOT_SOURCE_ANYWHERE = {"__pycache__", ".hypothesis"}


@dataclass(frozen=True)
class Release:
    source: Path  # the tree both files were built from
    sdist: Path
    wheel: Path

    def sdist_members(self) -> dict[str, bytes]:
        """Each file of the sdist by its path below the top folder."""
        top = f"{NAME}-{VERSION}/"
        with tarfile.open(self.sdist) as archive:
            found: dict[str, bytes] = {}
            for member in archive.getmembers():
                if not member.isfile():
                    continue
                assert member.name.startswith(top), member.name
                extracted = archive.extractfile(member)
                assert extracted is not None
                found[member.name.removeprefix(top)] = extracted.read()
            return found

    def wheel_members(self) -> dict[str, bytes]:
        with zipfile.ZipFile(self.wheel) as archive:
            return {name: archive.read(name) for name in archive.namelist()}


def _not_source(folder: str, names: list[str]) -> set[str]:
    at_top = Path(folder) == ROOT
    return {
        name
        for name in names
        if name in NOT_SOURCE_ANYWHERE
        or name.endswith((".pyc", ".pyo"))
        or (at_top and (name in NOT_SOURCE or name.startswith(".venv") or ".egg-info" in name))
    }


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """Both release files, built once for this module as `make dist` builds them."""
    base = tmp_path_factory.mktemp("release")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_not_source, symlinks=True)
    out = base / "dist"
    # Without --sdist/--wheel, build makes the sdist and then the wheel from the unpacked
    # sdist, as the index's users get it: a file missing from the sdist fails here.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (
        "building failed (the `dist` extra brings build and setuptools; make test installs"
        f" it):\n{result.stdout}\n{result.stderr}"
    )
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert [p.name for p in sdists] == [f"{NAME}-{VERSION}.tar.gz"]
    assert [p.name for p in wheels] == [f"{NAME}-{VERSION}-py3-none-any.whl"]
    return Release(source, sdists[0], wheels[0])


def _files_under(root: Path, folder: str) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in (root / folder).rglob("*")
        if path.is_file() and not _not_source(str(path.parent), [path.name])
    }


def test_the_wheel_holds_the_package_its_type_marker_and_the_licence(release: Release) -> None:
    members = release.wheel_members()
    package = {name for name in members if name.startswith(f"{NAME}/")}
    assert package == {f"{NAME}/{path}" for path in _package_files(release.source)}
    assert f"{NAME}/py.typed" in package
    info = f"{NAME}-{VERSION}.dist-info/"
    assert members[f"{info}licenses/LICENSE"] == (ROOT / "LICENSE").read_bytes()
    # Nothing but the package and its metadata: tests, examples and docs stay in the sdist.
    assert {name for name in members if not name.startswith((f"{NAME}/", info))} == set()


def _package_files(source: Path) -> set[str]:
    return {
        path.removeprefix(f"{NAME}/")
        for path in _files_under(source, NAME)
        if path.endswith((".py", "py.typed"))
    }


def test_the_sdist_holds_the_licence_and_the_complete_test_suite(release: Release) -> None:
    members = release.sdist_members()
    assert members["LICENSE"] == (ROOT / "LICENSE").read_bytes()
    wanted = set(SUITE_FILES).union(*(_files_under(release.source, t) for t in SUITE_TREES))
    wanted -= _files_under(release.source, "benchmarks/results/raw")  # local benchmark runs
    assert "tests/conftest.py" in wanted
    assert "tests/__init__.py" in wanted
    assert sorted(wanted - members.keys()) == []
    assert [name for name in members if "__pycache__" in name or name.endswith(".pyc")] == []


def test_a_part_of_the_suite_runs_from_the_unpacked_sdist(release: Release, tmp_path: Path) -> None:
    with tarfile.open(release.sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # 3.10.12+; 3.12+ warns when it is not given
            archive.extractall(tmp_path, filter="data")
        else:
            archive.extractall(tmp_path)
    unpacked = tmp_path / f"{NAME}-{VERSION}"
    # Run from there, the package imports from there, not from the checkout.
    where = subprocess.run(
        [sys.executable, "-c", f"import {NAME}; print({NAME}.__file__)"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(unpacked), where.stdout
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SMOKE],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\d+ passed in ", result.stdout.splitlines()[-1]), result.stdout


def _metadata(text: bytes) -> Message:
    return HeaderParser().parsestr(text.decode("utf-8"))


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_the_metadata_names_the_project_urls_and_the_licence(release: Release, kind: str) -> None:
    if kind == "sdist":
        metadata = _metadata(release.sdist_members()["PKG-INFO"])
    else:
        metadata = _metadata(release.wheel_members()[f"{NAME}-{VERSION}.dist-info/METADATA"])
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL", []))
    assert urls == URLS
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.10"


def test_twine_accepts_both_files(release: Release) -> None:
    # The check an upload makes first: metadata and the README rendered as the index would.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            str(release.sdist),
            str(release.wheel),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.M)
EXPLICIT_ID = re.compile(r"\{\s*#([\w-]+)\s*\}\s*$")


def _anchors(page: Path) -> set[str]:
    """The ids the docs site gives the page's headings (Python-Markdown's toc slugs)."""
    found = set()
    for heading in HEADING.findall(page.read_text(encoding="utf-8")):
        explicit = EXPLICIT_ID.search(heading)
        if explicit:
            found.add(explicit[1])
            continue
        text = unicodedata.normalize("NFKD", heading.replace("`", ""))
        text = re.sub(r"[^\w\s-]", "", text.encode("ascii", "ignore").decode()).strip().lower()
        found.add(re.sub(r"[-\s]+", "-", text))
    return found


def _link_problem(target: str) -> str | None:
    """Why a link would break on the package index page, or None if it will not."""
    if not target.startswith("https://"):
        return "not absolute"
    url, _, anchor = target.partition("#")
    if url.startswith(SITE):
        page = url.removeprefix(SITE).strip("/") or "index"
        source = ROOT / "docs" / f"{page}.md"
        if not source.is_file():
            return f"no page docs/{page}.md"
        if anchor and anchor not in _anchors(source):
            return f"no heading #{anchor} in docs/{page}.md"
    for kind in ("blob", "tree"):
        prefix = f"{REPO}/{kind}/main/"
        if url.startswith(prefix) and not (ROOT / url.removeprefix(prefix)).exists():
            return f"no {url.removeprefix(prefix)} in the repository"
    return None


@pytest.mark.parametrize("name", ["README.md", "CHANGELOG.md"])
def test_every_link_is_absolute_and_leads_to_a_page_that_exists(name: str) -> None:
    targets = LINK.findall((ROOT / name).read_text(encoding="utf-8"))
    assert targets, f"{name} has no links to check"
    problems = {target: _link_problem(target) for target in targets}
    assert {target: why for target, why in problems.items() if why} == {}
