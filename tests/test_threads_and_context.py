"""Context variables, the loop-thread guard and calls from other loops (SPEC 2.4)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sincpro_async_worker import (
    DeadlockError,
    Dispatcher,
    LoopBlockingWarning,
    Worker,
    run_async_task,
    shutdown,
    stats,
    sync_bridge,
    sync_context,
    sync_iter,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def test_callers_context_flows_into_the_task() -> None:
    async def read() -> str:
        return request_id.get()

    token = request_id.set("req-1")
    try:
        assert run_async_task(read()) == "req-1"
        assert run_async_task(read(), fire_and_forget=True).result(5) == "req-1"
    finally:
        request_id.reset(token)


def test_changes_made_in_the_task_do_not_leak_back() -> None:
    async def write() -> str:
        request_id.set("changed-in-task")
        return request_id.get()

    token = request_id.set("caller")
    try:
        assert run_async_task(write()) == "changed-in-task"
        assert request_id.get() == "caller"
    finally:
        request_id.reset(token)


def test_each_thread_sees_its_own_context() -> None:
    async def read() -> str:
        await asyncio.sleep(0)
        return request_id.get()

    results: dict[str, str] = {}

    def caller(name: str) -> None:
        request_id.set(name)
        results[name] = run_async_task(read())

    threads = [threading.Thread(target=caller, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {f"t{i}": f"t{i}" for i in range(8)}


def sync_helper() -> int:
    """Sync code that a coroutine calls, and that itself calls back into the bridge."""

    async def inner() -> int:
        return 1

    return run_async_task(inner())


def test_blocking_call_from_the_loop_thread_raises_at_once_with_the_fix() -> None:
    async def outer() -> int:
        return sync_helper()

    with pytest.raises(DeadlockError, match="await the coroutine directly") as info:
        run_async_task(outer(), timeout=10)
    assert isinstance(info.value, RuntimeError)
    assert run_async_task(asyncio.sleep(0, "alive")) == "alive"


def test_a_blocking_bridge_called_on_the_loop_thread_names_each_kind_of_twin() -> None:
    # Bug: the fix offered was `await func.aio(...)` only, which a generator's twin refuses.
    @sync_bridge
    async def pages() -> AsyncIterator[int]:
        yield 1

    async def handler() -> list[int]:
        return list(pages())

    with pytest.raises(DeadlockError, match=r"pages\(\).*`async for` / `async with`"):
        run_async_task(handler(), timeout=10)


def test_fire_and_forget_from_the_loop_thread_is_allowed() -> None:
    async def inner() -> str:
        return "inner"

    async def outer() -> str:
        future = run_async_task(inner(), fire_and_forget=True)
        return await asyncio.wrap_future(future)

    assert run_async_task(outer(), timeout=10) == "inner"


def test_waiting_for_a_fire_and_forget_future_on_the_loop_thread_raises_at_once() -> None:
    # Bug: `future.result()` inside a coroutine stopped the loop that runs the task (for
    # ever, without a timeout). A poll (timeout <= 0) does not wait and is still allowed.
    async def inner() -> str:
        await asyncio.sleep(0)
        return "inner"

    async def outer() -> str:
        future = run_async_task(inner(), fire_and_forget=True)
        for poll in (0, -1):
            with pytest.raises(concurrent.futures.TimeoutError):
                future.result(timeout=poll)
        with pytest.raises(DeadlockError, match=r"inner\(\).*asyncio\.wrap_future"):
            future.result(timeout=5)  # bounded: a regression fails instead of hanging
        with pytest.raises(DeadlockError, match="loop's own thread"):
            future.exception(timeout=5)
        return await asyncio.wrap_future(future)

    assert run_async_task(outer(), timeout=10) == "inner"
    assert stats().running == 0


def test_shutdown_from_the_loop_thread_is_refused() -> None:
    async def stop_from_inside() -> None:
        shutdown()

    with pytest.raises(DeadlockError, match="shutdown"):
        run_async_task(stop_from_inside(), timeout=10)


def test_blocking_call_from_a_thread_running_another_loop_works() -> None:
    worker_threads: list[str] = []

    async def where() -> str:
        worker_threads.append(threading.current_thread().name)
        return "from the worker loop"

    async def jupyter_cell() -> str:
        # Sync code inside a running loop (Jupyter, FastAPI) calling the bridge.
        return run_async_task(where(), timeout=10)

    with pytest.warns(LoopBlockingWarning, match=r"run_async_task\(\).*await the coroutine"):
        assert asyncio.run(jupyter_cell()) == "from the worker loop"
    assert worker_threads == ["sincpro-async-worker"]


def test_every_blocking_entry_point_warns_on_a_thread_running_its_own_loop() -> None:
    # Bug: only run_async_task() and plain decorated functions warned; sync_iter(),
    # sync_context(), Dispatcher.execute(), Worker.run_blocking() and bridged generators
    # and context managers blocked the caller's loop silently, or named `await` for them.
    async def numbers() -> AsyncIterator[int]:
        yield 1

    @asynccontextmanager
    async def opened() -> AsyncIterator[str]:
        yield "open"

    async def one() -> int:
        return 1

    bridged_numbers, bridged_opened = sync_bridge(numbers), sync_bridge(opened)
    own = Worker()

    async def cell() -> list[object]:
        results: list[object] = [list(sync_iter(numbers()))]
        with sync_context(opened()) as value:
            results.append(value)
        results.append(Dispatcher().execute(one()))
        results.append(own.run_blocking(one()))
        results.append(list(bridged_numbers()))
        with bridged_opened() as value:
            results.append(value)
        return results

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert asyncio.run(cell()) == [[1], "open", 1, 1, [1], "open"]
    finally:
        own.shutdown()
    messages = [str(w.message) for w in caught if w.category is LoopBlockingWarning]
    assert [m.split(" was called")[0] for m in messages] == [
        "sync_iter()",
        "sync_context()",
        "Dispatcher.execute()",
        "Worker.run_blocking()",
        "test_every_blocking_entry_point_warns_on_a_thread_running_its_own_loop.<locals>.numbers()",
        "test_every_blocking_entry_point_warns_on_a_thread_running_its_own_loop.<locals>.opened()",
    ]
    assert "iterate it with `async for`" in messages[0]
    assert "enter it with `async with`" in messages[1]
    assert "`async for item in test_every" in messages[4]
    assert "numbers.aio(...)`" in messages[4]
    assert "`async with test_every" in messages[5]
    assert "opened.aio(...) as value`" in messages[5]
    assert {w.filename for w in caught} == {__file__}  # each points at the call made here


def test_a_loop_blocking_warning_made_an_error_closes_the_coroutine_it_refuses() -> None:
    # Bug: with the warning turned into an error (pytest's filterwarnings=error), the
    # coroutine was left unclosed and Python warned it was never awaited.
    async def where() -> str:
        return "never run"

    coro = where()

    async def cell() -> None:
        run_async_task(coro, timeout=10)

    with warnings.catch_warnings():
        warnings.simplefilter("error", LoopBlockingWarning)
        with pytest.raises(LoopBlockingWarning):
            asyncio.run(cell())
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert stats().submitted == 0
