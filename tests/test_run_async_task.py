"""run_async_task: results, errors, awaitables and bad input (SPEC 2.1)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import decimal
import fractions
import gc
import math
import sys
import traceback
import types
from collections.abc import Generator
from typing import Any

import pytest

from sincpro_async_worker import run_async_task, stats

from .conftest import hold_the_loop


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


class Boom(Exception):
    pass


async def explode() -> None:
    await asyncio.sleep(0)
    raise Boom("inside the coroutine")


class Ready:
    """A plain awaitable that is not a coroutine."""

    def __await__(self) -> Generator[Any, None, str]:
        yield from asyncio.sleep(0).__await__()
        return "ready"


def test_blocking_call_returns_the_coroutines_result() -> None:
    assert run_async_task(double(21)) == 42


def test_exception_propagates_with_its_type_and_traceback() -> None:
    with pytest.raises(Boom, match="inside the coroutine") as info:
        run_async_task(explode())
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "explode" in frames


def test_any_awaitable_is_accepted() -> None:
    assert run_async_task(Ready()) == "ready"


def test_an_asyncio_future_of_another_loop_is_refused_with_the_fix_and_left_alone() -> None:
    # Bug: asyncio's "attached to a different loop" reached the caller, with no way out.
    other = asyncio.new_event_loop()
    try:
        foreign = other.create_future()
        with pytest.raises(ValueError, match=r"Future belongs to the event loop.*coroutine"):
            run_async_task(foreign, timeout=5)
        assert not foreign.done()  # not cancelled: it is its own loop's
    finally:
        other.close()


def test_an_asyncio_future_of_the_worker_loop_can_be_awaited() -> None:
    async def make() -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, "set on the loop")
        return future

    assert run_async_task(run_async_task(make(), timeout=5), timeout=5) == "set on the loop"


def test_fire_and_forget_returns_a_concurrent_future_at_once() -> None:
    future = run_async_task(double(4), fire_and_forget=True)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=5) == 8


def test_fire_and_forget_delivers_the_exception_on_the_future() -> None:
    future = run_async_task(explode(), fire_and_forget=True)
    assert isinstance(future.exception(timeout=5), Boom)


@dataclasses.dataclass(frozen=True)
class Declined(Exception):
    code: str


async def decline() -> None:
    await asyncio.sleep(0)
    raise Declined("insufficient_funds")


def test_an_exception_that_refuses_attribute_writes_still_reaches_the_caller() -> None:
    # Bug: trimming the traceback assigned to a frozen dataclass exception's
    # __traceback__, which raised inside the task: the caller waited for ever.
    with pytest.raises(Declined) as caught:
        run_async_task(decline(), timeout=10)
    assert "decline" in [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    future = run_async_task(decline(), timeout=10, fire_and_forget=True)
    assert isinstance(future.exception(10), Declined)
    assert stats().failed == 2


class RefusesWithTraceback(Exception):
    def with_traceback(self, tb: Any) -> RefusesWithTraceback:
        raise RuntimeError("with_traceback() refused")


class HidesItsClass(Exception):
    @property  # type: ignore[misc]  # the point: a class that fails when asked
    def __class__(self) -> type:  # pyright: ignore[reportIncompatibleVariableOverride]
        raise RuntimeError("__class__ refused")


@pytest.mark.parametrize("error", [RefusesWithTraceback, HidesItsClass], ids=lambda e: e.__name__)
def test_an_exception_whose_own_methods_fail_still_reaches_the_caller(error: type) -> None:
    # Bug: the library called the exception's with_traceback(), and asked its __class__
    # (through isinstance()): user code, which raised inside the task, and the caller
    # waited for ever.
    async def fail() -> None:
        await asyncio.sleep(0)
        raise error("declined")

    # Types, not the exceptions, are kept: a test tool asking the second its __class__
    # would fail too.
    caught: list[type] = []
    try:
        run_async_task(fail(), timeout=10)
    except Exception as exc:
        caught.append(type(exc))
    future = run_async_task(fail(), timeout=10, fire_and_forget=True)
    caught.append(type(future.exception(10)))
    assert caught == [error, error]
    assert stats().failed == 2


def test_a_cancelled_error_the_coroutine_raises_itself_is_the_cause_of_the_callers() -> None:
    async def hedged() -> None:
        inner = asyncio.ensure_future(asyncio.sleep(10))
        asyncio.get_running_loop().call_soon(inner.cancel, "upstream closed the request")
        await inner

    with pytest.raises(concurrent.futures.CancelledError) as caught:
        run_async_task(hedged(), timeout=10)
    cause = caught.value.__cause__
    assert isinstance(cause, asyncio.CancelledError)
    # 3.10's asyncio drops a cancel message on its way up an await.
    message = ("upstream closed the request",) if sys.version_info >= (3, 11) else ()
    assert cause.args == message
    assert "hedged" in [f.name for f in traceback.extract_tb(cause.__traceback__)]
    assert stats().cancelled == 1


def test_the_same_coroutine_submitted_twice_before_it_starts_runs_once() -> None:
    # Bug: both submissions were taken, and two tasks drove one coroutine, step by step.
    steps: list[int] = []

    async def three_steps() -> str:
        for step in range(3):
            steps.append(step)
            await asyncio.sleep(0)
        return "ran once"

    coro = three_steps()
    hold = hold_the_loop()  # both submissions wait in the queue, neither started
    try:
        first = run_async_task(coro, timeout=10, fire_and_forget=True)
        second = run_async_task(coro, timeout=10, fire_and_forget=True)
    finally:
        hold.set()
    assert first.result(10) == "ran once"
    with pytest.raises(RuntimeError, match=r"three_steps\(\) has already been submitted"):
        second.result(10)
    assert steps == [0, 1, 2]


@pytest.mark.parametrize("between", [0, 150], ids=["side by side", "150 jobs apart"])
def test_a_coroutine_submitted_twice_runs_for_the_first_submitter_only(between: int) -> None:
    # Bug: with a batch of jobs between them (the loop takes 100 at a time), both were run,
    # and the second submission's timeout cancelled the first submitter's task.
    events: list[str] = []
    gate = asyncio.Event()

    async def work() -> str:
        events.append("start")
        await gate.wait()
        events.append("end")
        return "done"

    async def noop() -> None:
        pass

    async def open_gate() -> None:
        gate.set()

    coro = work()
    hold = hold_the_loop()  # everything below waits in the queue
    try:
        first = run_async_task(coro, timeout=10, fire_and_forget=True)
        fillers = [run_async_task(noop(), fire_and_forget=True) for _ in range(between)]
        second = run_async_task(coro, timeout=0.01, fire_and_forget=True)
        # The second refused first, or its timeout ran out: only then may the first end.
        fillers.append(run_async_task(open_gate(), fire_and_forget=True))
    finally:
        hold.set()
    with pytest.raises(RuntimeError, match=r"work\(\) has already been submitted once"):
        second.result(10)
    concurrent.futures.wait(fillers, timeout=10)
    assert first.result(10) == "done"
    assert events == ["start", "end"]
    assert stats().failed == 1


def test_a_generator_based_coroutine_submitted_twice_runs_for_the_first_submitter_only() -> None:
    # Bug: two tasks drove it in turns; the first submitter silently got None.
    @types.coroutine
    def legacy() -> Generator[None, None, list[int]]:
        steps = []
        for step in range(3):
            yield  # a bare yield, as asyncio.sleep(0) makes
            steps.append(step)
        return steps

    coro = legacy()
    first = run_async_task(coro, timeout=10, fire_and_forget=True)
    second = run_async_task(coro, timeout=10, fire_and_forget=True)
    assert first.result(10) == [0, 1, 2]
    with pytest.raises(RuntimeError, match=r"legacy\(\) has already"):
        second.result(10)


@pytest.mark.parametrize("bad", [42, "text", None, [double]], ids=repr)
def test_non_awaitables_are_a_type_error_naming_what_was_received(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__qualname__):
        run_async_task(bad)  # type: ignore[call-overload]  # the point of the test
    assert stats().submitted == 0


@pytest.mark.parametrize("fire_and_forget", [False, True])
def test_uncalled_coroutine_function_gets_a_did_you_mean_hint(fire_and_forget: bool) -> None:
    with pytest.raises(TypeError, match=r"did you mean double\(\)\?"):
        run_async_task(double, fire_and_forget=fire_and_forget)  # type: ignore[call-overload]  # the point of the test
    assert stats().submitted == 0


def test_async_generator_object_is_refused_with_a_hint() -> None:
    async def numbers() -> Any:
        yield 1

    agen = numbers()
    with pytest.raises(TypeError, match="async generator"):
        run_async_task(agen)
    assert stats().submitted == 0


@pytest.mark.parametrize("timeout", [-1, -0.001, math.nan, -math.inf], ids=repr)
@pytest.mark.parametrize("fire_and_forget", [False, True])
def test_bad_timeouts_are_a_value_error_and_schedule_nothing(
    timeout: float, fire_and_forget: bool
) -> None:
    ran = []

    async def record() -> None:
        ran.append(True)

    with pytest.raises(ValueError, match="timeout"):
        run_async_task(record(), timeout=timeout, fire_and_forget=fire_and_forget)
    assert stats().submitted == 0
    assert run_async_task(double(1)) == 2  # the worker is fine, and `record` never ran
    assert ran == []


@pytest.mark.parametrize("timeout", ["1", True, object()], ids=repr)
def test_timeout_of_the_wrong_type_is_a_type_error_and_a_value_error(timeout: object) -> None:
    with pytest.raises(TypeError, match="timeout must be a number") as info:
        run_async_task(double(1), timeout=timeout)  # type: ignore[call-overload]  # the point of the test
    assert isinstance(info.value, ValueError)  # the spec calls every bad timeout one


@pytest.mark.parametrize("fire_and_forget", [False, True])
def test_a_coroutine_that_raises_stop_iteration_gets_the_error_python_makes_of_it(
    fire_and_forget: bool,
) -> None:
    # Bug: Python's "coroutine raised StopIteration" was taken for its refusal to run a
    # finished coroutine, and replaced with a message saying the coroutine was reused.
    async def leaks_stop_iteration() -> None:
        raise StopIteration

    def call() -> None:
        outcome = run_async_task(leaks_stop_iteration(), fire_and_forget=fire_and_forget)
        if isinstance(outcome, concurrent.futures.Future):
            outcome.result(10)

    with pytest.raises(RuntimeError, match="coroutine raised StopIteration") as raised:
        call()
    assert isinstance(raised.value.__cause__, StopIteration)


def test_an_already_awaited_coroutine_is_refused_with_the_fix() -> None:
    coro = double(1)
    assert run_async_task(coro) == 2
    with pytest.raises(RuntimeError, match=r"call double\(\) again"):
        run_async_task(coro)


def test_zero_timeout_is_allowed_and_expires_at_once() -> None:
    with pytest.raises(TimeoutError):
        run_async_task(asyncio.sleep(10), timeout=0)


@pytest.mark.parametrize(
    "timeout",
    [math.inf, 10**400, 1e300, fractions.Fraction(7, 2), decimal.Decimal("2.5")],
    ids=repr,
)
@pytest.mark.parametrize("fire_and_forget", [False, True])
def test_any_real_number_is_a_timeout_and_beyond_any_wait_means_no_limit(
    timeout: float, fire_and_forget: bool
) -> None:
    outcome = run_async_task(double(1), timeout=timeout, fire_and_forget=fire_and_forget)
    assert (outcome.result(10) if isinstance(outcome, concurrent.futures.Future) else outcome) == 2


def _call_and_drop(fire_and_forget: bool, fails: bool) -> None:
    """One call whose outcome is read and then dropped, leaving nothing that refers to it."""
    coro = explode() if fails else double(1)
    try:
        if fire_and_forget:
            run_async_task(coro, fire_and_forget=True).result(5)
        else:
            run_async_task(coro, timeout=5)
    except Boom:
        pass


@pytest.mark.parametrize("fails", [False, True], ids=["returns", "raises"])
@pytest.mark.parametrize("fire_and_forget", [False, True], ids=["blocking", "fire-and-forget"])
def test_a_finished_call_is_freed_without_the_garbage_collector(
    fire_and_forget: bool, fails: bool
) -> None:
    # A reference cycle would keep each call's task, job and coroutine alive until the
    # next collection, and make every collection of a busy process slower.
    _call_and_drop(fire_and_forget, fails)  # warm-up: first-use objects live on
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            _call_and_drop(fire_and_forget, fails)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_burst_of_submissions_becomes_tasks_a_batch_at_a_time() -> None:
    # Made all at once, 1,000 queued jobs would be 1,000 tasks (each with a handle and a
    # weak reference) before the first of them ran; in batches, the loop runs each batch
    # before it makes the next, so no step ever sees more than a batch of tasks at once.
    seen: list[int] = []

    async def count_tasks() -> None:
        seen.append(len(asyncio.all_tasks()))

    hold = hold_the_loop()
    try:
        futures = [run_async_task(count_tasks(), fire_and_forget=True) for _ in range(1_000)]
    finally:
        hold.set()
    concurrent.futures.wait(futures, timeout=30)
    assert len(seen) == 1_000
    assert max(seen) <= 101  # one batch, and at most one task of the library's own


class NamedAwaitable:
    """An awaitable that is not a coroutine, reporting the name of the task awaiting it."""

    def __await__(self) -> Generator[Any, None, str]:
        yield from asyncio.sleep(0).__await__()
        task = asyncio.current_task()
        assert task is not None
        return task.get_name()


def test_an_awaitable_that_is_not_a_coroutine_runs_as_a_task_named_after_its_class() -> None:
    # Bug: it ran as `_await`, the library's wrapper, in logs, reports and errors.
    assert run_async_task(NamedAwaitable(), timeout=10) == "NamedAwaitable"
