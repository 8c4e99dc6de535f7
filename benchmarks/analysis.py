"""From raw per-repeat records to medians, ratios against the naive bridge, and targets.

A ratio is computed within each repeat (the contender and the naive bridge ran minutes
apart at most, under the same load) and the median of those per-repeat ratios is what
the report shows. That keeps slow drifts of a shared machine out of the comparison.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .config import BOUNDS, CONTENDERS, FLOOR, LIBRARY, LIBRARY_VARIANTS, REFERENCE, SCENARIOS
from .contenders import reason_not_applicable

Record = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool


METRICS: dict[str, tuple[Metric, ...]] = {
    "latency": (
        Metric("median_us", "blocking latency, median", "µs", False),
        Metric("p99_us", "blocking latency, p99", "µs", False),
    ),
    "fire_and_forget": (
        Metric("tasks_per_s", "fire-and-forget, submit + wait", "tasks/s", True),
        Metric("submit_per_s", "fire-and-forget, submit only", "tasks/s", True),
    ),
    "threads8": (Metric("calls_per_s", "8 caller threads", "calls/s", True),),
    "sleeps_10k": (
        Metric("wall_s", "10k sleeps, wall time", "s", False),
        Metric("mem_per_task_bytes", "10k sleeps, memory per task", "B", False),
    ),
    "sleeps_100k": (
        Metric("wall_s", "100k sleeps, wall time", "s", False),
        Metric("mem_per_task_bytes", "100k sleeps, memory per task", "B", False),
    ),
    "decorator_overhead": (
        Metric("overhead_us", "@sync_bridge minus run_async_task, median", "µs", False),
        Metric("sync_bridge_us", "@sync_bridge call, median", "µs", False),
        Metric("direct_us", "run_async_task call, median", "µs", False),
    ),
}

#: The scenarios compared between contenders (the decorator overhead is the library's own).
COMPARED = tuple(s for s in SCENARIOS if s != "decorator_overhead")


class Results:
    """Lookup over the raw records: `{mode, repeat, contender, scenario, metrics|error}`."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._by_cell: dict[tuple[str, str, str], dict[int, Record]] = {}
        for record in records:
            cell = (record["mode"], record["scenario"], record["contender"])
            self._by_cell.setdefault(cell, {})[record["repeat"]] = record

    def values(self, mode: str, scenario: str, contender: str, metric: str) -> dict[int, float]:
        """The metric per repeat, leaving out repeats that failed."""
        cell = self._by_cell.get((mode, scenario, contender), {})
        return {
            repeat: record["metrics"][metric]
            for repeat, record in cell.items()
            if "metrics" in record
        }

    def errors(self, mode: str, scenario: str, contender: str) -> list[str]:
        cell = self._by_cell.get((mode, scenario, contender), {})
        return [record["error"] for record in cell.values() if "error" in record]

    def median(self, mode: str, scenario: str, contender: str, metric: str) -> float | None:
        values = self.values(mode, scenario, contender, metric)
        return statistics.median(values.values()) if values else None

    def ratio(
        self, mode: str, scenario: str, contender: str, metric: str, against: str = REFERENCE
    ) -> float | None:
        """Median over repeats of `contender / against`, pairing the same repeat."""
        mine = self.values(mode, scenario, contender, metric)
        theirs = self.values(mode, scenario, against, metric)
        ratios = [mine[r] / theirs[r] for r in mine.keys() & theirs.keys() if theirs[r]]
        return statistics.median(ratios) if ratios else None


def summarise(results: Results, modes: Iterable[str]) -> dict[str, Any]:
    """`summary[mode][scenario][contender]`: medians and ratios, or why it sits out."""
    summary: dict[str, Any] = {}
    for mode in modes:
        for scenario in SCENARIOS:
            for contender in CONTENDERS:
                reason = reason_not_applicable(contender, scenario)
                cell: dict[str, Any]
                if reason is not None:
                    cell = {"applicable": False, "reason": reason}
                else:
                    cell = {"applicable": True, "errors": results.errors(mode, scenario, contender)}
                    for metric in METRICS[scenario]:
                        cell[metric.key] = {
                            "median": results.median(mode, scenario, contender, metric.key),
                            "ratio_vs_naive": results.ratio(mode, scenario, contender, metric.key),
                        }
                summary.setdefault(mode, {}).setdefault(scenario, {})[contender] = cell
    return summary


