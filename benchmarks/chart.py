"""The chart on the performance page: speed relative to the naive bridge, per scenario.

Every bar is oriented so that longer is better (for times the ratio is inverted), on a
log scale, with the naive bridge at 1. One panel per CPU placement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a build machine; must precede pyplot

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from .analysis import COMPARED, METRICS
from .config import CONTENDERS


def draw(summary: dict[str, Any], modes: list[str], path: Path) -> None:
    """Write the PNG to `path` (its directory is created if needed)."""
    labels = [METRICS[scenario][0].label for scenario in COMPARED]
    figure, axes = plt.subplots(
        1, len(modes), figsize=(6.5 * len(modes), 6), sharey=True, squeeze=False
    )
    height = 0.8 / len(CONTENDERS)
    for axis, mode in zip(axes[0], modes, strict=True):
        for index, contender in enumerate(CONTENDERS):
            positions, speeds = [], []
            for row, scenario in enumerate(COMPARED):
                speed = _speedup(summary[mode][scenario][contender], scenario)
                if speed is not None:
                    positions.append(row + (index - len(CONTENDERS) / 2 + 0.5) * height)
                    speeds.append(speed)
            axis.barh(positions, speeds, height=height, label=contender)
        axis.axvline(1.0, color="black", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_title(f"{mode}: speed vs naive (x, higher is better)")
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
        axis.set_yticks(range(len(labels)), labels)
        axis.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].invert_yaxis()  # shared: once for all panels, first scenario on top
    axes[0][0].legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _speedup(cell: dict[str, Any], scenario: str) -> float | None:
    if not cell["applicable"]:
        return None
    metric = METRICS[scenario][0]
    ratio: float | None = cell[metric.key]["ratio_vs_naive"]
    if not ratio:
        return None
    return ratio if metric.higher_is_better else 1 / ratio
