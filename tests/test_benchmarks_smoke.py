"""The benchmark suite runs end to end: every contender, every scenario, both reports.

It asserts nothing about speed (timing assertions flake on shared machines); the numbers
are for `make bench` and docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.config import CONTENDERS, LIBRARY, LIBRARY_UVLOOP, SCENARIOS, TARGETS
from benchmarks.report import END, START

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_smoke_run_covers_every_contender_and_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    results = json.loads((tmp_path / "latest.json").read_text())
    assert [r for r in results["records"] if "error" in r] == []
    (python,) = results["meta"]["pythons"]
    assert results["modes"] == ["pinned"]
    for scenario in SCENARIOS:
        cells = results["summary"][python]["pinned"][scenario]
        assert set(cells) == set(CONTENDERS), scenario
        for contender, cell in cells.items():
            if cell["applicable"]:
                medians = [v["median"] for k, v in cell.items() if isinstance(v, dict)]
                assert medians, (scenario, contender)
                assert None not in medians, (scenario, contender)
            else:
                assert cell["reason"], (scenario, contender)

    # The loop setting took effect: each variant's worker says which loop it ran.
    loops = results["loops"][python]
    assert loops[LIBRARY_UVLOOP] == "uvloop.Loop"
    assert loops[LIBRARY].startswith("asyncio.")

    targets = results["targets"][python]
    assert [t["key"] for t in targets] == [spec.key for spec in TARGETS]
    # With smoke sizes a process may allocate no new memory pages at all, leaving memory
    # per task undefined; every target judged on time must have its figure.
    timed = {t["key"]: t["value"] for t in targets if t["key"] != "memory"}
    assert None not in timed.values(), timed
    for side in ("latency", "fire_and_forget"):
        assert results["detector"][python][side]["cost_us"] is not None, side

    page = (tmp_path / "performance.md").read_text()
    assert page.count(START) == 1
    assert page.count(END) == 1
    assert "(img/performance.png)" in page
    assert (tmp_path / "img" / "performance.png").stat().st_size > 0
    _assert_readable_at_1280_px(page)


def _assert_readable_at_1280_px(page: str) -> None:
    """The docs site shows about 690 px of text at a 1280 px window: tables of at most
    five columns fit it; and a Markdown task list (`- [ ]`) would show as literal text."""
    widths = {line.count("|") - 1 for line in page.splitlines() if line.startswith("|")}
    assert widths, "no table on the page"
    assert max(widths) <= 5, widths
    assert "- [ ]" not in page
    assert "- [x]" not in page


def test_regenerating_the_page_keeps_the_prose_around_the_markers(tmp_path: Path) -> None:
    from benchmarks.report import rewrite_page

    page = tmp_path / "performance.md"
    page.write_text(f"# Title\n\nBefore.\n\n{START}\nold\n{END}\n\nAfter.\n")
    rewrite_page(page, f"{START}\nnew\n{END}")
    assert page.read_text() == f"# Title\n\nBefore.\n\n{START}\nnew\n{END}\n\nAfter.\n"
