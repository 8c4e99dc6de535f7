"""Timeouts and cancellation reach the task on the loop (SPEC 2.1)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sincpro_async_worker import configure, run_async_task, stats, sync_bridge


class Sentinel:
    """Records, from the loop, what happened to a coroutine."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()

    async def sleep_forever(self) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def test_timeout_cancels_the_task_on_the_loop_and_raises_builtin_timeout_error() -> None:
    sentinel = Sentinel()
    with pytest.raises(TimeoutError) as info:
        run_async_task(sentinel.sleep_forever(), timeout=0.05)
    assert type(info.value) is TimeoutError
    # The caller returns only once the task has seen its cancellation.
    assert sentinel.cancelled.is_set()
    assert stats().timed_out == 1
    assert stats().running == 0


def test_coroutines_own_timeout_error_is_not_rewritten() -> None:
    own = TimeoutError("the upstream API timed out")

    async def upstream() -> None:
        await asyncio.sleep(0)
        raise own

    with pytest.raises(TimeoutError) as info:
        run_async_task(upstream(), timeout=30)
    assert info.value is own
    assert stats().failed == 1
    assert stats().timed_out == 0


def test_aio_from_another_loop_passes_the_coroutines_own_timeout_error_untouched() -> None:
    # Bug: asyncio.wrap_future replaced it with a bare copy, its cause gone.
    own = TimeoutError("the upstream API timed out")

    @sync_bridge(timeout=30)
    async def upstream() -> None:
        await asyncio.sleep(0)
        raise own from ConnectionResetError("socket")

    async def caller() -> None:
        await upstream.aio()

    with pytest.raises(TimeoutError) as info:
        asyncio.run(caller())
    assert info.value is own
    assert isinstance(own.__cause__, ConnectionResetError)
    assert "upstream" in [frame.name for frame in traceback.extract_tb(own.__traceback__)]
    assert stats().failed == 1


def test_aio_from_another_loop_times_out_with_the_librarys_timeout_error_and_its_cause() -> None:
    @sync_bridge(timeout=0.05)
    async def dawdles() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            raise OSError("cleanup failed")

    async def caller() -> None:
        await dawdles.aio()

    with pytest.raises(TimeoutError, match=r"dawdles\(\) did not finish within") as info:
        asyncio.run(caller())
    assert isinstance(info.value.__cause__, OSError)  # a bare copy had no cause
    assert stats().timed_out == 1


def test_a_task_that_finishes_in_time_is_unaffected_by_its_timeout() -> None:
    async def quick() -> str:
        await asyncio.sleep(0)
        return "done"

    assert run_async_task(quick(), timeout=30) == "done"


def test_fire_and_forget_timeout_cancels_the_task_and_fails_the_future() -> None:
    sentinel = Sentinel()
    future = run_async_task(sentinel.sleep_forever(), timeout=0.05, fire_and_forget=True)
    with pytest.raises(TimeoutError):
        future.result(timeout=5)
    assert sentinel.cancelled.wait(5)


def test_future_cancel_cancels_the_task_on_the_loop() -> None:
    sentinel = Sentinel()
    future = run_async_task(sentinel.sleep_forever(), fire_and_forget=True)
    assert sentinel.started.wait(5)
    assert future.cancel()
    assert future.cancelled()
    assert sentinel.cancelled.wait(5)
    with pytest.raises(concurrent.futures.CancelledError):
        future.result()


def test_future_cancelled_before_the_task_starts_never_runs_it() -> None:
    configure(slow_task_threshold=None)  # the loop is held on purpose below
    gate = threading.Event()
    ran = []

    async def block_loop() -> None:
        gate.wait(5)  # holds the loop so the next submission stays queued

    async def record() -> None:
        ran.append(True)

    run_async_task(block_loop(), fire_and_forget=True)
    future = run_async_task(record(), fire_and_forget=True)
    assert future.cancel()
    gate.set()
    run_async_task(asyncio.sleep(0))  # everything queued before has been handled
    assert ran == []
    assert stats().cancelled == 1


