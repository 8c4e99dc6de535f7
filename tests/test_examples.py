"""Every example runs, so none of them rots."""

from __future__ import annotations

from .conftest import run_example


def test_quickstart_prints_its_results() -> None:
    result = run_example("quickstart.py")
    assert result.returncode == 0, result.stderr
    assert "1. decorated call:        ACME = 12.5" in result.stdout
    assert "audited login for request req-42" in result.stdout
    assert "countdown = [3, 2, 1]" in result.stdout
    assert "0 running" in result.stdout
