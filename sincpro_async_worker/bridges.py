"""The crossings beyond one coroutine: `sync_iter`, `sync_context`, and the `.aio` twins.

Each step, enter or exit is one task on the worker loop, bounded by `timeout`; those of one
iteration or `with` block share a context copied from the caller.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from contextvars import Context, copy_context
from typing import Any, Generic, TypeVar

from .exceptions import WorkerNotRunningError
from .infrastructure import runtime
from .infrastructure.checks import (
    as_coroutine,
    bounded,
    check_timeout,
    discard,
    is_bridge,
    named,
    running_loop,
    shown,
    warn_blocking,
)
from .infrastructure.event_loop import CANCEL_GRACE

__all__ = ["AioContext", "SyncContext", "aio_iterate", "on_worker", "sync_context", "sync_iter"]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")

T = TypeVar("T")
R = TypeVar("R")

_EXHAUSTED: Any = object()


def sync_iter(
    aiterable: AsyncIterable[T], timeout: float | None = None
) -> Generator[T, None, None]:
    """Iterate an async iterable from sync code, one step per `next()` on the worker loop.

    `timeout` bounds each step. Leaving early (break, an exception, `close()`, garbage
    collection) closes the async iterator on the loop, if it has `aclose()`.
    """
    seconds = check_timeout(timeout)
    if not hasattr(aiterable, "__aiter__"):
        discard(aiterable)  # a coroutine, say: it will never run
        raise TypeError(
            f"sync_iter() expects an async iterable, got {type(aiterable).__qualname__} "
            f"{shown(aiterable)}; a sync iterable needs no bridge (iterate it directly), and an "
            "async generator function must be called: sync_iter(gen())"
        )
    if running_loop() is not None and not runtime.on_worker_thread():
        warn_blocking("sync_iter()", "iterate it with `async for`", None, stacklevel=2)
    return _iterate(aiterable.__aiter__(), seconds)


def _iterate(agen: AsyncIterator[T], timeout: float | None) -> Generator[T, None, None]:
    context = copy_context()
    iteration = _Iteration(agen)
    try:
        while True:
            item = runtime.call(iteration.next(), timeout, context)
            if item is _EXHAUSTED:
                return
            yield item
    except GeneratorExit:  # left early: an error in the generator's own cleanup is the news
        _close_on_loop(iteration, context, timeout)
        raise
    except BaseException:  # a step failed: its error is the news, not a failure to close
        try:
            _close_on_loop(iteration, context, timeout)
        except Exception:
            logger.debug("Could not close %r after a failed step", agen, exc_info=True)
        raise


def _close_on_loop(iteration: _Iteration, context: Context, timeout: float | None) -> None:
    worker = runtime.existing_worker()
    if not hasattr(iteration.agen, "aclose") or worker is None or not worker.is_running():
        return  # no loop left: its shutdown already finalised the generator
    if runtime.on_worker_thread():  # garbage collected there: nobody may wait; it runs soon
        runtime.spawn(iteration.closing(), timeout, context).add_done_callback(_read)
    else:
        runtime.call(iteration.closing(), timeout, context, bounded=False)


def _read(future: concurrent.futures.Future[Any]) -> None:
    """Retrieve the outcome of a task whose caller is gone (or never waited): its failure
    is no unretrieved fire-and-forget failure to report."""
    failure = None if future.cancelled() else future.exception()
    if failure is not None:
        logger.debug("A task nobody waited for failed", exc_info=failure)


class _Iteration:
    """One iteration of an async iterator, step by step on the worker loop, and what that
    loop knows of it (and alone writes): whether a step has returned an item, and the step
    running now."""

    __slots__ = ("agen", "step", "stepped")

    def __init__(self, agen: AsyncIterator[Any]) -> None:
        self.agen: Any = agen  # an async generator has `aclose()`, an iterator may not
        self.stepped = False
        self.step: asyncio.Task[Any] | None = None

    def next(self) -> Coroutine[Any, Any, Any]:
        return named(self._next(), self.agen)

    def closing(self) -> Coroutine[Any, Any, None]:
        return named(self._aclose(), self.agen, ".aclose")

    async def _next(self) -> Any:
        agen = self.agen
        if self.stepped and getattr(agen, "ag_frame", _EXHAUSTED) is None:
            # Finished, yet we never saw it end: shutdown() finalised it. Ending quietly
            # would pass a cut-short iteration off as a complete one.
            raise WorkerNotRunningError(
                f"the async generator {getattr(agen, '__qualname__', agen)} was closed when "
                "the worker shut down in the middle of iterating it; iterate it again from "
                "the start"
            )
        self.step = asyncio.current_task()
        try:  # ending is no failure: report it with a sentinel, not StopAsyncIteration
            item = await agen.__anext__()
        except StopAsyncIteration:
            return _EXHAUSTED
        finally:
            self.step = None
        self.stepped = True
        return item

    async def _aclose(self) -> None:
        step = self.step
        if step is not None:
            # Left while a step runs (its caller was cancelled, or interrupted, and the
            # cancellation it posted may not have arrived): the generator refuses to close
            # until that step has ended.
            step.cancel()
            await asyncio.wait((step,), timeout=CANCEL_GRACE)
        await self.agen.aclose()


def sync_context(
    acm: AbstractAsyncContextManager[T], timeout: float | None = None
) -> AbstractContextManager[T]:
    """Use an async context manager in a sync `with`, entered and exited on the worker loop.

    An exception in the `with` body reaches `__aexit__`, which may suppress it. `timeout`
    bounds the enter and the exit, each.
    """
    seconds = check_timeout(timeout)
    # A function (a bridged one too: wrapt's proxy has __aenter__) is not one yet.
    given: object = acm  # as typed, it could not be a function
    function = inspect.isroutine(given) or is_bridge(given)
    if function or not (hasattr(acm, "__aenter__") and hasattr(acm, "__aexit__")):
        hint = "; it is a sync context manager: use `with` on it directly"
        if function or not hasattr(acm, "__enter__"):
            hint = "; an @asynccontextmanager function must be called: sync_context(cm())"
        discard(acm)
        raise TypeError(
            f"sync_context() expects an async context manager (with __aenter__ and "
            f"__aexit__), got {type(acm).__qualname__} {shown(acm)}{hint}"
        )
    if running_loop() is not None and not runtime.on_worker_thread():
        warn_blocking("sync_context()", "enter it with `async with`", None, stacklevel=2)
    return SyncContext(acm, seconds)


async def on_worker(awaitable: Awaitable[T], timeout: float | None, context: Context | None) -> T:
    """Await `awaitable` as a task on the worker loop, or directly when on that loop already;
    cancelling the awaiting task cancels the worker's task. The outcome comes back as it is
    (`asyncio.wrap_future` would replace a `TimeoutError` with a bare copy)."""
    coro = as_coroutine(awaitable, "aio")
    if runtime.on_worker_thread():
        return await (coro if timeout is None else bounded(coro, timeout))
    future = runtime.spawn(coro, timeout, context)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()
    future.add_done_callback(functools.partial(_send_outcome, loop, waiter))
    try:
        return await waiter
    except asyncio.CancelledError:
        future.cancel()  # nothing, once the task has its outcome
        raise


def _send_outcome(
    loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[T], future: concurrent.futures.Future[T]
) -> None:
    try:
        loop.call_soon_threadsafe(_copy_outcome, future, waiter)
    except RuntimeError:  # the awaiting loop has closed: nobody awaits it any more
        _read(future)


def _copy_outcome(future: concurrent.futures.Future[T], waiter: asyncio.Future[T]) -> None:
    if waiter.cancelled():  # its caller was cancelled as the task ended
        _read(future)
    elif future.cancelled():
        waiter.cancel()
    elif (error := future.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(future.result())


async def aio_iterate(
    func: Callable[..., AsyncIterator[T]], timeout: float | None, /, *args: Any, **kwargs: Any
) -> AsyncIterator[T]:
    """The async generator `func(*args, **kwargs)`, stepped on the worker loop."""
    iteration = _Iteration(func(*args, **kwargs))
    context = copy_context()
    try:
        while True:
            item = await on_worker(iteration.next(), timeout, context)
            if item is _EXHAUSTED:
                return
            yield item
    finally:
        await on_worker(iteration.closing(), timeout, context)


class _ContextBridge(Generic[T]):
    """An async context manager to enter and exit on the worker loop, and how those two
    tasks are named: after its @asynccontextmanager function, or its class."""

    def __init__(self, acm: AbstractAsyncContextManager[T], timeout: float | None) -> None:
        self._acm = acm
        self._timeout = timeout
        gen = getattr(acm, "gen", None)
        self._owner = gen if inspect.isasyncgen(gen) else type(acm)

    def _enter(self) -> Coroutine[Any, Any, T]:
        return self._named(self._acm.__aenter__(), ".__aenter__")

    def _exit(self, exc_info: tuple[Any, ...]) -> Coroutine[Any, Any, bool | None]:
        gen = self._owner
        if inspect.isasyncgen(gen) and gen.ag_frame is None:
            # Finalised under the `with` block: the loop it ran on shut down. Its exit
            # would find nothing to resume and report a clean one.
            raise WorkerNotRunningError(
                f"the async context manager {gen.__qualname__} was closed when the worker "
                "shut down inside its `with` block, and its cleanup ran then; enter it again "
                "once the worker runs"
            )
        return self._named(self._acm.__aexit__(*exc_info), ".__aexit__")

    def _named(self, awaitable: Awaitable[R], suffix: str) -> Coroutine[Any, Any, R]:
        return named(as_coroutine(awaitable, "sync_context"), self._owner, suffix)


class SyncContext(_ContextBridge[T], AbstractContextManager[T]):
    """What `sync_context` returns. Each `with` block enters the async context manager on
    the worker loop and exits it there, both in one copy of the caller's context; it can be
    used again as often as the async context manager itself can."""

    def __init__(self, acm: AbstractAsyncContextManager[T], timeout: float | None) -> None:
        super().__init__(acm, timeout)
        self._contexts: list[Context] = []  # one per `with` block it is in now

    def __enter__(self) -> T:
        context = copy_context()
        value: T = runtime.call(self._enter(), self._timeout, context)
        self._contexts.append(context)
        return value

    def __exit__(self, *exc_info: Any) -> bool:
        # An exit (as a close) never waits for an in-flight slot: it may be what frees one.
        exit_ = self._exit(exc_info)
        return bool(runtime.call(exit_, self._timeout, self._contexts.pop(), bounded=False))


class AioContext(_ContextBridge[T], AbstractAsyncContextManager[T]):
    """The `.aio` twin's: for `async with`, entered and exited on the worker loop."""

    def __init__(self, acm: AbstractAsyncContextManager[T], timeout: float | None) -> None:
        super().__init__(acm, timeout)
        self._context = copy_context()

    async def __aenter__(self) -> T:
        return await on_worker(self._enter(), self._timeout, self._context)

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await on_worker(self._exit(exc_info), self._timeout, self._context)
