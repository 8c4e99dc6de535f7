"""The scenarios, each measured on one already started contender inside a child process.

Every scenario warms its path up first (the first call of anything imports, allocates and
starts threads), collects garbage, then measures. Each returns a flat dict of metrics.
"""

from __future__ import annotations

import gc
import operator
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from .config import Sizes
from .contenders import Call, Contender, SincproDetector, held_napper, noop

Metrics = dict[str, float]

_NS_PER_US = 1_000
_US_PER_S = 1e6
_STATUS = Path("/proc/self/status")


def latency(contender: Contender, sizes: Sizes) -> Metrics:
    """One caller, one blocking call of a trivial coroutine at a time: median and p99."""
    call = contender.blocking(noop)
    samples = _timed_calls([call], sizes.warmup_calls, sizes.latency_calls, sizes.latency_seconds)
    median, p99 = _median_and_p99(samples[0])
    return {"median_us": median, "p99_us": p99, "calls": len(samples[0])}


def fire_and_forget(contender: Contender, sizes: Sizes) -> Metrics:
    """Submit N trivial tasks without waiting, then wait for all of them."""
    spawn = contender.spawner(noop)
    contender.wait_all([spawn() for _ in range(sizes.warmup_calls)])
    n = sizes.fire_and_forget_tasks
    gc.collect()
    started = time.perf_counter()
    handles = [spawn() for _ in range(n)]
    submitted = time.perf_counter()
    contender.wait_all(handles)
    finished = time.perf_counter()
    return {"tasks_per_s": n / (finished - started), "submit_per_s": n / (submitted - started)}


def threads(contender: Contender, sizes: Sizes) -> Metrics:
    """`sizes.threads` callers making blocking calls back to back for a fixed time."""
    count = sizes.threads
    calls = [0] * count
    ready = threading.Barrier(count + 1)
    deadline = 0.0

    def caller(index: int) -> None:
        call = contender.blocking(noop)
        call()  # warm-up: asyncio.run and asgiref set things up per thread
        ready.wait()
        n = 0
        while time.perf_counter() < deadline:
            call()
            n += 1
        calls[index] = n

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    gc.collect()
    started = time.perf_counter()
    deadline = started + sizes.threads_seconds
    ready.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return {"calls_per_s": sum(calls) / elapsed}


def sleeps(contender: Contender, sizes: Sizes, n: int) -> Metrics:
    """`n` concurrent `asyncio.sleep()` tasks started from sync code, then waited for.

    Every task waits until all `n` have been submitted, then sleeps, so all `n` are
    pending together. Memory is the rise of the process's peak resident set size
    (`VmHWM`, reset just before the run) over its resident size at the start, divided by
    `n`: everything the contender keeps per pending task (futures, tasks, coroutine
    frames, bookkeeping) counts. Wall time runs from the first submission to the last
    result.
    """
    warm_nap, warm_release = held_napper(0.0)
    contender.run_concurrently(warm_nap, sizes.warmup_calls, warm_release)
    nap, release = held_napper(sizes.sleep_seconds)
    gc.collect()
    _reset_peak_rss()
    before = _rss_kib("VmRSS")
    started = time.perf_counter()
    contender.run_concurrently(nap, n, release)
    wall = time.perf_counter() - started
    peak = _rss_kib("VmHWM")
    return {"wall_s": wall, "mem_per_task_bytes": (peak - before) * 1024 / n, "tasks": n}


def decorator_overhead(contender: Contender, sizes: Sizes) -> Metrics:
    """`@sync_bridge` against a direct `run_async_task` call, interleaved call by call.

    Interleaving (alternating which goes first) exposes both to the same noise, so the
    difference of their medians is the decorator's own cost.
    """
    bridged, direct = contender.blocking(noop), contender.undecorated(noop)
    samples = _timed_calls(
        [bridged, direct], sizes.warmup_calls, sizes.decorator_pairs, seconds=None
    )
    bridged_us, _ = _median_and_p99(samples[0])
    direct_us, _ = _median_and_p99(samples[1])
    return {
        "overhead_us": bridged_us - direct_us,
        "sync_bridge_us": bridged_us,
        "direct_us": direct_us,
    }


def detector_overhead(contender: Contender, sizes: Sizes) -> Metrics:
    """The blocked-loop detector's cost per blocking call and per fire-and-forget task.

    One process; the worker is restarted before each batch with the detector on or off,
    a round being one batch of each, in the order on-off, off-on, on-off, ... A batch is
    `detector_calls` timed blocking calls (their median), then `detector_tasks`
    fire-and-forget tasks submitted and waited for (the time per task). The cost is the
    median over rounds of on minus off. On a shared machine the speed moves by tens of
    percent from one second to the next; many short rounds, each compared within itself,
    measure a cost under a microsecond that medians over whole runs cannot.
    """
    detector = cast("SincproDetector", contender)
    warmup = min(sizes.warmup_calls, 50)
    calls: dict[bool, list[float]] = {True: [], False: []}
    tasks: dict[bool, list[float]] = {True: [], False: []}
    for round_number in range(sizes.detector_rounds):
        for on in (True, False) if round_number % 2 == 0 else (False, True):
            detector.detector(on)
            samples = _timed_calls([detector.blocking(noop)], warmup, sizes.detector_calls, None)
            calls[on].append(_median_and_p99(samples[0])[0])
            spawn = detector.spawner(noop)
            detector.wait_all([spawn() for _ in range(warmup)])
            gc.collect()
            started = time.perf_counter()
            detector.wait_all([spawn() for _ in range(sizes.detector_tasks)])
            elapsed = time.perf_counter() - started
            tasks[on].append(elapsed / sizes.detector_tasks * _US_PER_S)
    return {
        "call_cost_us": statistics.median(map(operator.sub, calls[True], calls[False])),
        "call_on_us": statistics.median(calls[True]),
        "call_off_us": statistics.median(calls[False]),
        "task_cost_us": statistics.median(map(operator.sub, tasks[True], tasks[False])),
        "task_on_us": statistics.median(tasks[True]),
        "task_off_us": statistics.median(tasks[False]),
    }


SCENARIOS: dict[str, Callable[[Contender, Sizes], Metrics]] = {
    "latency": latency,
    "fire_and_forget": fire_and_forget,
    "threads8": threads,
    "sleeps_10k": lambda contender, sizes: sleeps(contender, sizes, sizes.sleeps_small),
    "sleeps_100k": lambda contender, sizes: sleeps(contender, sizes, sizes.sleeps_large),
    "decorator_overhead": decorator_overhead,
    "detector_overhead": detector_overhead,
}


def _timed_calls(
    calls: list[Call], warmup: int, rounds: int, seconds: float | None
) -> list[list[int]]:
    """Time each call of `calls` per round (in rotating order), in nanoseconds.

    Stops after `rounds` rounds, or once `seconds` have passed if given.
    """
    for _ in range(warmup):
        for call in calls:
            call()
    samples: list[list[int]] = [[] for _ in calls]
    order = list(zip(calls, samples, strict=True))
    clock = time.perf_counter_ns
    gc.collect()
    deadline = None if seconds is None else clock() + int(seconds * 1e9)
    for _ in range(rounds):
        for call, timings in order:
            begin = clock()
            call()
            end = clock()
            timings.append(end - begin)
        if deadline is not None and end > deadline:
            break
        order.append(order.pop(0))
    return samples


def _median_and_p99(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) / _NS_PER_US, p99 / _NS_PER_US


def _rss_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in {_STATUS}; the benchmarks need Linux")


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")
