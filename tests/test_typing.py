"""The types are a feature: both checkers users run must agree with them.

What must be *accepted* (with `assert_type`) lives in tests/typing/check_accepted*.py: the
main mypy run in `make test` checks it, and the tests here check it under pyright strict.
What must be *rejected* lives in tests/typing/rejected/: each line ending in
`# expect: <mypy codes>` must get exactly those mypy error codes and at least one pyright
error, and no other line may get either. `pyright --verifytypes` gates the completeness of
the public types at 100 %.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

TYPING = ROOT / "tests" / "typing"
REJECTED = TYPING / "rejected"
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")

# THE SWITCH for issue 10's API (`.aio`, `sync_context`, `sync_iter`, async context
# managers): its cases are written ahead of it, and are left out of every check here while
# their file names are listed. When the API lands, empty this tuple and delete the entries
# marked PENDING_AIO_API in pyproject.toml (a test below holds the two together).
PENDING_AIO_API: tuple[str, ...] = ()


def accepted_files() -> list[Path]:
    return [p for p in sorted(TYPING.glob("check_accepted*.py")) if p.name not in PENDING_AIO_API]


def rejected_files() -> list[Path]:
    return [p for p in sorted(REJECTED.glob("*.py")) if p.name not in PENDING_AIO_API]


def expected_errors() -> set[tuple[str, int, str]]:
    """(file name, line, mypy code) for every `# expect: code[, code...]` comment."""
    expected: set[tuple[str, int, str]] = set()
    for path in rejected_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "# expect: " in line:
                codes = line.rsplit("# expect: ", 1)[1]
                expected.update((path.name, number, code.strip()) for code in codes.split(","))
    return expected


def pyright(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run pyright on `args` and return its `--outputjson` report.

    pyright takes the import paths from the first `python` on PATH (`--verifytypes`
    ignores `--pythonpath`), so this interpreter's directory goes first.
    """
    environment = dict(os.environ if env is None else env)
    path = environment.get("PATH", "")
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    result = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=170,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright gave no report (exit {result.returncode}):\n{result.stderr}")
    return report


def describe(diagnostics: list[dict[str, Any]]) -> str:
    lines = []
    for found in diagnostics:
        line = found.get("range", {}).get("start", {}).get("line", -1) + 1
        rule = found.get("rule", "")
        message = found["message"].splitlines()[0]
        lines.append(f"{found['file']}:{line}: {found['severity']}: {message} ({rule})")
    return "\n".join(lines)


def check_with_pyright(files: list[Path], cwd: Path = ROOT, **kwargs: Any) -> dict[str, Any]:
    report = pyright(*(str(path) for path in files), cwd=cwd, **kwargs)
    # An `exclude` in the configuration silently drops a file named on the command line.
    assert report["summary"]["filesAnalyzed"] == len(files), report["summary"]
    return report


def test_the_pending_switch_and_pyproject_agree() -> None:
    # While the issue 10 cases are pending, mypy's main run and a bare pyright must skip
    # check_accepted_aio.py too; once they are not, neither may.
    mentioned = "check_accepted_aio" in (ROOT / "pyproject.toml").read_text()
    assert mentioned == ("check_accepted_aio.py" in PENDING_AIO_API), (
        "PENDING_AIO_API in tests/test_typing.py and the PENDING_AIO_API entries in "
        "pyproject.toml must be removed together"
    )
    for name in PENDING_AIO_API:
        assert (TYPING / name).exists() or (REJECTED / name).exists(), name


@pytest.mark.timeout(180)
def test_misuse_is_rejected_with_exactly_the_expected_error_codes() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--no-pretty",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *(str(path) for path in rejected_files()),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=170,
        check=False,
    )
    found = set()
    for line in result.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            name = match["file"].rsplit("/", 1)[-1]
            found.add((name, int(match["line"]), match["code"]))
    expected = expected_errors()
    assert expected, "no expectations found"
    assert found == expected, result.stdout


