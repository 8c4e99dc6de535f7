"""`Dispatcher`: the original library's front door, kept for code written against it.

`run_async_task` and the decorators do not go through it; they check their input and call
the process-wide runtime directly. A `Dispatcher` does the same checks and routes to the
process-wide worker, or to a worker of its own.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Awaitable
from typing import TypeVar, final

from ..domain.worker import WorkerInterface
from . import runtime
from .checks import as_coroutine, bounded, check_timeout, discard
from .worker import Worker

__all__ = ["Dispatcher"]

T = TypeVar("T")


@final
class Dispatcher:
    """Routes coroutines to a worker: the process-wide one unless another is given.

    `Dispatcher()` is cheap and every instance without an explicit worker shares the one
    process-wide worker, so code written as `Dispatcher().execute(coro)` keeps working.
    An explicit `Worker` is started on first use. Any other object with the original
    four methods (`WorkerInterface`) gets blocking calls built on its `run_coroutine()`,
    without the loop-thread guard it cannot provide.
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
        """Run `task` on the worker loop and return its result, blocking this thread.

        Raises the task's own exception unchanged, `TimeoutError` when `timeout`
        expires (the task is cancelled on the loop), and `DeadlockError` when called
        from the loop's own thread. The task runs in `context` if given, otherwise in a
        copy of the caller's context.
        """
        coro = as_coroutine(task, "Dispatcher.execute")
        seconds = check_timeout(timeout, coro)
        worker = self._worker
        if worker is None:
            return runtime.call(coro, seconds, context)
        if isinstance(worker, Worker):
            return worker.run_blocking(coro, seconds, context=context)
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
        """Schedule `task` and return a `concurrent.futures.Future` at once.

        `timeout` bounds the task itself; `future.cancel()` cancels it on the loop.
        """
        coro = as_coroutine(task, "Dispatcher.execute_async")
        seconds = check_timeout(timeout, coro)
        worker = self._worker
        if worker is None:
            return runtime.spawn(coro, seconds, context)
        if isinstance(worker, Worker):
            return worker.run_coroutine(coro, seconds, context=context)
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
