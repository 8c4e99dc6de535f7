"""The future of a fire-and-forget call (issue 9 item 4): a real `concurrent.futures.Future`.

`TaskFuture` builds its `threading.Condition` only when something waits, and stands in for
private attributes of the stock `Future` that `concurrent.futures` reads. The guards at the
top fail loudly if a Python release changes those; the race tests below run with the GIL
switching every microsecond, so that the interleavings a lazily built condition must
survive actually happen.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import concurrent.futures._base
import gc
import inspect
import itertools
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from sincpro_async_worker import fire_and_forget, run_async_task, shutdown, stats
from sincpro_async_worker.infrastructure.future import TaskFuture

from .conftest import LOGGER, run_python, wait_for_records

T = TypeVar("T")
F = TypeVar("F")

#: How long a thread may take before it is taken to be stuck (a lost wake-up). Waits in
#: the race tests are given far longer than this, so that one which sits out its own
#: timeout is caught rather than returning late with the right answer.
STUCK = 5.0
WAIT = 60.0

# -- guards on the private attributes TaskFuture relies on ---------------------------------


def test_the_stock_future_has_the_private_attributes_task_future_stands_in_for() -> None:
    # TaskFuture keeps these under its own names, or builds them lazily. A Python whose
    # Future has others may read one TaskFuture does not keep up to date.
    assert set(vars(concurrent.futures.Future())) == {
        "_condition",
        "_state",
        "_result",
        "_exception",
        "_waiters",
        "_done_callbacks",
    }


def test_concurrent_futures_reads_only_the_private_attributes_task_future_provides() -> None:
    # wait(), as_completed() and their helpers reach into the futures they are given.
    tree = ast.parse(inspect.getsource(concurrent.futures._base))
    read = {
        node.attr
        for top in tree.body
        if not (isinstance(top, ast.ClassDef) and top.name == "Future")
        for node in ast.walk(top)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in {"f", "fut", "future"}
        and node.attr.startswith("_")
    }
    assert read == {"_condition", "_state", "_waiters"}


def test_task_future_inherits_only_the_stock_methods_known_to_suit_it() -> None:
    # An inherited method runs the stock code on TaskFuture's state: a new one in a new
    # Python must be looked at. These reach the condition, the waiters and the callbacks
    # only through the properties TaskFuture builds them in (or, the name-mangled result
    # helper, serve a stock method TaskFuture replaces).
    inherited = {
        name
        for name, value in vars(concurrent.futures.Future).items()
        if (callable(value) or isinstance(value, (classmethod, staticmethod, property)))
        and name not in vars(TaskFuture)
    }
    assert inherited == {
        "__class_getitem__",
        "__repr__",
        "_invoke_callbacks",
        "_Future__get_result",
        "add_done_callback",
        "set_exception",
        "set_result",
    }


def test_a_task_future_reads_like_a_stock_future_in_its_repr() -> None:
    future: TaskFuture[int] = TaskFuture()
    assert "state=pending" in repr(future)
    future.set_result(42)
    assert "state=finished returned int" in repr(future)


# -- the concurrent.futures API on the futures the library returns -------------------------


async def wait_for(gate: asyncio.Event, value: T) -> T:
    await gate.wait()
    return value


async def at_once(value: T) -> T:
    return value


async def open_gate(gate: asyncio.Event) -> None:
    gate.set()


@fire_and_forget
async def decorated_at_once(value: int) -> int:
    return value


def test_both_fire_and_forget_forms_return_a_real_concurrent_future() -> None:
    # A TaskFuture: what the tests of TaskFuture below cover is what users get.
    futures = [run_async_task(at_once(1), fire_and_forget=True), decorated_at_once(2)]
    assert [type(future) for future in futures] == [TaskFuture, TaskFuture]
    assert all(isinstance(future, concurrent.futures.Future) for future in futures)
    assert [future.result(timeout=10) for future in futures] == [1, 2]


def test_wait_returns_each_future_once_it_is_done() -> None:
    gate = asyncio.Event()
    held = run_async_task(wait_for(gate, 1), fire_and_forget=True)
    quick = decorated_at_once(7)
    done, not_done = concurrent.futures.wait(
        [held, quick], timeout=10, return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert (done, not_done) == ({quick}, {held})
    assert concurrent.futures.wait([held], timeout=0) == (set(), {held})
    run_async_task(open_gate(gate), timeout=10)
    done, not_done = concurrent.futures.wait([held, quick], timeout=10)
    assert (done, not_done) == ({held, quick}, set())
    assert (held.result(), quick.result()) == (1, 7)


def test_as_completed_yields_the_futures_in_the_order_they_finish() -> None:
    gate = asyncio.Event()
    held = run_async_task(wait_for(gate, "held"), fire_and_forget=True)
    quick = run_async_task(at_once("quick"), fire_and_forget=True)
    finished = concurrent.futures.as_completed([held, quick], timeout=10)
    assert next(finished) is quick
    run_async_task(open_gate(gate), timeout=10)
    assert next(finished) is held
    assert list(finished) == []


def test_a_done_callback_added_before_completion_runs_once_on_the_worker_thread() -> None:
    gate = asyncio.Event()
    called = threading.Event()
    calls: list[tuple[concurrent.futures.Future[str], bool, str]] = []

    def callback(future: concurrent.futures.Future[str]) -> None:
        calls.append((future, future.done(), threading.current_thread().name))
        called.set()

    future = run_async_task(wait_for(gate, "value"), fire_and_forget=True)
    future.add_done_callback(callback)
    assert calls == []
    run_async_task(open_gate(gate), timeout=10)
    assert called.wait(10)
    assert future.result(timeout=10) == "value"
    assert calls == [(future, True, "sincpro-async-worker")]


def test_a_done_callback_added_after_completion_runs_at_once_in_the_caller() -> None:
    future = run_async_task(at_once("value"), fire_and_forget=True)
    assert future.result(timeout=10) == "value"
    calls: list[str] = []
    future.add_done_callback(lambda f: calls.append(threading.current_thread().name))
    assert calls == [threading.current_thread().name]


def test_a_failing_done_callback_is_logged_like_the_stock_futures_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future = run_async_task(at_once("value"), fire_and_forget=True)
    future.result(timeout=10)
    calls: list[str] = []

    def broken(_: concurrent.futures.Future[str]) -> None:
        raise RuntimeError("a bug in the callback")

    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        future.add_done_callback(broken)
        future.add_done_callback(lambda f: calls.append(f.result()))
    assert calls == ["value"]
    [record] = [r for r in caplog.records if r.name == "concurrent.futures"]
    assert "exception calling callback" in record.getMessage()


def test_cancel_cancels_the_task_on_the_loop_and_its_finally_runs() -> None:
    started, cleaned_up = threading.Event(), threading.Event()

    async def runs_until_cancelled() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never set
        finally:
            cleaned_up.set()

    future = run_async_task(runs_until_cancelled(), fire_and_forget=True)
    assert started.wait(10)
    assert future.cancel()
    assert future.cancel()  # again: still cancelled
    assert future.cancelled()
    assert future.done()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=10)
    assert cleaned_up.wait(10)
    shutdown(timeout=10)  # stats() is exact once nothing runs
    assert stats().cancelled == 1
    assert stats().running == 0


def test_cancel_is_refused_once_the_future_has_its_outcome() -> None:
    future = run_async_task(at_once("value"), fire_and_forget=True)
    assert future.result(timeout=10) == "value"
    assert not future.cancel()
    assert not future.cancelled()


def test_result_with_a_timeout_raises_the_concurrent_futures_timeout_error() -> None:
    gate = asyncio.Event()
    future = run_async_task(wait_for(gate, "late"), fire_and_forget=True)
    with pytest.raises(concurrent.futures.TimeoutError):  # the builtin one from 3.11
        future.result(timeout=0.05)
    with pytest.raises(concurrent.futures.TimeoutError):
        future.exception(timeout=0)
    assert not future.done()
    run_async_task(open_gate(gate), timeout=10)
    assert future.result(timeout=10) == "late"


def test_an_asyncio_loop_elsewhere_can_await_the_future() -> None:
    async def elsewhere() -> str:
        return await asyncio.wrap_future(run_async_task(at_once("awaited"), fire_and_forget=True))

    assert asyncio.run(elsewhere()) == "awaited"


async def fails_quietly() -> None:
    raise ValueError("nobody looked at me")


@pytest.mark.library_logs
@pytest.mark.parametrize("looked", ["wait", "as_completed", "a done callback", "nothing"])
def test_a_failure_seen_only_as_done_is_still_logged_as_never_retrieved(
    caplog: pytest.LogCaptureFixture, looked: str
) -> None:
    # Knowing that it finished is not looking at how: only result() and exception() count.
    future = run_async_task(fails_quietly(), fire_and_forget=True)
    if looked == "wait":
        assert concurrent.futures.wait([future], timeout=10).not_done == set()
    elif looked == "as_completed":
        assert list(concurrent.futures.as_completed([future], timeout=10)) == [future]
    elif looked == "a done callback":
        called = threading.Event()
        future.add_done_callback(lambda f: called.set())
        assert called.wait(10)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        del future
        records = wait_for_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "fails_quietly failed and its exception was never retrieved" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], ValueError)


def test_a_failure_retrieved_after_as_completed_is_not_logged() -> None:
    futures = [run_async_task(fails_quietly(), fire_and_forget=True) for _ in range(3)]
    for future in concurrent.futures.as_completed(futures, timeout=10):
        assert isinstance(future.exception(), ValueError)
    del future, futures
    gc.collect()  # the autouse fixture fails the test on any report


# -- a refused state change -----------------------------------------------------------------

REFUSALS = """
import concurrent.futures
from sincpro_async_worker.infrastructure.future import TaskFuture

