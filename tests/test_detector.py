"""The blocked-loop detector (issue 9): the step that held the loop is the one reported.

Each test lines its tasks up with events, never with sleeps: tasks that must run in one
loop iteration all wait for the same `asyncio.Event`, which a third step sets, so their
wake-ups are queued together. The blocking itself (`time.sleep`, a busy spin) is what is
being detected, not a way to wait for something.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sincpro_async_worker import configure, run_async_task, shutdown

from .conftest import LOGGER, run_python

REPORT = re.compile(
    r"^(?P<who>.+) blocked the event loop for (?P<wall>\d+\.\d+) s in one step, "
    r"(?P<cpu>\d+\.\d+) s of it running on a CPU; "
)


@dataclass(frozen=True)
class Report:
    who: str
    wall: float
    cpu: float


def reports(caplog: pytest.LogCaptureFixture) -> list[Report]:
    """The detector's reports so far, parsed; any other record of the library fails."""
    found = []
    for record in caplog.records:
        if record.name != LOGGER:
            continue
        match = REPORT.match(record.getMessage())
        assert match is not None, f"not a detector report: {record.getMessage()!r}"
        assert record.levelno == logging.WARNING
        found.append(Report(match["who"], float(match["wall"]), float(match["cpu"])))
    return found


@pytest.fixture
def detector(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The detector at the 0.25 s threshold the issue's cases are stated with."""
    configure(slow_task_threshold=0.25)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        yield caplog


# -- two tasks woken in one loop iteration ------------------------------------------------

Order = list[str]
Blocker = Callable[[asyncio.Event, Order], Coroutine[Any, Any, None]]


async def wait_then_block(label: str, seconds: float, gate: asyncio.Event, order: Order) -> None:
    order.append(f"{label} parked")
    await gate.wait()
    order.append(f"{label} start")
    time.sleep(seconds)  # holds the loop: what the detector must see
    order.append(f"{label} end")


async def first_nap(gate: asyncio.Event, order: Order) -> None:
    await wait_then_block("first", 0.2, gate, order)


async def second_nap(gate: asyncio.Event, order: Order) -> None:
    await wait_then_block("second", 0.2, gate, order)


async def long_blocker(gate: asyncio.Event, order: Order) -> None:
    await wait_then_block("first", 0.6, gate, order)


async def brief_blocker(gate: asyncio.Event, order: Order) -> None:
    await wait_then_block("second", 0.1, gate, order)


def open_gate(gate: asyncio.Event, order: Order) -> None:
    """Wake both tasks at once, and mark the loop iteration after the one they run in."""
    assert order == ["first parked", "second parked"], order
    gate.set()
    # Queued after both wake-ups: it runs in the same iteration as they do, after them.
    asyncio.get_running_loop().call_soon(order.append, "next callback")


async def as_user_tasks(first: Blocker, second: Blocker) -> Order:
    """Both tasks created by user code on the loop: the loop's task factory times them."""
    gate, order = asyncio.Event(), Order()
    tasks = [asyncio.create_task(first(gate, order)), asyncio.create_task(second(gate, order))]
    await asyncio.sleep(0)  # one iteration: both tasks run up to the gate
    open_gate(gate, order)
    await asyncio.gather(*tasks)
    return order


async def gate_opener(gate: asyncio.Event, order: Order) -> None:
    open_gate(gate, order)


def as_worker_jobs(first: Blocker, second: Blocker) -> Order:
    """Both tasks submitted through the library: the worker's own jobs time them."""
    gate, order = asyncio.Event(), Order()
    futures = [
        run_async_task(first(gate, order), fire_and_forget=True),
        run_async_task(second(gate, order), fire_and_forget=True),
    ]
    # Submitted after both, so it runs after each has reached the gate.
    run_async_task(gate_opener(gate, order), timeout=10)
    for future in futures:
        future.result(timeout=10)
    return order


def side_by_side(via: str, first: Blocker, second: Blocker) -> Order:
    if via == "user tasks":
        order = run_async_task(as_user_tasks(first, second), timeout=10)
    else:
        order = as_worker_jobs(first, second)
    # The two steps ran back to back, in one iteration of the loop.
    assert order == [
        "first parked",
        "second parked",
        "first start",
        "first end",
        "second start",
        "second end",
        "next callback",
    ]
    return order


@pytest.mark.parametrize("via", ["user tasks", "worker jobs"])
def test_two_steps_under_the_threshold_in_one_iteration_are_not_reported(
    detector: pytest.LogCaptureFixture, via: str
) -> None:
    # 0.4 s in one loop iteration, but no single step held the loop for 0.25 s.
    side_by_side(via, first_nap, second_nap)
    assert reports(detector) == []


@pytest.mark.library_logs
@pytest.mark.parametrize("via", ["user tasks", "worker jobs"])
def test_the_long_step_is_reported_and_not_the_short_one_after_it(
    detector: pytest.LogCaptureFixture, via: str
) -> None:
    side_by_side(via, long_blocker, brief_blocker)
    found = reports(detector)
    assert len(found) == 1, found
    assert "long_blocker" in found[0].who
    assert "brief_blocker" not in found[0].who
    assert found[0].wall >= 0.6


# -- a task user code created, outliving the job that created it ---------------------------

_kept: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references to tasks


async def late_blocker(gate: asyncio.Event, finished: threading.Event) -> None:
    await gate.wait()
    time.sleep(0.6)
    await asyncio.sleep(0)  # the step above has ended, and been reported, by now
    finished.set()


async def start_a_task_and_return(gate: asyncio.Event, finished: threading.Event) -> None:
    task = asyncio.create_task(late_blocker(gate, finished))
    _kept.add(task)
    task.add_done_callback(_kept.discard)


async def set_gate(gate: asyncio.Event) -> None:
    gate.set()


@pytest.mark.library_logs
def test_a_task_a_job_created_is_reported_when_it_blocks_after_the_job_returned(
    detector: pytest.LogCaptureFixture,
) -> None:
    gate, finished = asyncio.Event(), threading.Event()
    run_async_task(start_a_task_and_return(gate, finished), timeout=10)  # the job is done
    assert reports(detector) == []
    run_async_task(set_gate(gate), timeout=10)
    assert finished.wait(10)
    found = reports(detector)
    assert len(found) == 1, found
    assert "late_blocker" in found[0].who
    assert found[0].wall >= 0.6


# -- every time, and how much of it was CPU -------------------------------------------------


async def naps_half_a_second(suspend_first: bool) -> None:
    if suspend_first:
        await asyncio.sleep(0)  # else the blocking step is the first, eager on 3.12+
    time.sleep(0.5)


@pytest.mark.library_logs
def test_a_half_second_sleep_is_reported_by_name_every_time(
    detector: pytest.LogCaptureFixture,
) -> None:
    for run in range(20):
        run_async_task(naps_half_a_second(suspend_first=run % 2 == 1), timeout=10)
        # Reported by the step itself, before its outcome is handed over.
        found = reports(detector)
        assert len(found) == run + 1, (run, found)
        assert found[-1].who == "naps_half_a_second"
        assert found[-1].wall >= 0.5


async def spins_for_half_a_cpu_second() -> None:
    # Spins until the thread has had 0.5 s of CPU, however long that takes in wall time
    # on a loaded machine: the step is CPU-bound by construction.
    start = time.thread_time()
    while time.thread_time() - start < 0.5:
        pass


async def sleeps_half_a_second() -> None:
    time.sleep(0.5)


@pytest.mark.library_logs
def test_the_report_says_how_much_of_the_blocked_time_ran_on_a_cpu(
    detector: pytest.LogCaptureFixture,
) -> None:
    run_async_task(spins_for_half_a_cpu_second(), timeout=30)
    run_async_task(sleeps_half_a_second(), timeout=10)
    spin, sleep = reports(detector)
    assert spin.who == "spins_for_half_a_cpu_second"
    assert spin.wall >= 0.5
    assert 0.3 <= spin.cpu <= spin.wall
    assert sleep.who == "sleeps_half_a_second"
    assert sleep.wall >= 0.5
    assert sleep.cpu <= 0.1


# -- no false alarm under load ----------------------------------------------------------------


async def no_op() -> None:
    pass


def test_many_tiny_tasks_on_a_starved_machine_are_not_reported() -> None:
    # The default threshold. Two processes keep the CPUs busy: the loop thread is
    # preempted, and the cyclic collector runs over 100,000 live futures, yet no one
    # step of a no-op holds the loop for a quarter of a second. In a fresh interpreter,
    # as a program would run it: the heap this test suite has built up by then is not
    # part of the scenario (its full collections are another matter, see monitor.py).
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        result = run_python(
            """
            import asyncio, concurrent.futures, logging
            from sincpro_async_worker import run_async_task

            logging.basicConfig(level=logging.WARNING)

            async def no_op():
                return None

            futures = [run_async_task(no_op(), fire_and_forget=True) for _ in range(100_000)]
            done, not_done = concurrent.futures.wait(futures, timeout=40)
            assert not not_done and all(f.result() is None for f in done)
            print("done", len(done))
            """,
            timeout=50,
        )
        assert [burner.poll() for burner in burners] == [None, None]  # burning all along
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["done", "100000"]
    assert result.stderr == "", result.stderr


# -- what is not the task's fault ------------------------------------------------------------


@pytest.mark.library_logs  # the shutdown names each task it cancels
def test_the_drain_cancelling_thousands_of_tasks_is_not_reported_as_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Bug: the library's own drain step (cancelling and naming every pending task) was
    # reported as a task blocking the loop, with advice to use run_in_executor().
    configure(slow_task_threshold=0.01)
    futures = [run_async_task(asyncio.sleep(3600), fire_and_forget=True) for _ in range(3000)]
    run_async_task(asyncio.sleep(0))  # all of them started
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        shutdown(timeout=0)
    assert all(future.cancelled() for future in futures)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 3000
    assert all(m.startswith("Cancelled sleep") for m in messages), messages[:3]


async def collects_a_crowded_heap() -> None:
    crowd: list[list[int]] = [[] for _ in range(300_000)]  # for the collector to walk
    gc.collect()
    del crowd


def test_a_step_that_a_full_garbage_collection_ran_in_is_only_logged_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # With tens of thousands of live objects a full collection alone takes longer than
    # the threshold; whichever task's step it lands in is not to blame for it.
    configure(slow_task_threshold=0.001)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        run_async_task(collects_a_crowded_heap(), timeout=30)
    records = [r for r in caplog.records if r.name == LOGGER and "one step" in r.getMessage()]
    assert [r.levelname for r in records] == ["DEBUG"]
    assert records[0].getMessage().startswith("collects_a_crowded_heap held the event loop")
    assert "while a full garbage collection ran" in records[0].getMessage()
