"""The types are a feature: misuse must be rejected with the exact mypy error code.

What must be *accepted* (with `assert_type`) lives in tests/typing/check_accepted.py and is
checked by the main mypy run in `make test`.
"""

from __future__ import annotations

import re
import subprocess
import sys

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
