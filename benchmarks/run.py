"""Run the benchmark suite: `python -m benchmarks.run [--smoke] [--out DIR]`.

For each repeat, each CPU placement and each scenario, every contender runs in a fresh
child process (`benchmarks.child`), in an order rotated from one repeat to the next, so
that no contender always runs first, last, or right after a heavy neighbour. Results:
raw JSON in `benchmarks/results/latest.json`, and the generated section of
`docs/performance.md` with its chart `docs/img/performance.png`. With `--out DIR`, all
three go to DIR instead (`--smoke` without `--out` uses a fresh temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import chart, report
from .analysis import Record, Results, evaluate_targets, summarise
from .config import CONTENDERS, MODES, REFERENCE, SCENARIOS, Sizes
from .contenders import reason_not_applicable

ROOT = Path(__file__).resolve().parent.parent
MEMORY_METHOD = (
    "peak RSS delta: VmHWM (reset through /proc/self/clear_refs just before the run) "
    "minus VmRSS at the start, divided by the number of tasks"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    if args.repeats:
        sizes = replace(
            sizes,
            repeats=args.repeats,
            large_sleep_repeats=min(args.repeats, sizes.large_sleep_repeats),
        )
    out: Path | None = args.out
    if out is None and args.smoke:
        out = Path(tempfile.mkdtemp(prefix="bench-smoke-"))
    if out is None:
        data_path = ROOT / "benchmarks" / "results" / "latest.json"
        page = ROOT / "docs" / "performance.md"
    else:
        data_path, page = out / "latest.json", out / "performance.md"
    chart_path = page.parent / "img" / "performance.png"

    placements = _placements()
    started = datetime.now(timezone.utc)
    digest = report.library_digest(ROOT)
    records = _measure(sizes, placements, child_timeout=60 if args.smoke else 600)
    results = Results(records)
    modes = list(placements)
    summary = summarise(results, modes)
    data: dict[str, Any] = {
        "meta": {
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": round((datetime.now(timezone.utc) - started).total_seconds()),
            "smoke": args.smoke,
            "machine": report.machine_info(ROOT),
            "cpus": placements,
            "reference": REFERENCE,
            "memory": MEMORY_METHOD,
            "source_changed_during_run": report.library_digest(ROOT) != digest,
        },
        "sizes": sizes.as_dict(),
        "contenders": list(CONTENDERS),
        "scenarios": list(SCENARIOS),
        "modes": modes,
        "summary": summary,
        "targets": [target.as_dict() for target in evaluate_targets(results)],
        "records": records,
    }
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text(json.dumps(data, indent=1) + "\n")
    chart.draw(summary, modes, chart_path)
    report.rewrite_page(page, report.render(data, os.path.relpath(chart_path, page.parent)))

    if data["meta"]["source_changed_during_run"]:
        _log("WARNING: the library's source changed during the run; the figures mix versions")
    failures = [r for r in records if "error" in r]
    for failure in failures:
        _log(f"FAILED {failure['mode']} {failure['contender']} {failure['scenario']}:")
        _log(failure["error"])
    _log(f"wrote {data_path}, {page} and {chart_path}")
    return 1 if failures else 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and one repeat: checks the suite runs"
    )
    parser.add_argument("--out", type=Path, help="write JSON, page and chart to this directory")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    return parser.parse_args(argv)


def _placements() -> dict[str, list[int]]:
    """The CPUs of each mode: one CPU for `pinned`, two for `split` (if there are two)."""
    usable = sorted(os.sched_getaffinity(0))
    placements = {"pinned": usable[-1:]}
    if len(usable) >= 2:
        placements["split"] = usable[-2:]
    else:
        _log("only one usable CPU: the split table is skipped")
    assert set(placements) <= set(MODES)
    return placements


def _measure(sizes: Sizes, placements: dict[str, list[int]], child_timeout: float) -> list[Record]:
    plan = list(_plan(sizes, list(placements)))
    records: list[Record] = []
    began = time.monotonic()
    for number, (mode, repeat, contender, scenarios) in enumerate(plan, 1):
        request = {
            "contender": contender,
            "scenarios": scenarios,
            "cpus": placements[mode],
            "sizes": sizes.as_dict(),
        }
        outcome = _run_child(request, child_timeout)
        for scenario in scenarios:
            record: Record = {
                "mode": mode,
                "repeat": repeat,
                "contender": contender,
                "scenario": scenario,
            }
            result = outcome.get(scenario, {"error": "no result from the child process"})
            if "error" in result:
                record["error"] = result["error"]
            else:
                record["metrics"] = result
            records.append(record)
        _log(
            f"[{number}/{len(plan)} {time.monotonic() - began:5.0f}s] {mode} "
            f"repeat {repeat + 1}: {contender} {', '.join(scenarios)}"
        )
    return records


def _plan(sizes: Sizes, modes: list[str]) -> list[tuple[str, int, str, list[str]]]:
    """Which child runs when: repeats outermost, then modes, scenarios, contenders.

    Both the contender order and the mode order rotate with the repeat.
    """
    plan = []
    repeats = max(sizes.repeats, sizes.large_sleep_repeats)
    for repeat in range(repeats):
        for mode in _rotate(modes, repeat):
            due = [s for s in SCENARIOS if repeat < sizes.repeats_for(s)]
            groups = [[s] for s in due] if sizes.child_per_scenario else [due]
            for group in groups:
                for contender in _rotate(list(CONTENDERS), repeat):
                    scenarios = [s for s in group if reason_not_applicable(contender, s) is None]
                    if scenarios:
                        plan.append((mode, repeat, contender, scenarios))
    return plan


def _rotate(items: list[str], steps: int) -> list[str]:
    steps %= len(items)
    return items[steps:] + items[:steps]


def _run_child(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one child; whatever goes wrong comes back as an error for every scenario."""
    command = [sys.executable, "-m", "benchmarks.child", json.dumps(request)]
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return _all_failed(request, f"the child process took longer than {timeout} s")
    if done.returncode != 0:
        return _all_failed(request, f"exit status {done.returncode}:\n{done.stderr[-3000:]}")
    try:
        outcome: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return _all_failed(request, f"unreadable output:\n{done.stdout[-3000:]}")
    return outcome


def _all_failed(request: dict[str, Any], error: str) -> dict[str, Any]:
    return {scenario: {"error": error} for scenario in request["scenarios"]}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
