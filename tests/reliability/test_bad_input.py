"""Every public entry point refuses bad input at once, says how to fix it, schedules nothing.

A refused coroutine is closed (so it never runs and Python never warns that it was not
awaited); `stats().submitted` does not move.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import decimal
import functools
import inspect
import math
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any

import pytest

from sincpro_async_worker import (
    ConfigurationError,
    Dispatcher,
    EventLoop,
    Worker,
    configure,
    fire_and_forget,
    run_async_task,
    shutdown,
    stats,
    sync_bridge,
    sync_context,
    sync_iter,
)
from sincpro_async_worker.infrastructure import runtime


async def fetch() -> int:
    return 1


async def agen() -> AsyncIterator[int]:
    yield 1


def plain() -> int:
    return 1


@sync_bridge
async def bridged() -> int:
    return 1


@sync_bridge
async def ticks() -> AsyncIterator[int]:
    yield 1


class Named:
    async def aio(self) -> int:
        return 1


def spent_coroutine() -> Coroutine[Any, Any, int]:
    coro = fetch()
    coro.close()
    return coro


def started_coroutine() -> Coroutine[Any, Any, int]:
    async def paused() -> int:
        await asyncio.sleep(0)
        return 1

    coro = paused()
    coro.send(None)  # now suspended at its first await
    return coro


Call = Callable[[Any], object]

ENTRY_POINTS: dict[str, Call] = {
    "run_async_task": lambda task: run_async_task(task),
    "run_async_task fire_and_forget": lambda task: run_async_task(task, fire_and_forget=True),
    "Dispatcher.execute": lambda task: Dispatcher().execute(task),
    "Dispatcher.execute_async": lambda task: Dispatcher().execute_async(task),
}

# (what is passed, exception type, a phrase of the message that names the fix)
BAD_TASKS: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("None", lambda: None, TypeError, "pass the result of calling an async function"),
    ("an int", lambda: 42, TypeError, "pass the result of calling"),
    ("a sync function", lambda: plain, TypeError, "pass the result of calling"),
    ("an uncalled coroutine function", lambda: fetch, TypeError, r"did you mean .*fetch\(\)\?"),
    ("an async generator", agen, TypeError, "decorate its function with @sync_bridge"),
    ("an async generator function", lambda: agen, TypeError, "async generator"),
    ("a started coroutine", started_coroutine, RuntimeError, r"call .*paused\(\) again"),
    ("a bridged function", lambda: bridged, TypeError, r"calling it, bridged\(\.\.\.\), runs"),
    ("a bridge's .aio", lambda: bridged.aio, TypeError, r"in sync code call bridged\(\.\.\.\)"),
    ("a generator bridge", lambda: ticks, TypeError, r"`async for item in ticks\.aio\(\.\.\.\)`"),
    ("a method named aio", lambda: Named().aio, TypeError, r"did you mean Named\.aio\(\)\?"),
    (
        "its .aio",
        lambda: ticks.aio,
        TypeError,
        r"the \.aio twin ticks\.aio itself; in sync code call ticks\(\.\.\.\)",
    ),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("label", "make", "error", "fix"), BAD_TASKS, ids=[b[0] for b in BAD_TASKS]
)
def test_a_bad_task_is_refused_with_the_fix_and_nothing_is_scheduled(
    entry: str, label: str, make: Callable[[], object], error: type[Exception], fix: str
) -> None:
    run_async_task(asyncio.sleep(0))  # a running worker, so "nothing scheduled" is visible
    before = stats().submitted
    task = make()
    with pytest.raises(error, match=fix):
        ENTRY_POINTS[entry](task)
    assert stats().submitted == before
    if inspect.isasyncgen(task):
        asyncio.run(task.aclose())  # ours to close: the library must not have touched it
    elif inspect.iscoroutine(task):
        task.close()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_already_finished_coroutine_is_refused_with_the_fix(entry: str) -> None:
    # Telling a finished coroutine from a fresh one up front would mean reading its
    # `cr_frame`, which builds a frame object that lives as long as the task (3.11+). So
    # the refusal may come from its first step on the loop: either way, a clear error.
    def call() -> None:
        outcome = ENTRY_POINTS[entry](spent_coroutine())
        if isinstance(outcome, concurrent.futures.Future):
            outcome.result(10)

    with pytest.raises(RuntimeError, match=r"fetch\(\) has already finished.*call .*fetch.* again"):
        call()
    assert run_async_task(asyncio.sleep(0, "alive"), timeout=10) == "alive"


@pytest.mark.parametrize("flag", ["no", "False", None, 2, [True]], ids=repr)
def test_a_fire_and_forget_flag_that_is_not_a_bool_is_refused_and_nothing_scheduled(
    flag: object,
) -> None:
    # Bug: any true value, the string "no" included, was taken for True.
    run_async_task(asyncio.sleep(0))
    before = stats().submitted
    coro = fetch()
    with pytest.raises(TypeError, match=r"fire_and_forget must be True or False, got .*; pass"):
        run_async_task(coro, fire_and_forget=flag)  # type: ignore[call-overload]  # under test
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert stats().submitted == before


def test_fire_and_forget_takes_what_equals_a_bool() -> None:
    assert run_async_task(fetch(), fire_and_forget=0) == 1  # type: ignore[call-overload]
    future = run_async_task(fetch(), fire_and_forget=1)  # type: ignore[call-overload]
    assert future.result(10) == 1


BAD_TIMEOUTS: list[tuple[object, type[Exception], str]] = [
    (-1, ValueError, ">= 0"),
    (decimal.Decimal("-1e-400"), ValueError, ">= 0"),  # negative, though float() makes it -0.0
    (-0.001, ValueError, ">= 0"),
    (math.nan, ValueError, ">= 0"),
    (-math.inf, ValueError, ">= 0"),
    ("5", TypeError, "number of seconds or None"),
    (True, TypeError, "number of seconds or None"),
]


@pytest.mark.parametrize(
    "call",
    [
        lambda coro, t: run_async_task(coro, timeout=t),
        lambda coro, t: run_async_task(coro, timeout=t, fire_and_forget=True),
        lambda coro, t: Dispatcher().execute(coro, t),
        lambda coro, t: Dispatcher().execute_async(coro, t),
    ],
    ids=["run_async_task", "fire_and_forget", "execute", "execute_async"],
)
@pytest.mark.parametrize(("timeout", "error", "fix"), BAD_TIMEOUTS, ids=repr)
def test_a_bad_timeout_is_refused_the_coroutine_closed_and_nothing_scheduled(
    call: Callable[[Any, Any], object], timeout: object, error: type[Exception], fix: str
) -> None:
    run_async_task(asyncio.sleep(0))
    before = stats().submitted
    coro = fetch()
    with pytest.raises(error, match=fix):
        call(coro, timeout)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert stats().submitted == before


@pytest.mark.parametrize(
    "call",
    [
        lambda coro, c: Dispatcher().execute(coro, context=c),
        lambda coro, c: Dispatcher().execute_async(coro, context=c),
        lambda coro, c: Dispatcher(Worker()).execute(coro, context=c),
    ],
    ids=["execute", "execute_async", "execute on a given Worker"],
)
@pytest.mark.parametrize("context", [{}, "ctx", contextvars.copy_context], ids=repr)
def test_a_context_that_is_not_one_is_refused_the_coroutine_closed_and_nothing_scheduled(
    call: Callable[[Any, Any], object], context: object
) -> None:
    # Bug: it reached asyncio.Task() on the loop, which refused it there, and the caller
    # waited for ever for a task that never existed.
    run_async_task(asyncio.sleep(0))
    before = stats().submitted
    coro = fetch()
    with pytest.raises(TypeError, match=r"must be a contextvars.Context.*copy_context\(\)"):
        call(coro, context)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert stats().submitted == before


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: run_async_task(BadRepr()), TypeError),  # type: ignore[call-overload]
        (lambda: run_async_task(fetch(), timeout=BadRepr()), TypeError),  # type: ignore[call-overload]
        (lambda: sync_context(BadRepr()), TypeError),  # type: ignore[arg-type]
        (lambda: sync_iter(BadRepr()), TypeError),  # type: ignore[arg-type]
        (lambda: sync_bridge(BadRepr()), TypeError),  # type: ignore[call-overload]
        (lambda: configure(max_in_flight=BadRepr()), TypeError),  # type: ignore[arg-type]
    ],
    ids=["run_async_task", "timeout", "sync_context", "sync_iter", "sync_bridge", "configure"],
)
def test_bad_input_whose_repr_fails_still_gets_the_error_that_names_the_fix(
    call: Callable[[], object], error: type[Exception]
) -> None:
    # Bug: the message was built with repr(), and the repr's own error came out instead.
    with pytest.raises(error, match=r"BadRepr object \(its repr\(\) failed\)"):
        call()


class Ready:
    """An awaitable that is not a coroutine."""

    def __await__(self) -> Generator[None, None, str]:
        yield from asyncio.sleep(0).__await__()
        return "ready"


def test_a_worker_checks_what_it_is_given_as_run_async_task_does() -> None:
    worker = Worker()
    try:
        with pytest.raises(TypeError, match="expects a coroutine or another awaitable"):
            worker.run_blocking(42)  # type: ignore[arg-type]  # the mistake under test
        with pytest.raises(TypeError, match=r"did you mean .*fetch\(\)\?"):
            worker.run_coroutine(fetch)  # type: ignore[arg-type]  # the mistake under test
        for bad, error in [(-1, ValueError), ("5", TypeError)]:
            coro = fetch()
            with pytest.raises(error, match="timeout"):
                worker.run_blocking(coro, timeout=bad)  # type: ignore[arg-type]  # under test
            assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
        assert worker.stats().submitted == 0
        assert worker.run_blocking(Ready(), timeout=10) == "ready"
        assert worker.run_coroutine(Ready()).result(10) == "ready"
    finally:
        worker.shutdown()


def test_an_event_loop_refuses_a_bad_timeout_before_anything_runs_or_stops() -> None:
    loop = EventLoop()
    loop.start()
    try:
        coro = fetch()
        with pytest.raises(TypeError, match="timeout must be a number"):
            loop.run_coroutine(coro, timeout="5")  # type: ignore[arg-type]  # under test
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
        with pytest.raises(ValueError, match=">= 0 seconds"):
            loop.shutdown(-1)
        assert loop.is_running()  # refused before it began to stop
        assert loop.run_coroutine(fetch()).result(10) == 1
    finally:
        loop.shutdown()
    assert not loop.is_running()


@pytest.mark.parametrize("decorator", [sync_bridge, fire_and_forget], ids=lambda d: d.__name__)
@pytest.mark.parametrize(
    ("target", "fix"),
    [
        (plain, "define it with `async def`"),
        (lambda: None, "define it with `async def`"),
        (42, r"@\w+\(timeout=42\)"),
        ("fetch", "expects an async def function"),
        (None.__class__, "define it with `async def`"),
    ],
    ids=["sync function", "lambda", "a number", "a string", "a class"],
)
def test_decorating_something_that_is_not_async_is_a_type_error_naming_the_fix(
    decorator: Callable[[Any], object], target: object, fix: str
) -> None:
    before = stats()
    with pytest.raises(TypeError, match=fix):
        decorator(target)
    assert stats() == before


def test_decorating_a_coroutine_a_twin_or_a_wrapped_generator_names_the_fix() -> None:
    # Bugs: a coroutine was left unclosed (never awaited) with no hint; a `.aio` twin was
    # taken for an async function; an async generator function behind classmethod got
    # the generic message.
    coro = fetch()
    with pytest.raises(TypeError, match=r"got the coroutine .*decorate the function itself"):
        sync_bridge(coro)  # type: ignore[call-overload]  # the mistake under test
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    with pytest.raises(TypeError, match=r"bridged\.aio is the \.aio twin.*call bridged\(\.\.\.\)"):
        sync_bridge(bridged.aio)
    wrapped: Any = classmethod(agen)  # type: ignore[arg-type]  # as a class body has it
    with pytest.raises(TypeError, match="cannot wrap the async generator function agen"):
        fire_and_forget(wrapped)
    with pytest.raises(TypeError, match=r"did you mean functools\.partial\(.*fetch.*\)\(\)\?"):
        run_async_task(functools.partial(fetch))  # type: ignore[call-overload]  # the mistake


def test_decorating_a_decorated_function_again_says_so() -> None:
    for decorator in (sync_bridge, fire_and_forget):
        with pytest.raises(TypeError, match="bridged is decorated already; decorate the async"):
            decorator(bridged)  # type: ignore[arg-type]  # the mistake under test


def test_fire_and_forget_on_an_async_context_manager_points_to_sync_bridge() -> None:
    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"@asynccontextmanager function .*session.*@sync_bridge"):
        fire_and_forget(session)  # type: ignore[arg-type]  # the mistake under test


def test_fire_and_forget_names_only_what_it_accepts() -> None:
    with pytest.raises(TypeError) as refused:
        fire_and_forget(plain)  # type: ignore[arg-type]  # the mistake under test
    assert "async generator" not in str(refused.value)
    assert "@asynccontextmanager" not in str(refused.value)


def test_fire_and_forget_on_an_async_generator_points_to_sync_bridge() -> None:
    with pytest.raises(TypeError, match="use @sync_bridge"):
        fire_and_forget(agen)  # type: ignore[arg-type]  # the mistake under test


@pytest.mark.parametrize("decorator", [sync_bridge, fire_and_forget], ids=lambda d: d.__name__)
@pytest.mark.parametrize(("timeout", "error", "fix"), BAD_TIMEOUTS, ids=repr)
def test_a_decorator_refuses_a_bad_timeout_at_decoration_time(
    decorator: Callable[..., object], timeout: object, error: type[Exception], fix: str
) -> None:
    with pytest.raises(error, match=fix):
        decorator(timeout=timeout)


@pytest.mark.parametrize(
    ("kwargs", "error", "fix"),
    [
        ({"exit_grace_period": -1}, ValueError, "finite number of seconds >= 0"),
        ({"exit_grace_period": math.inf}, ValueError, "finite number of seconds >= 0"),
        ({"exit_grace_period": "5"}, TypeError, "number of seconds"),
        ({"slow_task_threshold": math.nan}, ValueError, "finite number of seconds >= 0"),
        ({"max_in_flight": 0}, ValueError, "at least 1"),
        ({"max_in_flight": True}, TypeError, "whole number or None"),
        ({"loop_factory": "uvloop.new_event_loop"}, TypeError, "uvloop.new_event_loop"),
        ({"loop_factory": asyncio.new_event_loop()}, TypeError, "callable returning"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_configure_refuses_bad_values_with_the_fix(
    kwargs: dict[str, Any], error: type[Exception], fix: str
) -> None:
    try:
        with pytest.raises(error, match=fix):
            configure(**kwargs)
    finally:
        factory = kwargs.get("loop_factory")
        if isinstance(factory, asyncio.AbstractEventLoop):
            factory.close()


class Four:
    """A whole number that is not an int, as numpy's integers are."""

    def __index__(self) -> int:
        return 4


