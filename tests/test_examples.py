"""Every example runs, so none of them rots."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT


def test_quickstart_prints_its_results() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1. decorated call:        ACME = 12.5" in result.stdout
    assert "audited login for request req-42" in result.stdout
    assert "countdown = [3, 2, 1]" in result.stdout
    assert "0 running" in result.stdout