@dataclass(frozen=True)
class Target:
    number: int
    text: str
    met: bool | None  # None: not measured (a failed or skipped run)
    figure: str

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "text": self.text, "met": self.met, "figure": self.figure}


def evaluate_targets(results: Results, mode: str = "pinned") -> list[Target]:
    """The issue's targets, judged on `mode` (pinned to one CPU: the headline)."""
    r = results.ratio

    latency = r(mode, "latency", LIBRARY, "median_us")
    latency_floor = r(mode, "latency", LIBRARY, "median_us", against=FLOOR)
    throughput = r(mode, "fire_and_forget", LIBRARY, "tasks_per_s")
    threads = r(mode, "threads8", LIBRARY, "calls_per_s")
    wall = r(mode, "sleeps_100k", LIBRARY, "wall_s")
    memory = r(mode, "sleeps_100k", LIBRARY, "mem_per_task_bytes")
    overhead = results.median(mode, "decorator_overhead", "sincpro-decorators", "overhead_us")
    losses, unmeasured = _losses(results, mode)

    return [
        _target(
            1,
            "blocking latency ≤ 0.5x naive and ≤ 2x floor",
            (latency, latency_floor),
            lambda naive, floor: naive <= 0.5 and floor <= 2,
            "{:.2f}x naive, {:.2f}x floor",
        ),
        _target(
            2,
            "fire-and-forget throughput ≥ 4x naive",
            (throughput,),
            lambda naive: naive >= 4,
            "{:.2f}x naive",
        ),
        _target(
            3,
            "8-thread throughput ≥ 2.5x naive",
            (threads,),
            lambda naive: naive >= 2.5,
            "{:.2f}x naive",
        ),
        _target(
            4,
            "100,000 concurrent sleeps: wall time ≤ 0.6x naive, memory per task ≤ naive",
            (wall, memory),
            lambda wall, memory: wall <= 0.6 and memory <= 1,
            "wall {:.2f}x naive, memory {:.2f}x naive",
        ),
        _target(
            5,
            "`@sync_bridge` adds ≤ 1 µs (median) over direct `run_async_task`",
            (overhead,),
            lambda overhead: overhead <= 1,
            "{:+.2f} µs",
        ),
        Target(
            6,
            "every other contender slower than this library in every scenario "
            "(the two floors, lower bounds rather than bridges, excluded)",
            None if unmeasured else not losses,
            "; ".join(losses) if losses else ("not measured" if unmeasured else "no exception"),
        ),
    ]


def _target(
    number: int,
    text: str,
    figures: tuple[float | None, ...],
    met: Callable[..., bool],
    figure: str,
) -> Target:
    """Judge `met(*figures)`; a missing figure (a failed run) means "not measured"."""
    measured = [value for value in figures if value is not None]
    if len(measured) < len(figures):
        return Target(number, text, None, "not measured")
    return Target(number, text, met(*measured), figure.format(*measured))


def _losses(results: Results, mode: str) -> tuple[list[str], bool]:
    """Where another contender beats the library on a scenario's main metric.

    The library is judged by its best way of doing each scenario (per-call submission, or
    one call that gathers), as a user would pick it.
    """
    losses: list[str] = []
    unmeasured = False
    rivals = [c for c in CONTENDERS if c not in (*LIBRARY_VARIANTS, *BOUNDS)]
    for scenario in COMPARED:
        metric = METRICS[scenario][0]
        for rival in rivals:
            if reason_not_applicable(rival, scenario) is not None:
                continue
            ratios = [
                ratio
                for variant in (LIBRARY, "sincpro-one-call")
                if reason_not_applicable(variant, scenario) is None
                and (ratio := results.ratio(mode, scenario, variant, metric.key, against=rival))
                is not None
            ]
            if not ratios:
                unmeasured = True
                continue
            ratio = max(ratios) if metric.higher_is_better else min(ratios)
            library_wins = ratio > 1 if metric.higher_is_better else ratio < 1
            if not library_wins:
                losses.append(f"{rival} beats it on {metric.label} ({ratio:.2f}x {rival})")
    return losses, unmeasured
