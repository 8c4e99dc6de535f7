"""`Dispatcher`: the original library's front door, kept for code written against it.

`run_async_task` and the decorators make the same checks and call the runtime directly.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Awaitable
from typing import TypeVar, final

from ..domain.worker import WorkerInterface
from . import runtime
from .checks import (
    as_coroutine,
    bounded,
    check_context,
    check_timeout,
    discard,
    running_loop,
    warn_blocking,
)
from .worker import Worker

__all__ = ["Dispatcher"]

T = TypeVar("T")


@final
class Dispatcher:
    """Routes coroutines to a worker: the process-wide one unless another is given.

    `Dispatcher()` is cheap; without a worker of its own it uses the process-wide one. A
    `Worker` given is started on first use; any other `WorkerInterface` gets blocking calls
    built on its `run_coroutine()`, without the loop-thread guard it cannot provide.
    """

    __slots__ = ("_worker",)

    def __init__(self, worker: WorkerInterface | None = None) -> None:
        self._worker = worker

    def execute(
        self,
        task: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> T:
        """Run `task` on the worker loop and return its result, as `run_async_task` does;
        it runs in `context` if given, otherwise in a copy of the caller's."""
        coro = as_coroutine(task, "Dispatcher.execute")
        seconds = check_timeout(timeout, coro)
        context = check_context(context, coro)
        worker = self._worker
        if running_loop() is not None and not (
            worker.owns_current_thread()
            if isinstance(worker, Worker)
            else runtime.on_worker_thread()
        ):
            warn_blocking("Dispatcher.execute()", None, coro, stacklevel=2)
        if worker is None:
            return runtime.call(coro, seconds, context)
        if isinstance(worker, Worker):
            return worker.call(coro, seconds, context)
        future = self._submit_to(worker, coro, None, context)
        try:
            return future.result(seconds)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise  # the coroutine's own TimeoutError
            future.cancel()
            raise TimeoutError(f"the task did not finish within {seconds} s") from None
        except BaseException:
            future.cancel()  # KeyboardInterrupt while waiting: do not leave it running
            raise

    def execute_async(
        self,
        task: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> concurrent.futures.Future[T]:
        """Schedule `task` and return its `concurrent.futures.Future` at once; `timeout`
        bounds the task, and `future.cancel()` cancels it on the loop."""
        coro = as_coroutine(task, "Dispatcher.execute_async")
        seconds = check_timeout(timeout, coro)
        context = check_context(context, coro)
        worker = self._worker
        if worker is None:
            return runtime.spawn(coro, seconds, context)
        if isinstance(worker, Worker):
            return worker.spawn(coro, seconds, context)
        return self._submit_to(worker, coro, seconds, context)

    @staticmethod
    def _submit_to(
        worker: WorkerInterface,
        coro: Awaitable[T],
        timeout: float | None,
        context: contextvars.Context | None,
    ) -> concurrent.futures.Future[T]:
        """Submit to a worker that offers only the original four methods."""
        try:
            if not worker.is_running():
                worker.start()
        except BaseException:
            discard(coro)
            raise
        if timeout is not None:
            coro = bounded(coro, timeout)
        if context is None:
            return worker.run_coroutine(coro)
        return context.run(worker.run_coroutine, coro)