def test_configure_takes_any_whole_number_and_the_longest_wait_for_a_huge_grace_period() -> None:
    # Bug: a grace period past threading.TIMEOUT_MAX became None, which the exit hook
    # then failed to add to the clock.
    assert configure(max_in_flight=Four()).max_in_flight == 4  # type: ignore[arg-type]
    assert configure(exit_grace_period=1e10).exit_grace_period == threading.TIMEOUT_MAX
    assert configure(exit_grace_period=2**64).exit_grace_period == threading.TIMEOUT_MAX
    assert configure(slow_task_threshold=1e10).slow_task_threshold == threading.TIMEOUT_MAX


def test_configure_while_running_is_a_runtime_error_naming_shutdown_and_keeps_the_worker() -> None:
    run_async_task(asyncio.sleep(0))
    before = stats().submitted
    with pytest.raises(ConfigurationError, match=r"call shutdown\(\) first") as raised:
        configure(max_in_flight=4)
    assert isinstance(raised.value, RuntimeError)
    assert stats().submitted == before
    assert run_async_task(asyncio.sleep(0, "still running")) == "still running"


@pytest.mark.parametrize(
    ("timeout", "error", "fix"),
    [
        (-1, ValueError, ">= 0 seconds or None"),
        (math.nan, ValueError, ">= 0 seconds or None"),
        ("5", TypeError, "seconds or None"),
    ],
    ids=repr,
)
def test_shutdown_refuses_a_bad_timeout_with_the_fix_and_keeps_the_worker(
    timeout: Any, error: type[Exception], fix: str
) -> None:
    # Bug (see docs/reliability.md): "5" got math.isnan's bare "must be real number,
    # not str"; inf (now: no limit) passed the check and then overflowed halfway through
    # the shutdown, leaving the old worker's thread orphaned and the process with two loops.
    pending = run_async_task(asyncio.sleep(0.2, "drained"), fire_and_forget=True)
    worker = runtime.existing_worker()
    assert worker is not None
    try:
        with pytest.raises(error, match=fix):
            shutdown(timeout)  # with work pending, so the timeout is really used
        assert pending.result(10) == "drained"
        assert run_async_task(asyncio.sleep(0, "alive"), timeout=10) == "alive"
        shutdown()
    finally:
        worker.shutdown(5)  # stop a worker a failed shutdown() may have orphaned
    assert [t.name for t in threading.enumerate() if t.name == "sincpro-async-worker"] == []
