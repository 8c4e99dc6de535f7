"""The explicit entry point, `run_async_task`, and the process-wide lifecycle functions."""

from __future__ import annotations

import asyncio
import concurrent.futures
import warnings
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar, overload

from .exceptions import LoopBlockingWarning
from .infrastructure import runtime
from .infrastructure.checks import as_coroutine, check_flag, check_timeout, discard
from .infrastructure.runtime import Settings, configure
from .infrastructure.worker import WorkerStats

__all__ = [
    "Settings",
    "WorkerStats",
    "configure",
    "loop_blocking_warning",
    "run_async_task",
    "running_loop",
    "shutdown",
    "stats",
]

T = TypeVar("T")

#: Whether this thread runs an event loop, checked on every blocking call: a C call, no
#: frame. Only when one runs is it asked whether that loop is the worker's.
running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop


@overload
def run_async_task(
    task: Awaitable[T], timeout: float | None = None, fire_and_forget: Literal[False] = False
) -> T: ...
@overload
def run_async_task(
    task: Awaitable[T], timeout: float | None = None, *, fire_and_forget: Literal[True]
) -> concurrent.futures.Future[T]: ...
@overload
def run_async_task(
    task: Awaitable[T], timeout: float | None, fire_and_forget: Literal[True]
) -> concurrent.futures.Future[T]: ...
@overload
def run_async_task(
    task: Awaitable[T], timeout: float | None = None, fire_and_forget: bool = False
) -> T | concurrent.futures.Future[T]: ...
def run_async_task(
    task: Awaitable[T], timeout: float | None = None, fire_and_forget: bool = False
) -> T | concurrent.futures.Future[T]:
    """Run a coroutine on the process-wide event loop from synchronous code.

    Returns its result or raises its exception. After `timeout` seconds the task is
    cancelled on the loop and `TimeoutError` raised (one the coroutine raises itself passes
    through unchanged). From the loop's own thread: `DeadlockError`; from a thread running
    another loop it works, with `LoopBlockingWarning`. `fire_and_forget=True` returns a
    `concurrent.futures.Future` at once; `timeout` then bounds the task, `cancel()` cancels
    it. Bad input is a `TypeError`/`ValueError`, and nothing is scheduled.
    """
    coro = as_coroutine(task, "run_async_task")
    seconds = None if timeout is None else check_timeout(timeout, coro)
    flag: object = fire_and_forget  # as typed, it could be nothing but a bool
    if flag is True or (flag is not False and check_flag(flag, coro)):
        return runtime.spawn(coro, seconds)
    if running_loop() is not None and not runtime.on_worker_thread():
        try:
            warnings.warn(loop_blocking_warning("run_async_task()", None), stacklevel=2)
        except BaseException:  # warnings made errors: the coroutine will never run
            discard(coro)
            raise
    return runtime.call(coro, seconds)


def loop_blocking_warning(what: str, aio: str | None) -> LoopBlockingWarning:
    """The warning for a blocking call of `what` made on a thread that runs a loop."""
    instead = "await the coroutine itself, or use the `.aio` twin of a decorated function"
    if aio is not None:
        instead = f"use `await {aio}(...)`"
    return LoopBlockingWarning(
        f"{what} was called from a thread whose own event loop is running: it works, but blocks"
        f" that loop and every task on it until the worker answers; inside `async def`, {instead}"
    )


def shutdown(timeout: float | None = 5.0) -> None:
    """Stop the worker gracefully: no new work, drain, cancel what is left, close.

    Pending tasks get up to `timeout` seconds (None: no limit); those still running are then
    cancelled and logged. Idempotent; the next call of the API starts a fresh worker. Called
    from the loop's own thread, it raises `DeadlockError`.
    """
    runtime.shutdown(timeout)


def stats() -> WorkerStats:
    """A snapshot of the process's counters, all zero before the first call.

    They count every task since the process started (or forked), across restarts, so they
    only grow; `running` is what is queued or running now.
    """
    return runtime.stats()
