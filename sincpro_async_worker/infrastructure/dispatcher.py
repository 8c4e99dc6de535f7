"""Checking requests and routing them to a worker.

Every bad request is refused here, before anything is scheduled, with an error that
names what was received and what to do instead. A refused coroutine is closed, so it
never runs and Python does not warn that it was never awaited.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import inspect
import sys
import types
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar, cast, final

from ..domain.worker import BlockingWorkerInterface, WorkerInterface
from . import runtime
from .event_loop import bounded, discard
from .worker import check_timeout

__all__ = ["Dispatcher", "as_coroutine"]

T = TypeVar("T")


@final
class Dispatcher:
    """Routes coroutines to a worker: the process-wide one unless another is given.

    `Dispatcher()` is cheap and every instance without an explicit worker shares the one
    process-wide worker, so code written as `Dispatcher().execute(coro)` keeps working.
    An explicit worker (anything satisfying `WorkerInterface`) is started on first use;
    one with only the original four methods gets blocking calls built on its
    `run_coroutine()`, without the loop-thread guard it cannot provide.
    """

    __slots__ = ("_worker",)

    def __init__(self, worker: WorkerInterface | None = None) -> None:
        self._worker: BlockingWorkerInterface | None
        if worker is None or isinstance(worker, BlockingWorkerInterface):
            self._worker = worker
        else:
            self._worker = _BasicWorkerAdapter(worker)

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
        coro = as_coroutine(task, "run_async_task")
        return self._execute_fresh(coro, check_timeout(timeout, coro), context)

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
        coro = as_coroutine(task, "run_async_task")
        return self._execute_async_fresh(coro, check_timeout(timeout, coro), context)

    # After the checks. The decorators come straight here: their coroutines are fresh by
    # construction and their timeout was checked at decoration time.

    def _execute_fresh(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None,
        context: contextvars.Context | None = None,
    ) -> T:
        return self._target(coro).run_blocking(coro, timeout, context=context)

    def _execute_async_fresh(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None,
        context: contextvars.Context | None = None,
    ) -> concurrent.futures.Future[T]:
        return self._target(coro).run_coroutine(coro, timeout, context=context)

    def has_running_worker(self) -> bool:
        """Whether the worker this dispatcher uses is running now (none is started)."""
        worker = runtime.existing_worker() if self._worker is None else self._worker
        return worker is not None and worker.is_running()

    def on_loop_thread(self) -> bool:
        """Whether the caller runs on the worker loop's thread, where it must not block."""
        worker = runtime.existing_worker() if self._worker is None else self._worker
        return worker is not None and worker.owns_current_thread()

    def _target(self, coro: Coroutine[Any, Any, Any]) -> BlockingWorkerInterface:
        worker = self._worker
        try:
            if worker is None:
                return runtime.current_worker()
            if not worker.is_running():
                worker.start()
        except BaseException:
            discard(coro)  # it will never run; spare the "never awaited" warning
            raise
        return worker


class _BasicWorkerAdapter:
    """Gives a worker with the original four methods the interface the dispatcher uses."""

    __slots__ = ("_worker",)

    def __init__(self, worker: WorkerInterface) -> None:
        self._worker = worker

    def start(self) -> None:
        self._worker.start()

    def is_running(self) -> bool:
        return self._worker.is_running()

    def shutdown(self, timeout: float | None = 5.0) -> None:
        self._worker.shutdown()

    def owns_current_thread(self) -> bool:
        return False  # unknowable for such a worker

    def run_coroutine(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> concurrent.futures.Future[T]:
        if timeout is not None:
            coro = bounded(coro, timeout)
        if context is None:
            return self._worker.run_coroutine(coro)
        return context.run(self._worker.run_coroutine, coro)

    def run_blocking(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> T:
        future = self.run_coroutine(coro, context=context)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise  # the coroutine's own TimeoutError
            future.cancel()
            raise TimeoutError(f"the task did not finish within {timeout} s") from None
        except BaseException:
            future.cancel()  # KeyboardInterrupt while waiting: do not leave it running
            raise


def as_coroutine(task: Awaitable[T], api: str) -> Coroutine[Any, Any, T]:
    """Return `task` as a fresh coroutine, or raise an error that says what to pass."""
    if type(task) is types.CoroutineType and _is_fresh(task):  # the hot path
        return task
    if inspect.iscoroutine(task):
        state = inspect.getcoroutinestate(task)
        if state != inspect.CORO_CREATED:
            name = task.__qualname__
            raise RuntimeError(
                f"{api}() got the coroutine {name}() that has already "
                f"{'finished or been closed' if state == inspect.CORO_CLOSED else 'started'}; "
                f"a coroutine runs once, so call {name}() again to get a fresh one"
            )
        return cast("Coroutine[Any, Any, T]", task)
    if inspect.isawaitable(task):
        return _await(task)
    raise _not_awaitable(task, api)


if sys.version_info >= (3, 11):

    def _is_fresh(coro: types.CoroutineType[Any, Any, Any]) -> bool:
        return coro.cr_frame is not None and not coro.cr_running and not coro.cr_suspended

else:

    def _is_fresh(coro: types.CoroutineType[Any, Any, Any]) -> bool:
        # Before 3.11 an unstarted coroutine's frame has not executed an instruction.
        frame = coro.cr_frame
        return frame is not None and frame.f_lasti < 0


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _not_awaitable(task: object, api: str) -> TypeError:
    if inspect.iscoroutinefunction(task) or inspect.iscoroutinefunction(
        getattr(task, "__func__", None)
    ):
        name = getattr(task, "__qualname__", repr(task))
        return TypeError(
            f"{api}() expects a coroutine, but got the coroutine function {name} "
            f"itself; did you mean {name}()?"
        )
    if inspect.isasyncgen(task) or inspect.isasyncgenfunction(task):
        return TypeError(
            f"{api}() expects a coroutine, but got the async generator {task!r}; "
            "iterate it with `async for` inside a coroutine, or decorate its function "
            "with @sync_bridge to iterate it from sync code"
        )
    return TypeError(
        f"{api}() expects a coroutine or another awaitable, but got "
        f"{type(task).__qualname__} {task!r}; pass the result of calling an async "
        "function, e.g. fetch() rather than fetch"
    )
