"""The chart on the performance page: each target as a ratio to the naive bridge.

One horizontal bar per target and Python, labelled at its end with its ratio and whether
the target is met; the target itself is a black tick across the bar, the naive bridge a
dashed line at 1x. Two panels, because the targets point two ways: latency and memory
(lower is better) and throughput (higher is better).

Sized for the documentation site, which shows it about 690 px wide at a 1280 px window:
7.2 inches at 200 dpi is drawn 1,440 px wide, so a 10-point label (28 px in the file)
is about 13 px on screen, and the smallest text is 10 points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a build machine; must precede pyplot

import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

#: Okabe-Ito colours, told apart with every common form of colour blindness.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
WIDTH_INCHES = 7.2
DPI = 200
SMALLEST_POINTS = 10


def draw(data: dict[str, Any], path: Path) -> None:
    """Write the PNG to `path` (its directory is created if needed)."""
    pythons = list(data["meta"]["pythons"])
    ratios = [t for t in data["targets"][pythons[0]] if t["kind"] == "ratio"]
    panels = [
        ("Lower is better: latency and memory, x naive", [t for t in ratios if t["at_most"]]),
        ("Higher is better: throughput, x naive", [t for t in ratios if not t["at_most"]]),
    ]
    with plt.rc_context({"font.size": 11, "axes.titlesize": 12, "axes.titleweight": "bold"}):
        figure, axes = plt.subplots(
            len(panels),
            1,
            figsize=(WIDTH_INCHES, 1.2 + 1.15 * len(ratios)),
            height_ratios=[len(targets) for _, targets in panels],
            squeeze=False,
        )
        for axis, (title, targets) in zip(axes[:, 0], panels, strict=True):
            by_python = {
                python: [_find(data["targets"][python], t["key"]) for t in targets]
                for python in pythons
            }
            _panel(axis, title, [t["label"] for t in targets], by_python)
        handles: list[Artist] = [
            Patch(color=COLOURS[i % len(COLOURS)], label=p) for i, p in enumerate(pythons)
        ]
        handles += [
            Line2D([], [], color="black", linewidth=2.5, label="target"),
            Line2D([], [], color="grey", linestyle="--", label="naive bridge (1x)"),
        ]
        figure.legend(
            handles=handles,
            loc="lower center",
            ncol=len(handles),
            frameon=False,
            fontsize=SMALLEST_POINTS + 1,
        )
        figure.tight_layout(rect=(0, 0.06, 1, 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI)
        plt.close(figure)


def _find(targets: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(target for target in targets if target["key"] == key)


def _panel(
    axis: Axes, title: str, labels: list[str], by_python: dict[str, list[dict[str, Any]]]
) -> None:
    count = len(by_python)
    height = 0.8 / count
    values = [t["value"] for targets in by_python.values() for t in targets if t["value"]]
    bounds = [t["bound"] for targets in by_python.values() for t in targets if t["bound"]]
    # Room to the right of the longest bar for its label.
    right = max([1.0, *values, *bounds]) * 1.55
    for index, (python, targets) in enumerate(by_python.items()):
        colour = COLOURS[index % len(COLOURS)]
        for row, target in enumerate(targets):
            y = row + (index - (count - 1) / 2) * height
            value, bound = target["value"], target["bound"]
            if value is None:
                axis.text(0.02 * right, y, f"{python}: not measured", va="center")
                continue
            axis.barh(y, value, height=height * 0.9, color=colour)
            if bound is not None:
                axis.plot([bound, bound], [y - height / 2, y + height / 2], color="black", lw=2.5)
            verdict = {True: "  met", False: "  not met", None: ""}[target["met"]]
            axis.text(
                max(value, bound or 0) + right * 0.015,
                y,
                f"{value:.2f}x{verdict}",
                va="center",
                fontsize=SMALLEST_POINTS + 0.5,
                fontweight="bold" if target["met"] is False else "normal",
            )
    axis.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    axis.set_xlim(0, right)
    axis.set_ylim(len(labels) - 0.5, -0.5)  # first target on top
    axis.set_yticks(range(len(labels)), [_wrap(label) for label in labels])
    axis.xaxis.set_major_formatter(lambda value, _: f"{value:g}x")
    axis.set_title(title, loc="left")
    axis.grid(axis="x", alpha=0.3)
    axis.spines[["top", "right"]].set_visible(False)


def _wrap(label: str) -> str:
    """Break a long target name at its comma, so the label column stays narrow."""
    head, _, tail = label.partition(", ")
    return f"{head},\n{tail}" if tail else head
