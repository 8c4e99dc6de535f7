"""Crossing between sync and async code for the shapes beyond one coroutine.

Sync side: `sync_iter` (an async iterable stepped on the worker loop) and `sync_context`
(an async context manager entered and exited there). Async side: the `.aio` twins of
decorated functions, which run their work on the worker loop and await it from the
caller's loop. Each step, enter or exit is one task on the worker loop, bounded by
`timeout`, and all of one iteration's (or one `with` block's) run in one context, copied
from the caller at the start (Python 3.11+; on 3.10 each task copies it afresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

from .exceptions import WorkerNotRunningError
from .infrastructure import runtime
from .infrastructure.checks import as_coroutine, bounded, check_timeout

__all__ = ["AioContext", "aio_call", "aio_iterate", "sync_context", "sync_iter"]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")

T = TypeVar("T")
Y = TypeVar("Y")

_EXHAUSTED: Any = object()


def sync_iter(
    aiterable: AsyncIterable[Y], timeout: float | None = None
) -> Generator[Y, None, None]:
    """Iterate an async iterable from sync code, one step per `next()` on the worker loop.

    `timeout` bounds each step. Leaving the loop early (break, an exception, `close()`,
    garbage collection) closes the async iterator on the loop, if it has `aclose()`.
    """
    seconds = check_timeout(timeout)
    if not hasattr(aiterable, "__aiter__"):
        raise TypeError(
            f"sync_iter() expects an async iterable, got {type(aiterable).__qualname__} "
            f"{aiterable!r}; a sync iterable needs no bridge (iterate it directly), and an "
            "async generator function must be called: sync_iter(gen())"
        )
    return _iterate(aiterable.__aiter__(), seconds)


def _iterate(agen: AsyncIterator[Y], timeout: float | None) -> Generator[Y, None, None]:
    context = contextvars.copy_context()
    try:
        while True:
            item = runtime.call(_step(agen), timeout, context)
            if item is _EXHAUSTED:
                return
            yield item
    except GeneratorExit:
        # Left early (break, close(), garbage collection): an error in the generator's
        # own cleanup is the news here, so it propagates.
        _close_on_loop(agen, context, timeout)
        raise
    except BaseException:
        # A step failed (its own error, or our timeout): that error is the news, not
        # any trouble closing a generator that may still be unwinding from it.
        try:
            _close_on_loop(agen, context, timeout)
        except Exception:
            logger.debug("Could not close %r after a failed step", agen, exc_info=True)
        raise


def _close_on_loop(
    agen: AsyncIterator[Any], context: contextvars.Context, timeout: float | None
) -> None:
    worker = runtime.existing_worker()
    if not hasattr(agen, "aclose") or worker is None or not worker.is_running():
        return  # no loop left: its shutdown already finalised the generator
    closing = runtime.spawn(_aclose(agen), None, context)
    # On the loop thread (the generator was garbage collected there) nobody may wait:
    # the close runs as soon as the current callback returns.
    if not runtime.on_worker_thread():
        closing.result(timeout)


async def _aclose(agen: Any) -> None:
    await agen.aclose()


async def _step(agen: AsyncIterator[Y]) -> Y:
    if getattr(agen, "ag_frame", _EXHAUSTED) is None:
        # Finished, yet we never saw it end: a shutdown() finalised it with its loop.
        # Ending quietly here would pass a cut-short iteration off as a complete one.
        raise WorkerNotRunningError(
            f"the async generator {getattr(agen, '__qualname__', agen)} was closed when "
            "the worker shut down in the middle of iterating it; iterate it again from "
            "the start"
        )
    try:  # ending is no failure: report it with a sentinel, not StopAsyncIteration
        return await agen.__anext__()
    except StopAsyncIteration:
        return _EXHAUSTED  # type: ignore[no-any-return]


def sync_context(
    acm: AbstractAsyncContextManager[T], timeout: float | None = None
) -> AbstractContextManager[T]:
    """Use an async context manager in a sync `with`, entered and exited on the worker loop.

    An exception raised in the `with` body reaches `__aexit__`, which may suppress it.
    `timeout` bounds the enter and the exit, each.
    """
    seconds = check_timeout(timeout)
    if not (hasattr(acm, "__aenter__") and hasattr(acm, "__aexit__")):
        hint = (
            "; it is a sync context manager: use `with` on it directly"
            if hasattr(acm, "__enter__")
            else "; an @asynccontextmanager function must be called: sync_context(cm())"
        )
        raise TypeError(
            f"sync_context() expects an async context manager (with __aenter__ and "
            f"__aexit__), got {type(acm).__qualname__} {acm!r}{hint}"
        )
    return _entered(acm, seconds)


@contextlib.contextmanager
def _entered(acm: AbstractAsyncContextManager[T], timeout: float | None) -> Iterator[T]:
    context = contextvars.copy_context()
    value: T = runtime.call(as_coroutine(acm.__aenter__(), "sync_context"), timeout, context)
    try:
        yield value
    except BaseException as exc:
        exit_ = acm.__aexit__(type(exc), exc, exc.__traceback__)
        if not runtime.call(as_coroutine(exit_, "sync_context"), timeout, context):
            raise
    else:
        runtime.call(
            as_coroutine(acm.__aexit__(None, None, None), "sync_context"), timeout, context
        )


# -- the .aio twins ------------------------------------------------------------------------


async def _on_worker(
    awaitable: Awaitable[T], timeout: float | None, context: contextvars.Context | None = None
) -> T:
    """Run `awaitable` on the worker loop and await its outcome from the running loop.

    On the worker loop itself it is simply awaited. Cancelling the awaiting task cancels
    the worker's task.
    """
    coro = as_coroutine(awaitable, "aio")
    if runtime.on_worker_thread():
        return await (coro if timeout is None else bounded(coro, timeout))
    return await asyncio.wrap_future(runtime.spawn(coro, timeout, context))


async def aio_call(
    func: Callable[..., Awaitable[T]], timeout: float | None, /, *args: Any, **kwargs: Any
) -> T:
    """`func(*args, **kwargs)` on the worker loop, awaited from the caller's loop."""
    return await _on_worker(func(*args, **kwargs), timeout)


async def aio_iterate(
    func: Callable[..., AsyncIterator[Y]], timeout: float | None, /, *args: Any, **kwargs: Any
) -> AsyncIterator[Y]:
    """The async generator `func(*args, **kwargs)`, stepped on the worker loop."""
    agen = func(*args, **kwargs)
    context = contextvars.copy_context()
    try:
        while True:
            item = await _on_worker(_step(agen), timeout, context)
            if item is _EXHAUSTED:
                return
            yield item
    finally:
        await _on_worker(_aclose(agen), timeout, context)


class AioContext(AbstractAsyncContextManager[T]):
    """An async context manager entered and exited on the worker loop, for `async with`."""

    def __init__(self, acm: AbstractAsyncContextManager[T], timeout: float | None) -> None:
        self._acm = acm
        self._timeout = timeout
        self._context = contextvars.copy_context()

    async def __aenter__(self) -> T:
        return await _on_worker(self._acm.__aenter__(), self._timeout, self._context)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        exit_ = self._acm.__aexit__(exc_type, exc, tb)
        return await _on_worker(exit_, self._timeout, self._context)
