"""Run the benchmark suite: `python -m benchmarks.run [--smoke] [--python PATH ...] [--out DIR]`.

For each repeat, each Python, each CPU placement and each scenario, every contender runs
in a fresh child process (`benchmarks.child`) of that Python, in an order rotated from one
repeat to the next, so that no contender always runs first, last, or right after a heavy
neighbour. Every Python is measured in the same run, repeats interleaved, and each
against its own naive bridge. Results: raw JSON in `benchmarks/results/latest.json`, and
the generated section of `docs/performance.md` with its chart `docs/img/performance.png`.
With `--out DIR`, all three go to DIR instead (`--smoke` without `--out` uses a fresh
temporary directory).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import report
from .analysis import Record, Results, detector_cost, evaluate_targets, summarise
from .config import CONTENDERS, MODES, REFERENCE, SCENARIOS, Sizes
from .contenders import reason_not_applicable

ROOT = Path(__file__).resolve().parent.parent
MEMORY_METHOD = (
    "peak RSS delta: VmHWM (reset through /proc/self/clear_refs just before the run) "
    "minus VmRSS at the start, divided by the number of tasks"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    # Stopped with SIGTERM, unwind as for Ctrl-C: subprocess.run then kills the running
    # child instead of leaving it to finish a measurement nobody will read.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    if args.repeats:
        sizes = replace(
            sizes, repeats=args.repeats, heavy_repeats=min(args.repeats, sizes.heavy_repeats)
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

    pythons = _interpreters(args.python or [sys.executable])
    placements = _placements(args.split)
    started = datetime.now(timezone.utc)
    digest = report.library_digest(ROOT)
    records = _measure(sizes, pythons, placements, child_timeout=60 if args.smoke else 600)
    results = Results(records)
    modes = list(placements)
    summary = summarise(results, pythons, modes)
    data: dict[str, Any] = {
        "meta": {
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": round((datetime.now(timezone.utc) - started).total_seconds()),
            "smoke": args.smoke,
            "machine": report.machine_info(ROOT),
            "cpus": placements,
            "pythons": pythons,
            "reference": REFERENCE,
            "memory": MEMORY_METHOD,
            "source_changed_during_run": report.library_digest(ROOT) != digest,
        },
        "sizes": sizes.as_dict(),
        "contenders": list(CONTENDERS),
        "scenarios": list(SCENARIOS),
        "modes": modes,
        "summary": summary,
        "targets": {
            python: [target.as_dict() for target in evaluate_targets(results, python)]
            for python in pythons
        },
        "detector": {python: detector_cost(results, python) for python in pythons},
        "loops": _loops(records),
        "records": records,
    }
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text(json.dumps(data, indent=1) + "\n")
    report.publish(data, page, chart_path)

    if data["meta"]["source_changed_during_run"]:
        _log("WARNING: the library's source changed during the run; the figures mix versions")
    failures = [r for r in records if "error" in r]
    for failure in failures:
        _log(
            f"FAILED {failure['python']} {failure['mode']} {failure['contender']} "
            f"{failure['scenario']}:"
        )
        _log(failure["error"])
    _log(f"wrote {data_path}, {page} and {chart_path}")
    return 1 if failures else 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and one repeat: checks the suite runs"
    )
    parser.add_argument("--out", type=Path, help="write JSON, page and chart to this directory")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument(
        "--python",
        action="append",
        metavar="PATH",
        help="an interpreter to measure (repeatable; default: the one running this); "
        "each needs the library and the bench and uvloop extras installed",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="also measure spread over two CPUs (doubles the run time)",
    )
    return parser.parse_args(argv)


_PROBE = (
    "import json, platform, sys; print(json.dumps({"
    "'label': '%d.%d' % sys.version_info[:2], "
    "'version': platform.python_implementation() + ' ' + platform.python_version()}))"
)


def _interpreters(paths: list[str]) -> dict[str, dict[str, str]]:
    """`{"3.11": {"executable": ..., "version": "CPython 3.11.7"}, ...}` for `paths`."""
    pythons: dict[str, dict[str, str]] = {}
    for path in paths:
        done = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, check=True)
        found = json.loads(done.stdout)
        if found["label"] in pythons:
            raise SystemExit(f"two interpreters are Python {found['label']}: give one of each")
        pythons[found["label"]] = {"executable": path, "version": found["version"]}
    return pythons


def _placements(split: bool) -> dict[str, list[int]]:
    """The CPUs of each mode: one CPU for `pinned`; two for `split`, if asked and there."""
    usable = sorted(os.sched_getaffinity(0))
    placements = {"pinned": usable[-1:]}
    if split and len(usable) >= 2:
        placements["split"] = usable[-2:]
    elif split:
        _log("only one usable CPU: the split placement is skipped")
    assert set(placements) <= set(MODES)
    return placements


def _measure(
    sizes: Sizes,
    pythons: dict[str, dict[str, str]],
    placements: dict[str, list[int]],
    child_timeout: float,
) -> list[Record]:
    plan = list(_plan(sizes, list(pythons), list(placements)))
    records: list[Record] = []
    began = time.monotonic()
    for number, (python, mode, repeat, contender, scenarios) in enumerate(plan, 1):
        request = {
            "contender": contender,
            "scenarios": scenarios,
            "cpus": placements[mode],
            "sizes": sizes.as_dict(),
        }
        outcome = _run_child(pythons[python]["executable"], request, child_timeout)
        for scenario in scenarios:
            record: Record = {
                "python": python,
                "mode": mode,
                "repeat": repeat,
                "contender": contender,
                "scenario": scenario,
            }
            result = outcome["results"].get(scenario, {"error": "no result from the child process"})
            if "error" in result:
                record["error"] = result["error"]
            else:
                record["metrics"] = result
            if scenario in outcome["seconds"]:
                record["seconds"] = outcome["seconds"][scenario]
            if outcome["info"]:
                record["info"] = outcome["info"]
            records.append(record)
        _log(
            f"[{number}/{len(plan)} {time.monotonic() - began:5.0f}s] {python} {mode} "
            f"repeat {repeat + 1}: {contender} {', '.join(scenarios)}"
        )
    return records


def _plan(
    sizes: Sizes, pythons: list[str], modes: list[str]
) -> list[tuple[str, str, int, str, list[str]]]:
    """Which child runs when: repeats outermost, then Pythons, modes, scenarios, contenders.

    The order of the Pythons, of the modes and of the contenders rotates with the repeat.
    """
    plan = []
    repeats = max(sizes.repeats, sizes.heavy_repeats)
    for repeat in range(repeats):
        for python in _rotate(pythons, repeat):
            for mode in _rotate(modes, repeat):
                due = [s for s in SCENARIOS if repeat < sizes.repeats_for(s)]
                groups = [[s] for s in due] if sizes.child_per_scenario else [due]
                for group in groups:
                    for contender in _rotate(list(CONTENDERS), repeat):
                        scenarios = [
                            s for s in group if reason_not_applicable(contender, s) is None
                        ]
                        if scenarios:
                            plan.append((python, mode, repeat, contender, scenarios))
    return plan


def _loops(records: list[Record]) -> dict[str, dict[str, str]]:
    """`{python: {contender: loop class}}`, as the library's worker reported it."""
    loops: dict[str, dict[str, str]] = {}
    for record in records:
        if "loop" in record.get("info", {}):
            loops.setdefault(record["python"], {})[record["contender"]] = record["info"]["loop"]
    return loops


def _rotate(items: list[str], steps: int) -> list[str]:
    steps %= len(items)
    return items[steps:] + items[:steps]


def _run_child(python: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one child; whatever goes wrong comes back as an error for every scenario."""
    command = [python, "-m", "benchmarks.child", json.dumps(request)]
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
    results = {scenario: {"error": error} for scenario in request["scenarios"]}
    return {"results": results, "seconds": {}, "info": {}}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
