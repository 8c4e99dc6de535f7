"""The types are a feature: misuse must be rejected with the exact mypy error code.

What must be *accepted* (with `assert_type`) lives in tests/typing/check_accepted.py and is
checked by the main mypy run in `make test`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

REJECTED = ROOT / "tests" / "typing" / "rejected"
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def expected_errors() -> set[tuple[str, int, str]]:
    expected = set()
    for path in sorted(REJECTED.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "# expect: " in line:
                expected.add((path.name, number, line.rsplit("# expect: ", 1)[1].strip()))
    return expected


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
            *sorted(str(path) for path in REJECTED.glob("*.py")),
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
def test_the_installed_package_type_checks_from_outside_the_project(tmp_path: Path) -> None:
    # What a user's project sees: the package found through site-packages, its types
    # through py.typed. (An editable install through setuptools' import hook hides it.)
    checked = tmp_path / "user_code.py"
    shutil.copy(ROOT / "tests" / "typing" / "check_accepted.py", checked)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", checked.name],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")},
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