cancelled = {cls}()
assert cancelled.cancel()
finished = {cls}()
finished.set_result(1)
for future in (cancelled, finished):
    for change in (future.set_result, future.set_exception):
        try:
            change(ValueError("too late"))
        except concurrent.futures.InvalidStateError:
            print("refused")
"""


def refusals_in_a_fresh_interpreter(cls: str = "TaskFuture") -> list[str]:
    """What setting an outcome twice prints, run where a hang cannot take the suite down.

    Every TaskFuture of a process shares one lock: a state change that never returns
    would leave all of them stuck, and the rest of the test run with them.
    """
    try:
        result = run_python(REFUSALS.format(cls=cls), timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"set_result()/set_exception() on a {cls} that already has its outcome hung "
            "instead of raising InvalidStateError"
        )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("cls", ["concurrent.futures.Future", "TaskFuture"])
def test_setting_an_outcome_twice_raises_invalid_state_error(cls: str) -> None:
    assert refusals_in_a_fresh_interpreter(cls) == ["refused"] * 4


@pytest.mark.parametrize("change", ["set_result", "set_exception", "cancel"])
@pytest.mark.parametrize("cls", [concurrent.futures.Future, TaskFuture])
def test_the_state_stays_put_while_a_thread_holds_the_condition(
    cls: type[concurrent.futures.Future[int]], change: str
) -> None:
    # wait() and as_completed() read `_state` while holding each future's `_condition`,
    # then install their waiter, counting on the state not changing meanwhile (the stock
    # Future changes it under that condition only). A change in between is a waiter that
    # sees a pending future and is then told it finished: wait() miscounts and sleeps
    # out its timeout, as_completed() yields the future twice.
    future = cls()
    args = {"set_result": (1,), "set_exception": (KeyError(1),), "cancel": ()}[change]
    setter = threading.Thread(target=getattr(future, change), args=args)
    with future._condition:
        setter.start()
        # Time for a setter that does not wait for the condition to get through: a
        # correct one stays blocked however long this is, so it cannot fail wrongly.
        setter.join(0.2)
        changed_under_us = future.done()
    setter.join(STUCK)
    assert not setter.is_alive()
    assert not changed_under_us, f"{change}() changed the state while a waiter held the condition"
    assert future.done()


# -- races, with the GIL switching every microsecond ---------------------------------------


@pytest.fixture
def frantic_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def race(
    rounds: int,
    prepare: Callable[[int], F],
    ours: Callable[[F], object],
    theirs: Callable[[F], object],
) -> list[tuple[F, object, object]]:
    """Each round: `prepare(i)` here, then `ours(it)` here against `theirs(it)` in another
    thread, the two released together by a barrier.

    A side that does not come back within `STUCK` seconds (a waiter whose wake-up was
    lost) breaks the barrier, and the test fails.
    """
    barrier = threading.Barrier(2, timeout=STUCK)
    items: list[F] = []
    their_results: list[object] = [None] * rounds
    their_errors: list[BaseException] = []

    def partner() -> None:
        try:
            for i in range(rounds):
                barrier.wait()
                their_results[i] = theirs(items[i])
        except BaseException as exc:
            their_errors.append(exc)
            barrier.abort()

    thread = threading.Thread(target=partner, name="race partner", daemon=True)
    thread.start()
    our_results = []
    try:
        for i in range(rounds):
            items.append(prepare(i))
            barrier.wait()
            our_results.append(ours(items[i]))
    except threading.BrokenBarrierError:
        if not their_errors:
            pytest.fail(f"round {len(our_results)}: the other thread did not come back")
    thread.join(STUCK)
    assert not thread.is_alive(), "the other thread is stuck in its last round"
    assert their_errors == []
    return list(zip(items, our_results, their_results, strict=True))


ROUNDS = 2000


def new_future(_: int) -> TaskFuture[int]:
    return TaskFuture()


def wait_in(how: str) -> Callable[[concurrent.futures.Future[int]], object]:
    """A waiter of kind `how`: what it returns says whether it saw the outcome."""

    def waiter(future: concurrent.futures.Future[int]) -> object:
        if how == "result":
            return future.result(timeout=WAIT)
        if how == "exception":
            return future.exception(timeout=WAIT)
        if how == "wait":
            return concurrent.futures.wait([future], timeout=WAIT).done == {future}
        if how == "wait for the first":
            done = concurrent.futures.wait(
                [future], timeout=WAIT, return_when=concurrent.futures.FIRST_COMPLETED
            ).done
            return done == {future}
        return list(concurrent.futures.as_completed([future], timeout=WAIT)) == [future]

    return waiter


WAITERS = ["result", "exception", "wait", "wait for the first", "as_completed"]


@pytest.mark.usefixtures("frantic_switching")
@pytest.mark.parametrize("how", WAITERS)
def test_a_waiter_in_another_thread_against_set_result(how: str) -> None:
    def finish(future: TaskFuture[int]) -> None:
        if how == "exception":
            future.set_exception(KeyError("failed"))
        else:
            future.set_result(7)

    for future, _, seen in race(ROUNDS, new_future, finish, wait_in(how)):
        if how == "result":
            assert seen == 7
        elif how == "exception":
            assert isinstance(seen, KeyError)
        else:
            assert seen is True, future


@pytest.mark.usefixtures("frantic_switching")
def test_as_completed_against_completion_in_another_thread() -> None:
    def two_futures(_: int) -> tuple[TaskFuture[int], TaskFuture[int]]:
        return TaskFuture(), TaskFuture()

    def complete_both(pair: tuple[TaskFuture[int], TaskFuture[int]]) -> None:
        pair[1].set_result(2)
        pair[0].set_result(1)

    def collect(pair: tuple[TaskFuture[int], TaskFuture[int]]) -> object:
        futures: list[concurrent.futures.Future[int]] = list(pair)
        return sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=WAIT))

    for _, _, seen in race(ROUNDS, two_futures, complete_both, collect):
        assert seen == [1, 2]


@pytest.mark.usefixtures("frantic_switching")
def test_a_done_callback_added_against_set_result_runs_exactly_once() -> None:
    calls: list[int] = []

    def add_callback(future: TaskFuture[int]) -> None:
        future.add_done_callback(lambda f: calls.append(f.result()))

    rounds = race(ROUNDS, new_future, lambda f: f.set_result(len(calls)), add_callback)
    assert len(calls) == len(rounds)
    assert sorted(calls) == [future.result() for future, _, _ in rounds]


@pytest.mark.usefixtures("frantic_switching")
@pytest.mark.parametrize("claims_first", [True, False], ids=["executor-style", "plain"])
def test_cancel_against_set_result_exactly_one_wins(claims_first: bool) -> None:
    # Executor-style: the finishing side claims the future first, as an executor does
    # (and the worker does); plain: set_result() on its own, refused once cancelled.
    if not claims_first:
        assert refusals_in_a_fresh_interpreter() == ["refused"] * 4  # else this would hang

    def finish(future: TaskFuture[int]) -> bool:
        if claims_first:
            if not future.set_running_or_notify_cancel():
                return False
            future.set_result(7)
            return True
        try:
            future.set_result(7)
        except concurrent.futures.InvalidStateError:
            return False
        return True

    delays = itertools.cycle(range(6))

    def cancel(future: TaskFuture[int]) -> bool:
        for _ in range(next(delays)):  # let the other thread run, to vary who gets there first
            time.sleep(0)
        return future.cancel()

    outcomes = race(ROUNDS, new_future, cancel, finish)
    for future, cancelled, finished in outcomes:
        assert cancelled != finished, (cancelled, finished)
        assert future.cancelled() is cancelled
        if finished:
            assert future.result(timeout=0) == 7
    # Both outcomes happened, or the race did not race.
    assert {cancelled for _, cancelled, _ in outcomes} == {True, False}


async def returns(value: int, suspend: bool) -> int:
    if suspend:
        await asyncio.sleep(0)
    return value


WORKER_ROUNDS = 3000


@pytest.mark.usefixtures("frantic_switching")
def test_cancel_against_completion_on_the_worker_agrees_with_stats() -> None:
    # The loop thread completes each task while this one cancels it: the owner sees one
    # outcome per future, and stats() counts exactly that outcome.
    cancelled_by_owner = 0
    futures = []
    for i in range(WORKER_ROUNDS):
        future = run_async_task(returns(i, suspend=i % 2 == 1), fire_and_forget=True)
        for _ in range(i % 4):  # let the loop thread run, to vary who gets there first
            time.sleep(0)
        if i % 16 == 15:  # and now and then let it finish (3.10's loop is the slowest to)
            concurrent.futures.wait([future], timeout=10)
        won = future.cancel()
        cancelled_by_owner += won
        futures.append((i, future, won))
    for i, future, won in futures:
        assert future.cancelled() is won
        if not won:
            assert future.result(timeout=10) == i
    assert 0 < cancelled_by_owner < WORKER_ROUNDS  # the race did race
    shutdown(timeout=10)
    assert stats() == {
        "submitted": WORKER_ROUNDS,
        "running": 0,
        "succeeded": WORKER_ROUNDS - cancelled_by_owner,
        "failed": 0,
        "cancelled": cancelled_by_owner,
        "timed_out": 0,
    }


@pytest.mark.usefixtures("frantic_switching")
@pytest.mark.parametrize("how", WAITERS)
def test_a_waiter_in_another_thread_against_completion_on_the_worker(how: str) -> None:
    # Submitted here, completed on the loop thread, waited for in a third thread.
    def submit(i: int) -> concurrent.futures.Future[int]:
        if how == "exception":
            return run_async_task(fails_with(i, suspend=i % 2 == 1), fire_and_forget=True)
        return run_async_task(returns(i, suspend=i % 2 == 1), fire_and_forget=True)

    for future, _, seen in race(WORKER_ROUNDS, submit, lambda f: f.done(), wait_in(how)):
        if how == "result":
            assert seen == future.result()
        elif how == "exception":
            assert isinstance(seen, KeyError)
        else:
            assert seen is True, future


async def fails_with(value: int, suspend: bool) -> int:
    if suspend:
        await asyncio.sleep(0)
    raise KeyError(value)


@pytest.mark.usefixtures("frantic_switching")
def test_as_completed_against_completion_on_the_worker_yields_every_future() -> None:
    for batch in range(100):
        futures = {
            run_async_task(returns(i, suspend=i % 2 == 1), fire_and_forget=True): i
            for i in range(20)
        }
        seen = [futures[f] for f in concurrent.futures.as_completed(futures, timeout=WAIT)]
        assert sorted(seen) == list(range(20)), batch
