"""What the library logs: unobserved failures and loop-blocking tasks, nothing else."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import threading
import time

import pytest

from sincpro_async_worker import configure, run_async_task

from .conftest import LOGGER, wait_for_records


async def fail_later() -> None:
    await asyncio.sleep(0)
    raise ValueError("nobody looked at me")


@pytest.mark.library_logs
def test_an_unobserved_fire_and_forget_failure_is_logged_once_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future = run_async_task(fail_later(), fire_and_forget=True)
    while not future.done():
        time.sleep(0.001)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        del future
        errors = wait_for_records(caplog)
    assert len(errors) == 1
    assert "fail_later" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], ValueError)


def test_an_observed_failure_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    future = run_async_task(fail_later(), fire_and_forget=True)
    assert isinstance(future.exception(timeout=5), ValueError)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        del future
        gc.collect()
    assert [r for r in caplog.records if r.levelno > logging.DEBUG] == []


def test_a_failure_retrieved_through_result_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future = run_async_task(fail_later(), fire_and_forget=True)
    with pytest.raises(ValueError, match="nobody"):
        future.result(timeout=5)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        del future
        gc.collect()
    assert [r for r in caplog.records if r.levelno > logging.DEBUG] == []


@pytest.mark.library_logs
@pytest.mark.parametrize("suspends_first", [True, False], ids=["after-an-await", "at-once"])
def test_a_task_blocking_the_loop_is_reported_with_its_name_and_duration(
    caplog: pytest.LogCaptureFixture, suspends_first: bool
) -> None:
    # At once: on Python 3.12+ that first step runs eagerly, inside the submission.
    configure(slow_task_threshold=0.05)

    async def crunch_synchronously() -> str:
        if suspends_first:
            await asyncio.sleep(0)
        time.sleep(0.4)  # the mistake being reported
        return "done"

    def reports() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if "blocked the event loop" in r.getMessage()
        ]

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert run_async_task(crunch_synchronously(), timeout=10) == "done"
        # Reported by the task's own last step, so it is there when the call returns.
        assert len(reports()) == 1, reports()
        assert run_async_task(asyncio.sleep(0, "loop alive"), timeout=10) == "loop alive"
    assert len(reports()) == 1, reports()
    assert "crunch_synchronously" in reports()[0]
    seconds = float(reports()[0].split(" for ")[1].split(" s")[0])
    assert seconds >= 0.3


@pytest.mark.library_logs
def test_a_task_blocking_the_loop_is_reported_while_another_thread_keeps_a_cpu_busy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Busy threads elsewhere in the process are the normal case in a web server. The
    # loop thread asleep in time.sleep() is the task's doing, however busy the rest is.
    configure(slow_task_threshold=0.2)
    stop = threading.Event()

    def keep_busy() -> None:
        while not stop.is_set():
            sum(range(1000))

    async def nap_synchronously() -> None:
        await asyncio.sleep(0)
        time.sleep(0.8)

    busy = threading.Thread(target=keep_busy, name="busy")
    busy.start()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            run_async_task(nap_synchronously(), timeout=10)
    finally:
        stop.set()
        busy.join(10)
    reports = [r.getMessage() for r in caplog.records if "blocked the event loop" in r.getMessage()]
    assert len(reports) == 1, reports
    assert ".nap_synchronously blocked the event loop for " in reports[0]


def test_the_slow_task_watchdog_can_be_switched_off() -> None:
    configure(slow_task_threshold=None)

    async def crunch() -> None:
        time.sleep(0.2)

    run_async_task(crunch())  # no report: the autouse fixture fails the test on one


def test_a_task_is_not_blamed_for_the_time_its_outcome_waits_to_be_handed_over() -> None:
    # Its own code has returned; the loop then waits for the caller's thread to let go
    # of the future's lock (here held on purpose; under contention, for real). That is
    # no synchronous work of the task's, and a report would send its author hunting.
    configure(slow_task_threshold=0.05)
    finished = threading.Event()

    async def quick() -> str:
        await asyncio.sleep(0)
        finished.set()
        return "done"

    other_work = run_async_task(asyncio.sleep(0.6, "other"), fire_and_forget=True)
    future = run_async_task(quick(), fire_and_forget=True)
    with future._condition:  # a caller holding its lock
        assert finished.wait(10)
        time.sleep(0.4)  # the loop stalls in the handover, well past the threshold
    assert future.result(10) == "done"
    assert other_work.result(10) == "other"
    assert run_async_task(asyncio.sleep(0, "alive"), timeout=10) == "alive"
    # No report: the autouse fixture fails the test on any record above DEBUG.


@pytest.mark.library_logs
def test_a_wait_that_timed_out_does_not_count_as_retrieving_the_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    async def fail_when_released() -> None:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        raise ValueError("raised after the poll gave up")

    future = run_async_task(fail_when_released(), fire_and_forget=True)
    with pytest.raises(concurrent.futures.TimeoutError):  # TimeoutError itself from 3.11
        future.result(timeout=0.01)  # saw nothing
    release.set()
    while not future.done():
        time.sleep(0.001)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        del future
        messages = [r.getMessage() for r in wait_for_records(caplog)]
    assert len(messages) == 1, messages
    assert "fail_when_released failed and its exception was never retrieved" in messages[0]


def test_a_future_its_owner_cancelled_is_not_reported_as_an_unretrieved_failure() -> None:
    holder: list[concurrent.futures.Future[None]] = []
    submitted = threading.Event()

    async def cancelled_then_failing() -> None:
        await asyncio.get_running_loop().run_in_executor(None, submitted.wait, 10)
        holder[0].cancel()  # the owner cancels while the task is already finishing
        raise ValueError("nobody asked for this any more")

    holder.append(run_async_task(cancelled_then_failing(), fire_and_forget=True))
    submitted.set()
    while not holder[0].done():
        time.sleep(0.001)
    assert holder[0].cancelled()
    holder.clear()
    gc.collect()  # the autouse fixture fails the test on any ERROR logged here


def test_a_stall_report_that_fails_still_hands_the_caller_its_result(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the guard, the report's exception escaped before the delivery and the
    # caller, with no timeout, waited for ever. The report asks asyncio for the task.
    configure(slow_task_threshold=0.05)
    attempts: list[str] = []
    current_task = asyncio.current_task

    def broken_current_task(loop: asyncio.AbstractEventLoop | None = None) -> object:
        if threading.current_thread().name == "sincpro-async-worker":
            attempts.append("report")
            raise RuntimeError("a bug in the report")
        return current_task(loop)

    async def crunch() -> str:
        await asyncio.sleep(0)
        time.sleep(0.3)
        return "done"

    coro = crunch()
    monkeypatch.setattr(asyncio, "current_task", broken_current_task)
    with caplog.at_level(logging.ERROR):
        assert run_async_task(coro, timeout=10) == "done"
    monkeypatch.undo()
    assert run_async_task(asyncio.sleep(0, "alive"), timeout=10) == "alive"
    assert attempts == ["report"]
    assert caplog.records == []  # nor did asyncio log an exception in a callback
