"""The explicit entry point, `run_async_task`, and the process-wide lifecycle functions."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable
from typing import Literal, TypeVar, overload

from .infrastructure import runtime
from .infrastructure.checks import (
    as_coroutine,
    check_flag,
    check_timeout,
    running_loop,
    warn_blocking,
)
from .infrastructure.runtime import Settings, configure
from .infrastructure.worker import WorkerStats

__all__ = [
    "Settings",
    "WorkerStats",
    "configure",
    "run_async_task",
    "shutdown",
    "stats",
]

T = TypeVar("T")


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
        warn_blocking("run_async_task()", None, coro, stacklevel=2)
    return runtime.call(coro, seconds)


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
