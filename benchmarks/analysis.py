"""From raw per-repeat records to medians, ratios against the naive bridge, and targets.

A ratio is computed within each repeat (the contender and the naive bridge ran on the same
Python, minutes apart at most, under the same load) and the median of those per-repeat
ratios is what the report shows. That keeps slow drifts of a shared machine out of the
comparison. Differences (the decorator's and the detector's cost) are paired the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .config import CONTENDERS, DETECTOR, REFERENCE, SCENARIOS, TARGETS, TargetSpec
from .contenders import reason_not_applicable

Record = dict[str, Any]
_US_PER_S = 1e6


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool


#: The metrics of each scenario; the first one is the scenario's headline.
METRICS: dict[str, tuple[Metric, ...]] = {
    "latency": (
        Metric("median_us", "median", "µs", False),
        Metric("p99_us", "p99", "µs", False),
    ),
    "fire_and_forget": (
        Metric("tasks_per_s", "submit + wait", "tasks/s", True),
        Metric("submit_per_s", "submit only", "tasks/s", True),
    ),
    "threads8": (Metric("calls_per_s", "calls", "calls/s", True),),
    "sleeps_10k": (
        Metric("wall_s", "wall", "s", False),
        Metric("mem_per_task_bytes", "memory", "B", False),
    ),
    "sleeps_100k": (
        Metric("wall_s", "wall", "s", False),
        Metric("mem_per_task_bytes", "memory", "B", False),
    ),
    "decorator_overhead": (
        Metric("overhead_us", "@sync_bridge minus run_async_task, median", "µs", False),
        Metric("sync_bridge_us", "@sync_bridge call, median", "µs", False),
        Metric("direct_us", "run_async_task call, median", "µs", False),
    ),
    "detector_overhead": (
        Metric("call_cost_us", "per blocking call, on minus off", "µs", False),
        Metric("call_on_us", "blocking call, detector on", "µs", False),
        Metric("call_off_us", "blocking call, detector off", "µs", False),
        Metric("task_cost_us", "per fire-and-forget task, on minus off", "µs", False),
        Metric("task_on_us", "fire-and-forget task, detector on", "µs", False),
        Metric("task_off_us", "fire-and-forget task, detector off", "µs", False),
    ),
}

#: The scenarios compared between contenders (the two overheads are the library's own).
COMPARED = tuple(s for s in SCENARIOS if s not in ("decorator_overhead", "detector_overhead"))


class Results:
    """Lookup over the raw records: `{python, mode, repeat, contender, scenario, metrics|error}`."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._by_cell: dict[tuple[str, str, str, str], dict[int, Record]] = {}
        for record in records:
            cell = (record["python"], record["mode"], record["scenario"], record["contender"])
            self._by_cell.setdefault(cell, {})[record["repeat"]] = record

    def values(
        self, python: str, mode: str, scenario: str, contender: str, metric: str
    ) -> dict[int, float]:
        """The metric per repeat, leaving out repeats that failed."""
        cell = self._by_cell.get((python, mode, scenario, contender), {})
        return {
            repeat: record["metrics"][metric]
            for repeat, record in cell.items()
            if "metrics" in record
        }

    def errors(self, python: str, mode: str, scenario: str, contender: str) -> list[str]:
        cell = self._by_cell.get((python, mode, scenario, contender), {})
        return [record["error"] for record in cell.values() if "error" in record]

    def median(
        self, python: str, mode: str, scenario: str, contender: str, metric: str
    ) -> float | None:
        values = self.values(python, mode, scenario, contender, metric)
        return statistics.median(values.values()) if values else None

    def pairs(
        self,
        python: str,
        mode: str,
        scenario: str,
        contenders: tuple[str, str],
        metric: str,
        combine: Callable[[float, float], float | None],
    ) -> list[float]:
        """`combine(first, second)` for every repeat both measured.

        `combine` returns None for a pair it cannot judge (a zero denominator): left out.
        """
        first = self.values(python, mode, scenario, contenders[0], metric)
        second = self.values(python, mode, scenario, contenders[1], metric)
        combined = [combine(first[r], second[r]) for r in sorted(first.keys() & second.keys())]
        return [value for value in combined if value is not None]

    def paired(
        self,
        python: str,
        mode: str,
        scenario: str,
        contenders: tuple[str, str],
        metric: str,
        combine: Callable[[float, float], float | None],
    ) -> float | None:
        """Median over repeats of `combine(first, second)`, pairing the same repeat."""
        kept = self.pairs(python, mode, scenario, contenders, metric, combine)
        return statistics.median(kept) if kept else None

    def ratio(
        self,
        python: str,
        mode: str,
        scenario: str,
        contender: str,
        metric: str,
        against: str = REFERENCE,
    ) -> float | None:
        """Median over repeats of `contender / against`."""
        return self.paired(python, mode, scenario, (contender, against), metric, _divide)


