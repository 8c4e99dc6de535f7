"""Soak test: a million mixed operations through one worker, watching memory and counters.

Run it (not part of `make test`; it takes a minute or two):

    .venv/bin/python -m benchmarks.soak            # 1,000,000 operations, 4 caller threads
    .venv/bin/python benchmarks/soak.py --ops 200000 --threads 8

Several caller threads issue a seeded mix of blocking calls, fire-and-forget calls,
decorated calls, tasks that raise, timeouts that fire, cancelled futures and async
generators left half-way. At every tenth of the run it prints throughput, the process's
resident memory and the worker's counters. Memory must level off after the warm-up: the
last checkpoint may not exceed the one after warm-up by more than the noise allowance.
The exit status is non-zero if an operation ended wrongly, memory kept growing, or the
counters do not add up.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import random
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from sincpro_async_worker import fire_and_forget, run_async_task, shutdown, stats, sync_bridge

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: Memory growth from the end of warm-up to the end that still counts as noise.
NOISE_MB = 8.0


def rss_mb() -> float:
    """Current resident set size (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class Planned(Exception):
    pass


async def echo(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def fail(value: int) -> int:
    await asyncio.sleep(0)
    raise Planned(value)


async def hang() -> None:
    await asyncio.sleep(3600)


@sync_bridge
async def bridged(value: int) -> int:
    await asyncio.sleep(0)
    return value


@fire_and_forget
async def fired(value: int) -> int:
    await asyncio.sleep(0)
    return value


@sync_bridge
async def numbers() -> AsyncIterator[int]:
    for n in range(100):
        await asyncio.sleep(0)
        yield n


KINDS = {
    "blocking": 30,
    "fire": 35,
    "blocking_raises": 4,
    "fire_raises": 4,
    "fire_times_out": 3,
    "fire_cancelled": 4,
    "blocking_times_out": 1,
    "bridged": 10,
    "fired": 6,
    "generator_abandoned": 3,
}


class Soak:
    def __init__(self, ops: int, threads: int, seed: int) -> None:
        self.ops, self.threads, self.seed = ops, threads, seed
        self.done = 0
        self.wrong: list[str] = []
        self.lock = threading.Lock()
        self.checkpoints: list[tuple[int, float, float]] = []  # (ops, seconds, rss MB)
        self.next_checkpoint = 0
        self.started = 0.0

    def run_batch(self, rng: random.Random, size: int) -> None:
        futures: list[tuple[str, int, concurrent.futures.Future[Any]]] = []
        kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=size)
        for n, kind in enumerate(kinds):
            if kind == "blocking":
                self.expect(run_async_task(echo(n)) == n, kind)
            elif kind == "fire":
                futures.append((kind, n, run_async_task(echo(n), fire_and_forget=True)))
            elif kind == "blocking_raises":
                try:
                    run_async_task(fail(n))
                except Planned as exc:
                    self.expect(exc.args == (n,), kind)
                else:
                    self.expect(False, kind)
            elif kind == "fire_raises":
                futures.append((kind, n, run_async_task(fail(n), fire_and_forget=True)))
            elif kind == "fire_times_out":
                futures.append((kind, n, run_async_task(hang(), 0.001, fire_and_forget=True)))
            elif kind == "fire_cancelled":
                future = run_async_task(hang(), fire_and_forget=True)
                future.cancel()
                futures.append((kind, n, future))
            elif kind == "blocking_times_out":
                try:
                    run_async_task(hang(), timeout=0.001)
                except TimeoutError:
                    pass
                else:
                    self.expect(False, kind)
            elif kind == "bridged":
                self.expect(bridged(n) == n, kind)
            elif kind == "fired":
                futures.append((kind, n, fired(n)))
            else:
                for item in numbers():
                    if item == 1:
                        break
        for kind, n, future in futures:
            try:
                outcome: object = future.result(60)
            except Planned as exc:
                outcome = exc.args
            except TimeoutError:
                outcome = "timeout"
            except concurrent.futures.CancelledError:
                outcome = "cancelled"
            wanted = {
                "fire_raises": (n,),
                "fire_times_out": "timeout",
                "fire_cancelled": "cancelled",
            }.get(kind, n)
            self.expect(outcome == wanted, kind)
        self.count(size)

    def expect(self, ok: bool, kind: str) -> None:
        if not ok:
            self.wrong.append(kind)

    def count(self, size: int) -> None:
        with self.lock:
            self.done += size
            while self.done >= self.next_checkpoint:
                self.checkpoint()
                self.next_checkpoint += self.ops // 10

    def checkpoint(self) -> None:
        elapsed = time.perf_counter() - self.started
        self.checkpoints.append((self.done, elapsed, rss_mb()))
        rate = self.done / elapsed if elapsed else 0.0
        print(
            f"{self.done:>9,} ops  {elapsed:7.1f} s  {rate:>8,.0f} ops/s  "
            f"RSS {rss_mb():6.1f} MB  {stats()}",
            flush=True,
        )

    def caller(self, index: int) -> None:
        rng = random.Random(f"{self.seed}-{index}")
        share = self.ops // self.threads
        while share > 0:
            size = min(100, share)
            self.run_batch(rng, size)
            share -= size

    def run(self) -> int:
        print(f"soak: {self.ops:,} operations from {self.threads} threads, seed {self.seed}")
        run_async_task(echo(0))  # start the worker before the first checkpoint
        self.started = time.perf_counter()
        self.checkpoint()
        self.next_checkpoint = self.ops // 10
        callers = [threading.Thread(target=self.caller, args=(i,)) for i in range(self.threads)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join()
        elapsed = time.perf_counter() - self.started
        deadline = time.monotonic() + 30
        while stats().running and time.monotonic() < deadline:
            time.sleep(0.01)  # cancellations reach the loop after the futures resolve
        final = stats()
        finished = final.succeeded + final.failed + final.cancelled + final.timed_out
        warm = self.checkpoints[min(2, len(self.checkpoints) - 1)][2]
        end = rss_mb()
        growth = end - warm
        print(
            f"done: {self.done:,} ops in {elapsed:.1f} s = {self.done / elapsed:,.0f} ops/s; "
            f"RSS start {self.checkpoints[0][2]:.1f} MB, after warm-up {warm:.1f} MB, "
            f"end {end:.1f} MB (growth after warm-up {growth:+.1f} MB); {final}"
        )
        problems = []
        if self.wrong:
            problems.append(f"{len(self.wrong)} operations ended wrongly: {self.wrong[:5]}")
        if final.running or finished != final.submitted:
            problems.append(f"counters do not add up: {final}")
        if growth > NOISE_MB:
            problems.append(f"memory grew by {growth:.1f} MB after warm-up")
        shutdown()
        for problem in problems:
            print("FAIL:", problem)
        return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    return Soak(args.ops, args.threads, args.seed).run()


if __name__ == "__main__":
    sys.exit(main())
