"""@sync_bridge on an async generator function gives a sync generator (SPEC 2.2)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import threading
from collections.abc import AsyncIterator, Generator

import pytest

from sincpro_async_worker import (
    WorkerNotRunningError,
    run_async_task,
    shutdown,
    stats,
    sync_bridge,
    sync_iter,
)

tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="unset")


class Numbers:
    """An async generator that records where and whether its cleanup ran."""

    def __init__(self) -> None:
        self.closed_on: list[str] = []
        self.closed = threading.Event()

    @sync_bridge
    async def count(self, n: int) -> AsyncIterator[int]:
        try:
            for i in range(n):
                await asyncio.sleep(0)
                yield i
        finally:
            self.closed_on.append(threading.current_thread().name)
            self.closed.set()


def test_it_returns_a_sync_generator_that_steps_on_the_worker_loop() -> None:
    numbers = Numbers()
    gen = numbers.count(3)
    assert inspect.isgenerator(gen)
    assert list(gen) == [0, 1, 2]
    assert numbers.closed_on == ["sincpro-async-worker"]


def test_break_closes_the_async_generator_on_the_loop() -> None:
    numbers = Numbers()
    for i in numbers.count(100):
        if i == 2:
            break
    assert numbers.closed.wait(5)
    assert numbers.closed_on == ["sincpro-async-worker"]


def test_an_exception_in_the_loop_body_closes_it_on_the_loop() -> None:
    numbers = Numbers()

    def consume() -> None:
        for i in numbers.count(100):
            if i == 1:
                raise RuntimeError("consumer failed")

    with pytest.raises(RuntimeError, match="consumer failed"):
        consume()
    assert numbers.closed.wait(5)
    assert numbers.closed_on == ["sincpro-async-worker"]


def test_close_closes_it_on_the_loop() -> None:
    numbers = Numbers()
    gen = numbers.count(100)
    assert next(gen) == 0
    assert isinstance(gen, Generator)  # typed as an Iterator; at run time a generator
    gen.close()
    assert numbers.closed_on == ["sincpro-async-worker"]


def test_garbage_collection_closes_it_on_the_loop() -> None:
    numbers = Numbers()
    gen = numbers.count(100)
    assert next(gen) == 0
    del gen
    gc.collect()
    assert numbers.closed.wait(5)
    assert numbers.closed_on == ["sincpro-async-worker"]


def test_timeout_applies_to_each_step() -> None:
    @sync_bridge(timeout=0.2)
    async def ticks() -> AsyncIterator[int]:
        for delay in (0.01, 0.01, 0.01, 5):
            await asyncio.sleep(delay)
            yield 1

    received: list[int] = []

    def consume() -> None:
        for item in ticks():  # three quick steps take 0.03 s in all, the fourth times out
            received.append(item)

    with pytest.raises(TimeoutError):
        consume()
    assert received == [1, 1, 1]
    run_async_task(asyncio.sleep(0))
    assert stats().timed_out == 1
    assert stats().running == 0


def test_an_exception_inside_the_generator_reaches_the_consumer() -> None:
    @sync_bridge
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise ValueError("generator failed")

    gen = broken()
    assert next(gen) == 1
    with pytest.raises(ValueError, match="generator failed"):
        next(gen)


def test_context_variables_set_inside_survive_between_steps() -> None:
    @sync_bridge
    async def traced() -> AsyncIterator[str]:
        token = tag.set("inside")
        yield tag.get()
        yield tag.get()
        tag.reset(token)  # would fail if the steps ran in different contexts
        yield tag.get()

    tag.set("caller")
    assert list(traced()) == ["inside", "inside", "caller"]
    assert tag.get() == "caller"


def test_exhausting_it_counts_as_success_not_failure() -> None:
    numbers = Numbers()
    list(numbers.count(2))
    snapshot = stats()
    assert snapshot.failed == 0
    assert snapshot.running == 0


def test_a_step_timeout_is_reported_even_while_the_generator_is_still_cleaning_up() -> None:
    @sync_bridge(timeout=0.1)
    async def slow_to_cancel() -> AsyncIterator[int]:
        yield 1
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(1.5)  # cleanup outlives the caller's wait for it
            raise
        yield 2  # pragma: no cover - never reached

    gen = slow_to_cancel()
    assert next(gen) == 1
    with pytest.raises(TimeoutError):
        next(gen)


def test_a_shutdown_in_the_middle_of_iterating_is_an_error_not_a_quiet_end() -> None:
    numbers = Numbers()
    gen = numbers.count(5)
    assert next(gen) == 0
    shutdown()  # closes the loop, and the async generator with it
    assert numbers.closed.is_set()
    with pytest.raises(WorkerNotRunningError, match="closed when the worker shut down"):
        next(gen)
    assert list(numbers.count(2)) == [0, 1]  # a new iteration runs on the fresh worker


async def three() -> AsyncIterator[int]:
    for i in range(3):
        yield i


def test_iterating_a_generator_that_has_already_ended_yields_nothing_as_async_for_does() -> None:
    # Bug: a generator found finished before the first step was taken for one that
    # shutdown() had closed, and iterating it again raised WorkerNotRunningError.
    exhausted = three()
    assert list(sync_iter(exhausted)) == [0, 1, 2]
    assert list(sync_iter(exhausted)) == []
    left = three()
    for _ in sync_iter(left):
        break  # closes it on the loop
    assert list(sync_iter(left)) == []
    assert stats().failed == 0


def test_a_close_that_outlasts_the_timeout_is_cancelled_and_counted_as_timed_out() -> None:
    # Bug: the close after leaving early ran unbounded; the caller stopped waiting after
    # the timeout, with a bare TimeoutError, and the cleanup went on in the background.
    cancelled = threading.Event()

    async def slow_to_close() -> AsyncIterator[int]:
        try:
            yield 1
        finally:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    steps = sync_iter(slow_to_close(), timeout=0.2)
    assert next(steps) == 1
    with pytest.raises(TimeoutError, match=r"slow_to_close.aclose\(\) did not finish within"):
        steps.close()
    assert cancelled.is_set()
    assert stats().timed_out == 1
    assert stats().running == 0


def test_a_coroutine_given_to_sync_iter_is_refused_and_closed() -> None:
    coro = three_later()
    with pytest.raises(TypeError, match="expects an async iterable"):
        sync_iter(coro)  # type: ignore[arg-type]  # the mistake under test
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


async def three_later() -> int:
    return 3


def test_each_step_is_a_task_named_after_its_generator() -> None:
    async def names() -> AsyncIterator[str]:
        while True:
            task = asyncio.current_task()
            assert task is not None
            yield task.get_name()

    steps = sync_iter(names())
    assert [next(steps), next(steps)] == [names.__qualname__] * 2
    steps.close()
