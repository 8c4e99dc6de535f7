"""The explicit entry point, `run_async_task`, and the process-wide lifecycle functions."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable
from typing import Literal, TypeVar, overload

from .infrastructure import runtime
from .infrastructure.dispatcher import Dispatcher
from .infrastructure.runtime import Settings, configure
from .infrastructure.worker import WorkerStats

__all__ = [
    "Settings",
    "WorkerStats",
    "configure",
    "get_dispatcher",
    "run_async_task",
    "shutdown",
    "stats",
]

T = TypeVar("T")

_dispatcher = Dispatcher()


def get_dispatcher() -> Dispatcher:
    """The dispatcher behind `run_async_task` and the decorators."""
    return _dispatcher


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

    Blocking (the default): returns the coroutine's result, or raises its exception with
    the original type and traceback. When `timeout` seconds pass first, the task is
    cancelled on the loop and the built-in `TimeoutError` is raised; a `TimeoutError` the
    coroutine raises itself propagates unchanged. Called from the loop's own thread, it
    raises `DeadlockError` at once instead of deadlocking.

    `fire_and_forget=True`: returns a `concurrent.futures.Future` at once. `timeout` then
    bounds the task itself, and `future.cancel()` cancels it on the loop. A failure nobody
    retrieves is logged when the future is garbage collected.

    Bad input (not an awaitable, a coroutine function left uncalled, a negative or NaN
    timeout) raises `TypeError`/`ValueError` and schedules nothing. An infinite timeout
    means no limit, as None does.
    """
    if fire_and_forget:
        return _dispatcher.execute_async(task, timeout)
    return _dispatcher.execute(task, timeout)


def shutdown(timeout: float | None = 5.0) -> None:
    """Stop the worker gracefully: no new work, drain, cancel what is left, close.

    Pending tasks get up to `timeout` seconds (`None`: no limit); each task still running
    then is cancelled and logged by name. The loop is closed (async generators and the
    default executor included) and its thread joined. Idempotent; the next call of the
    API starts a fresh worker. Raises `DeadlockError` from the loop's own thread.
    """
    runtime.shutdown(timeout)


def stats() -> WorkerStats:
    """A snapshot of the process's counters (all zero before the first call).

    They count every task since the process started (in a forked child: since the fork),
    across `shutdown()` and restarts, so they only ever grow, as monitoring counters
    must; `running` is what is queued or running now.
    """
    return runtime.stats()