def outcome(fire_and_forget: bool, coro: Any, timeout: float) -> Any:
    """Run `coro` in either mode and return what its caller ends up with."""
    if fire_and_forget:
        return run_async_task(coro, timeout=timeout, fire_and_forget=True).result(10)
    return run_async_task(coro, timeout=timeout)


@pytest.mark.parametrize("fire_and_forget", [False, True], ids=["blocking", "future"])
def test_a_coroutine_that_swallows_its_timeout_cancellation_still_times_out(
    fire_and_forget: bool,
) -> None:
    swallowed = threading.Event()

    async def stubborn() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.set()
        return "late anyway"

    with pytest.raises(TimeoutError, match=r"within its 0\.05 s timeout"):
        outcome(fire_and_forget, stubborn(), 0.05)
    assert swallowed.is_set()
    assert (stats().timed_out, stats().succeeded) == (1, 0)


@pytest.mark.parametrize("fire_and_forget", [False, True], ids=["blocking", "future"])
def test_an_error_in_the_cleanup_after_a_timeout_is_chained_to_the_timeout_error(
    fire_and_forget: bool,
) -> None:
    async def messy() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    with pytest.raises(TimeoutError) as info:
        outcome(fire_and_forget, messy(), 0.05)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "cleanup failed"
    assert (stats().timed_out, stats().failed) == (1, 0)


@pytest.mark.parametrize("fire_and_forget", [False, True], ids=["blocking", "future"])
def test_a_zero_timeout_times_out_without_running_the_coroutine_in_both_modes(
    fire_and_forget: bool,
) -> None:
    ran = threading.Event()

    async def instant() -> str:
        ran.set()  # would finish at once, in its first step, if it were started
        return "done"

    coro = instant()
    with pytest.raises(TimeoutError):
        outcome(fire_and_forget, coro, 0)
    assert not ran.is_set()
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert (stats().submitted, stats().timed_out) == (1, 1)


def timeout_on_the_worker(aio: Callable[[], Awaitable[object]]) -> str:
    """Await `aio()` on the worker loop, where `.aio` awaits directly (bounded by the
    decorator's timeout): the message of the TimeoutError it raised, or "no timeout"."""

    async def on_the_worker() -> str:
        try:
            await aio()
        except (TimeoutError, asyncio.TimeoutError) as exc:  # two classes on 3.10
            return str(exc)
        return "no timeout"

    return run_async_task(on_the_worker(), timeout=10)


def test_aio_on_the_worker_loop_times_out_with_the_message_of_a_timeout() -> None:
    # Bug: on 3.11+ the caller got asyncio's bare TimeoutError(''), unlike everywhere else.
    @sync_bridge(timeout=0.05)
    async def dawdles() -> None:
        await asyncio.sleep(10)

    message = timeout_on_the_worker(dawdles.aio)
    assert "dawdles() did not finish within its 0.05 s timeout and was cancelled" in message


def test_aio_on_the_worker_loop_lets_the_coroutines_own_timeout_error_through() -> None:
    @sync_bridge(timeout=10)
    async def gives_up() -> None:
        raise TimeoutError("upstream did not answer")

    assert timeout_on_the_worker(gives_up.aio) == "upstream did not answer"


def test_aio_on_the_worker_loop_with_a_zero_timeout_never_starts_the_coroutine() -> None:
    # As on the worker's own path: a zero timeout has run out before the task could start.
    # Bug: asyncio.timeout(0) lets the first step run, and a coroutine that finished in
    # it returned its result.
    started = threading.Event()

    @sync_bridge(timeout=0)
    async def instant() -> str:
        started.set()
        return "done"

    assert "did not finish within its 0.0 s timeout" in timeout_on_the_worker(instant.aio)
    assert not started.is_set()


def test_aio_on_the_worker_loop_lets_an_inner_wait_for_timeout_through() -> None:
    # The coroutine's own asyncio.wait_for timing out is its TimeoutError, not the bridge's
    # (on 3.10, asyncio.TimeoutError is a class of its own, and was relabelled). The inner
    # one has no message; the bridge's always has.
    @sync_bridge(timeout=10)
    async def waits_briefly() -> None:
        await asyncio.wait_for(asyncio.sleep(10), 0.01)

    assert timeout_on_the_worker(waits_briefly.aio) == ""
