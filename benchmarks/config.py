"""Names, sizes and targets shared by the orchestrator, the child processes and the report.

Everything that decides how long `make bench` takes lives here, so the suite can be
re-balanced without touching the measuring code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Every ratio in the report is taken against this contender, measured in the same run
#: and on the same Python: `run_coroutine_threadsafe(...).result()` on the stock loop.
REFERENCE = "naive"
#: The library on the stock asyncio loop: the contender most targets are judged on.
LIBRARY = "sincpro"
#: The library on uvloop, the loop it picks by default when uvloop is installed.
LIBRARY_UVLOOP = "sincpro-uvloop"
#: The library on the stock loop, its worker restarted with the blocked-loop detector on
#: (the default `slow_task_threshold`) and off (`None`) in turn, in one process.
DETECTOR = "sincpro-detector"
#: The library through `@sync_bridge` (stock loop), for the decorator's own cost.
DECORATORS = "sincpro-decorators"
#: The library making one blocking call that gathers every coroutine inside the loop.
ONE_CALL = "sincpro-one-call"
#: Not asyncio at all: the cost of crossing threads, which no bridge can beat.
FLOOR = "floor"
#: The least an asyncio loop thread can do per call: a wake-up and a callback, no Task.
LOOP_FLOOR = "loop-floor"
#: The least a bridge that runs each call as a real `asyncio.Task` can do: no timeouts,
#: counters, guards or detector, and no future for fire-and-forget.
TASK_FLOOR = "task-floor"
#: Lower bounds, not bridges: shown for scale, never counted as rivals.
BOUNDS = (FLOOR, LOOP_FLOOR, TASK_FLOOR)

LIBRARY_VARIANTS = (LIBRARY, LIBRARY_UVLOOP, DETECTOR, DECORATORS, ONE_CALL)

CONTENDERS = (
    *LIBRARY_VARIANTS,
    REFERENCE,
    "asyncio.run",
    "asgiref",
    "anyio",
    TASK_FLOOR,
    LOOP_FLOOR,
    FLOOR,
)

#: How each contender is named in the tables and the chart.
LABELS = {
    LIBRARY: "sincpro, stock loop",
    LIBRARY_UVLOOP: "sincpro, uvloop",
    DETECTOR: "sincpro, detector on and off",
    DECORATORS: "sincpro, @sync_bridge",
    ONE_CALL: "sincpro, one call",
    REFERENCE: "naive bridge",
    "asyncio.run": "asyncio.run",
    "asgiref": "asgiref",
    "anyio": "anyio portal",
    TASK_FLOOR: "task-floor",
    LOOP_FLOOR: "loop-floor",
    FLOOR: "floor",
}

SCENARIOS = (
    "latency",
    "fire_and_forget",
    "threads8",
    "sleeps_10k",
    "sleeps_100k",
    "decorator_overhead",
    "detector_overhead",
)

#: Scenarios that do a fixed amount of work (100,000 tasks, 10,000 and 100,000 sleeps, the
#: detector's batches), so take longer the busier the machine: most of a run's time, so
#: fewer repeats.
HEAVY = ("fire_and_forget", "sleeps_10k", "sleeps_100k", "detector_overhead")

#: `pinned` (one CPU) is always measured; `split` (two CPUs) only with `--split`.
MODES = ("pinned", "split")


@dataclass(frozen=True)
class TargetSpec:
    """One line of the issue's target table: which figure, compared how, with what bound.

    `kind` is "ratio" (the contender's metric over the naive bridge's, paired by repeat)
    or "difference" (an absolute figure, here microseconds). `bounds` maps a Python
    version ("3.11") to the bound; a Python with no entry is measured but not judged.
    """

    key: str
    label: str
    scenario: str
    contender: str
    metric: str
    kind: str
    at_most: bool
    bounds: dict[str, float]


#: The performance targets of issue 9, judged pinned to one CPU. Fire-and-forget,
#: 8 threads and memory are judged on the stock loop, where the issue's own figures
#: came from; the uvloop figures are shown in the tables beside them.
TARGETS = (
    TargetSpec(
        "latency_stock",
        "blocking latency, stock loop",
        "latency",
        LIBRARY,
        "median_us",
        "ratio",
        at_most=True,
        bounds={"3.11": 0.65, "3.12": 0.47},
    ),
    TargetSpec(
        "latency_uvloop",
        "blocking latency, uvloop",
        "latency",
        LIBRARY_UVLOOP,
        "median_us",
        "ratio",
        at_most=True,
        bounds={"3.11": 0.45, "3.12": 0.40},
    ),
    TargetSpec(
        "fire_and_forget",
        "fire-and-forget, submit + wait",
        "fire_and_forget",
        LIBRARY,
        "tasks_per_s",
        "ratio",
        at_most=False,
        bounds={"3.11": 6.0, "3.12": 7.0},
    ),
    TargetSpec(
        "threads8",
        "8 caller threads",
        "threads8",
        LIBRARY,
        "calls_per_s",
        "ratio",
        at_most=False,
        bounds={"3.11": 2.3, "3.12": 2.8},
    ),
    TargetSpec(
        "memory",
        "memory per pending task, 100,000 sleeps",
        "sleeps_100k",
        LIBRARY,
        "mem_per_task_bytes",
        "ratio",
        at_most=True,
        bounds={"3.11": 0.65, "3.12": 0.65},
    ),
    TargetSpec(
        "decorator",
        "`@sync_bridge` over `run_async_task`",
        "decorator_overhead",
        DECORATORS,
        "overhead_us",
        "difference",
        at_most=True,
        bounds={"3.11": 1.0, "3.12": 1.0},
    ),
)


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does; `full()` and `smoke()` are the two presets."""

    #: Blocking-latency calls: at most this many, and no longer than `latency_seconds`.
    latency_calls: int
    latency_seconds: float
    warmup_calls: int
    fire_and_forget_tasks: int
    #: Caller threads in the multi-thread scenario, and how long they keep calling.
    threads: int
    threads_seconds: float
    sleeps_small: int
    sleeps_large: int
    sleep_seconds: float
    #: Interleaved pairs (one `@sync_bridge` call, one direct call) for the overhead.
    decorator_pairs: int
    #: The detector's cost: rounds of one batch with it on and one with it off, each
    #: batch this many blocking calls and then this many fire-and-forget tasks. Short
    #: batches, many rounds: the machine's speed drifts less within a round.
    detector_rounds: int
    detector_calls: int
    detector_tasks: int
    #: Repeats of the scenarios bounded by time (latency, threads) or cheap (decorator).
    repeats: int
    #: Repeats of the scenarios whose length grows with the load (`HEAVY`): fewer.
    heavy_repeats: int
    #: One child per (contender, scenario) keeps memory figures clean; smoke mode runs
    #: all the scenarios of a contender in one child to save interpreter start-ups.
    child_per_scenario: bool

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            latency_calls=20_000,
            latency_seconds=0.5,
            warmup_calls=300,
            fire_and_forget_tasks=100_000,
            threads=8,
            threads_seconds=0.6,
            sleeps_small=10_000,
            sleeps_large=100_000,
            sleep_seconds=0.5,
            decorator_pairs=10_000,
            detector_rounds=80,
            detector_calls=150,
            detector_tasks=1_000,
            repeats=5,
            heavy_repeats=3,
            child_per_scenario=True,
        )

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(
            latency_calls=50,
            latency_seconds=0.05,
            warmup_calls=5,
            fire_and_forget_tasks=200,
            threads=8,
            threads_seconds=0.02,
            sleeps_small=50,
            sleeps_large=100,
            sleep_seconds=0.01,
            decorator_pairs=50,
            detector_rounds=2,
            detector_calls=20,
            detector_tasks=50,
            repeats=1,
            heavy_repeats=1,
            child_per_scenario=False,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def repeats_for(self, scenario: str) -> int:
        return self.heavy_repeats if scenario in HEAVY else self.repeats