def _divide(mine: float, theirs: float) -> float | None:
    return mine / theirs if theirs else None


def summarise(results: Results, pythons: Iterable[str], modes: Iterable[str]) -> dict[str, Any]:
    """`summary[python][mode][scenario][contender]`: medians and ratios, or why it sits out."""
    summary: dict[str, Any] = {}
    modes = list(modes)
    for python in pythons:
        for mode in modes:
            for scenario in SCENARIOS:
                for contender in CONTENDERS:
                    reason = reason_not_applicable(contender, scenario)
                    cell: dict[str, Any]
                    if reason is not None:
                        cell = {"applicable": False, "reason": reason}
                    else:
                        errors = results.errors(python, mode, scenario, contender)
                        cell = {"applicable": True, "errors": errors}
                        for metric in METRICS[scenario]:
                            at = (python, mode, scenario, contender, metric.key)
                            cell[metric.key] = {
                                "median": results.median(*at),
                                "ratio_vs_naive": results.ratio(*at),
                            }
                    by_scenario = summary.setdefault(python, {}).setdefault(mode, {})
                    by_scenario.setdefault(scenario, {})[contender] = cell
    return summary


@dataclass(frozen=True)
class Target:
    """A judged target: `value` in the target's own terms (a ratio, or microseconds)."""

    key: str
    label: str
    python: str
    kind: str
    at_most: bool
    bound: float | None  # None: no bound for this Python (measured, not judged)
    value: float | None  # None: not measured (a failed or skipped run)

    @property
    def met(self) -> bool | None:
        if self.value is None or self.bound is None:
            return None
        return self.value <= self.bound if self.at_most else self.value >= self.bound

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "python": self.python,
            "kind": self.kind,
            "at_most": self.at_most,
            "bound": self.bound,
            "value": self.value,
            "met": self.met,
        }


def evaluate_targets(results: Results, python: str, mode: str = "pinned") -> list[Target]:
    """The issue's targets for one Python, judged on `mode` (pinned to one CPU)."""
    return [_judge(spec, results, python, mode) for spec in TARGETS]


def _judge(spec: TargetSpec, results: Results, python: str, mode: str) -> Target:
    at = (python, mode, spec.scenario, spec.contender, spec.metric)
    value = results.ratio(*at) if spec.kind == "ratio" else results.median(*at)
    return Target(
        key=spec.key,
        label=spec.label,
        python=python,
        kind=spec.kind,
        at_most=spec.at_most,
        bound=spec.bounds.get(python),
        value=value,
    )


def detector_cost(results: Results, python: str, mode: str = "pinned") -> dict[str, Any]:
    """What the blocked-loop detector adds, per blocking call and per fire-and-forget task.

    For each: the median over repeats of the in-process difference (on minus off), its
    lowest and highest (how far the noise reaches), and the medians of the two sides.
    """
    cost: dict[str, Any] = {}
    for side, prefix in (("latency", "call"), ("fire_and_forget", "task")):
        at = (python, mode, "detector_overhead", DETECTOR)
        differences = list(results.values(*at, f"{prefix}_cost_us").values())
        cost[side] = {
            "cost_us": statistics.median(differences) if differences else None,
            "low_us": min(differences, default=None),
            "high_us": max(differences, default=None),
            "on_us": results.median(*at, f"{prefix}_on_us"),
            "off_us": results.median(*at, f"{prefix}_off_us"),
        }
    return cost