@pytest.mark.timeout(180)
def test_misuse_is_rejected_by_pyright_on_exactly_the_expected_lines() -> None:
    report = check_with_pyright(rejected_files())
    diagnostics = report["generalDiagnostics"]
    found = {
        (Path(d["file"]).name, d["range"]["start"]["line"] + 1)
        for d in diagnostics
        if d["severity"] == "error"
    }
    expected = {(name, line) for name, line, _ in expected_errors()}
    assert expected, "no expectations found"
    missing = sorted(expected - found)
    unexpected = [
        d
        for d in diagnostics
        if (Path(d["file"]).name, d["range"]["start"]["line"] + 1) not in expected
        or d["severity"] != "error"
    ]
    assert not missing, f"pyright accepted these lines: {missing}\n{describe(diagnostics)}"
    assert not unexpected, describe(unexpected)


@pytest.mark.timeout(180)
def test_the_accepted_cases_pass_pyright_strict() -> None:
    # pyproject.toml's [tool.pyright] makes tests/typing strict.
    report = check_with_pyright(accepted_files())
    assert report["generalDiagnostics"] == [], describe(report["generalDiagnostics"])


@pytest.mark.timeout(180)
def test_a_bare_pyright_finds_no_error_in_the_project() -> None:
    # What a contributor's editor shows: the package and the accepted cases, configured by
    # pyproject.toml, with `# type: ignore` comments disregarded.
    report = pyright()
    assert report["summary"]["filesAnalyzed"] > len(accepted_files()), report["summary"]
    assert report["generalDiagnostics"] == [], describe(report["generalDiagnostics"])


@pytest.mark.timeout(180)
def test_pyright_verifytypes_finds_every_public_symbol_fully_typed() -> None:
    completeness = pyright("--verifytypes", "sincpro_async_worker")["typeCompleteness"]
    assert completeness.get("pyTypedPath"), "pyright did not find the installed package"
    # One entry per place in the source; a symbol reachable under several names (its
    # module's, a re-export's) is named once, by its full name where pyright gives one.
    places: dict[tuple[str, int, str], str] = {}
    for symbol in completeness["symbols"]:
        for found in symbol["diagnostics"]:
            if found["severity"] != "error":
                continue  # missing docstrings
            file = found.get("file", "").replace(f"{ROOT}{os.sep}", "")
            line = found.get("range", {}).get("start", {}).get("line", -1) + 1
            message = " / ".join(part.strip() for part in found["message"].splitlines())
            name = places.get((file, line, message), symbol["name"])
            full = symbol["name"].startswith("sincpro_async_worker")
            places[(file, line, message)] = symbol["name"] if full else name
    causes = sorted(key for key in places if "missing type annotation" in key[2])
    effects = sorted(key for key in places if key not in causes)

    def entry(file: str, line: int, message: str) -> str:
        where = f"{file}:{line}" if line > 0 else file or "?"
        return f"  {where}: {places[file, line, message]}: {message}"

    report = ["annotate these:", *(entry(*key) for key in causes)]
    report += ["and so incomplete:", *(entry(*key) for key in effects)]
    score = completeness["completenessScore"]
    summary = f"type completeness {score:.1%};\n" + "\n".join(report)
    assert not places, summary
    assert score == 1, summary


@pytest.mark.timeout(180)
def test_the_installed_package_type_checks_from_outside_the_project(tmp_path: Path) -> None:
    # What a user's project sees: the package found through site-packages, its types
    # through py.typed. (An editable install through setuptools' import hook hides it.)
    checked = [shutil.copy(path, tmp_path / path.name) for path in accepted_files()]
    names = [Path(path).name for path in checked]
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *names],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # pyright is stricter with a library than with local code: it infers no return type
    # that the library does not declare.
    config = {"pythonVersion": "3.10", "strict": ["."]}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    report = check_with_pyright([Path(name) for name in names], cwd=tmp_path, env=env)
    assert report["generalDiagnostics"] == [], describe(report["generalDiagnostics"])
