"""Names and sizes shared by the orchestrator and the child processes.

Everything that decides how long `make bench` takes lives here, so the suite can be
re-balanced without touching the measuring code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Every ratio in the report is taken against this contender, measured in the same run.
REFERENCE = "naive"
#: The library's own contender: the one the targets are about.
LIBRARY = "sincpro"
#: Not asyncio at all: the cost of crossing threads, which no bridge can beat.
FLOOR = "floor"
#: The least an asyncio loop thread can do per call: a wake-up and a callback, no Task.
LOOP_FLOOR = "loop-floor"
#: Lower bounds, not bridges: shown for scale, never counted as rivals.
BOUNDS = (FLOOR, LOOP_FLOOR)

#: The library's ways of running work: per-call (blocking or fire-and-forget), through
#: the decorators, or one blocking call that gathers many coroutines inside the loop.
LIBRARY_VARIANTS = (LIBRARY, "sincpro-decorators", "sincpro-one-call")

CONTENDERS = (
    *LIBRARY_VARIANTS,
    REFERENCE,
    "asyncio.run",
    "asgiref",
    "anyio",
    LOOP_FLOOR,
    FLOOR,
)

SCENARIOS = (
    "latency",
    "fire_and_forget",
    "threads8",
    "sleeps_10k",
    "sleeps_100k",
    "decorator_overhead",
)

MODES = ("pinned", "split")


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
    repeats: int
    #: The 100,000-sleep scenario is the slowest: it gets fewer repeats.
    large_sleep_repeats: int
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
            decorator_pairs=20_000,
            repeats=5,
            large_sleep_repeats=3,
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
            repeats=1,
            large_sleep_repeats=1,
            child_per_scenario=False,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def repeats_for(self, scenario: str) -> int:
        return self.large_sleep_repeats if scenario == "sleeps_100k" else self.repeats
