"""`@sync_bridge` and `@fire_and_forget`: async functions as plain synchronous callables.

Both are built with `wrapt`, so they work on module functions, instance methods,
classmethods and staticmethods alike, and keep the wrapped function's signature, name,
docstring and `__wrapped__`. The result reports as synchronous to
`inspect.iscoroutinefunction()`: frameworks use that check to decide whether to await a
callable, and a wrapper that still looked async would be awaited by mistake.

Typing follows the `ParamSpec` pattern: the public functions are fully typed through
`@overload`s, the `wrapt` wrapper functions inside take `Any`.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import copy
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any, Protocol, SupportsIndex, TypeVar, overload

import wrapt
from typing_extensions import ParamSpec

from .exceptions import WorkerNotRunningError
from .infrastructure import runtime
from .infrastructure.checks import check_timeout

__all__ = ["fire_and_forget", "sync_bridge"]

logger = logging.getLogger("sincpro_async_worker")

P = ParamSpec("P")
R = TypeVar("R")
Y = TypeVar("Y")
C = TypeVar("C")


class _SyncBridgeFactory(Protocol):
    """What `sync_bridge(timeout=...)` returns: the decorator itself."""

    @overload
    def __call__(
        self, func: classmethod[C, P, Coroutine[Any, Any, R]], /
    ) -> classmethod[C, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, Coroutine[Any, Any, R]], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]], /) -> Callable[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, AsyncIterator[Y]], /) -> Callable[P, Iterator[Y]]: ...


class _FireAndForgetFactory(Protocol):
    """What `fire_and_forget(timeout=...)` returns: the decorator itself."""

    @overload
    def __call__(
        self, func: classmethod[C, P, Coroutine[Any, Any, R]], /
    ) -> classmethod[C, P, concurrent.futures.Future[R]]: ...
    @overload
    def __call__(
        self, func: staticmethod[P, Coroutine[Any, Any, R]], /
    ) -> staticmethod[P, concurrent.futures.Future[R]]: ...
    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, concurrent.futures.Future[R]]: ...


@overload
def sync_bridge(func: classmethod[C, P, Coroutine[Any, Any, R]], /) -> classmethod[C, P, R]: ...
@overload
def sync_bridge(func: staticmethod[P, Coroutine[Any, Any, R]], /) -> staticmethod[P, R]: ...
@overload
def sync_bridge(func: Callable[P, Coroutine[Any, Any, R]], /) -> Callable[P, R]: ...
@overload
def sync_bridge(func: Callable[P, AsyncIterator[Y]], /) -> Callable[P, Iterator[Y]]: ...
@overload
def sync_bridge(*, timeout: float | None = None) -> _SyncBridgeFactory: ...
def sync_bridge(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Turn an `async def` into a plain synchronous callable with the same signature.

    Each call runs the coroutine on the process-wide worker loop and returns its result
    (or raises its exception), exactly like `run_async_task(coro, timeout)`. An async
    generator function becomes a generator function: each `next()` runs one step on the
    loop, `timeout` bounds each step, and leaving the loop early closes the async
    generator on the loop. Use bare (`@sync_bridge`) or with `timeout=` seconds.

    Raises `TypeError` at decoration time for anything that is not an `async def` (or
    async generator function), and `ValueError` for a negative or NaN timeout (or one
    that is not a number: that one is a `TypeError` too).
    """
    seconds = check_timeout(timeout)
    if func is None:
        return lambda f: _decorate(f, "sync_bridge", seconds, allow_generators=True)
    return _decorate(func, "sync_bridge", seconds, allow_generators=True)


@overload
def fire_and_forget(
    func: classmethod[C, P, Coroutine[Any, Any, R]], /
) -> classmethod[C, P, concurrent.futures.Future[R]]: ...
@overload
def fire_and_forget(
    func: staticmethod[P, Coroutine[Any, Any, R]], /
) -> staticmethod[P, concurrent.futures.Future[R]]: ...
@overload
def fire_and_forget(
    func: Callable[P, Coroutine[Any, Any, R]], /
) -> Callable[P, concurrent.futures.Future[R]]: ...
@overload
def fire_and_forget(*, timeout: float | None = None) -> _FireAndForgetFactory: ...
def fire_and_forget(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Turn an `async def` into a synchronous callable that returns a `Future` at once.

    Each call schedules the coroutine on the process-wide worker loop, exactly like
    `run_async_task(coro, timeout, fire_and_forget=True)`. `timeout` bounds the task;
    `future.cancel()` cancels it on the loop; a failure nobody retrieves is logged.

    Raises `TypeError` at decoration time for anything that is not an `async def`
    (async generator functions included: there is no single result to wait for), and
    `ValueError` for a negative or NaN timeout (or one that is not a number: that one is
    a `TypeError` too).
    """
    seconds = check_timeout(timeout)
    if func is None:
        return lambda f: _decorate(f, "fire_and_forget", seconds, allow_generators=False)
    return _decorate(func, "fire_and_forget", seconds, allow_generators=False)


def _decorate(func: Any, name: str, timeout: float | None, *, allow_generators: bool) -> Any:
    if isinstance(func, functools.partial):
        # inspect sees through a partial to the async function, so the result would
        # still look like a coroutine function to frameworks.
        raise TypeError(
            f"@{name} cannot wrap functools.partial objects ({func!r}); decorate the async "
            "function itself and bind arguments when calling it"
        )
    if isinstance(func, (classmethod, staticmethod)):
        # Wrap the function inside and rebuild the descriptor around it, so both
        # decorator orders behave the same.
        return type(func)(
            _decorate(func.__func__, name, timeout, allow_generators=allow_generators)
        )
    if inspect.iscoroutinefunction(func):
        wrapper = _blocking_call(timeout) if name == "sync_bridge" else _future_call(timeout)
    elif inspect.isasyncgenfunction(func) and allow_generators:
        wrapper = _generator_call(timeout)
    else:
        raise _not_decoratable(func, name)
    return _SyncFunctionWrapper(func, wrapper)


# -- looking synchronous ----------------------------------------------------------------
#
# inspect.iscoroutinefunction() reads the CO_COROUTINE flag of `__code__` (of `__func__` for
# a bound method), which a wrapt proxy forwards from the async function. The classes below
# answer with the flags of the function we actually expose: a plain function, or a
# generator function for an async generator. `wrapt.mark_as_sync` does the same as an
# extra wrapping layer; doing it in our one layer halves the per-call cost (wrapt's C
# FunctionWrapper costs about 0.6 us a layer) and keeps `__wrapped__` the async function.

_ASYNC_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


class _SyncCode(wrapt.ObjectProxy[Any]):
    """The async function's code object, with flags that read as synchronous."""

    @property
    def co_flags(self) -> int:
        flags: int = self.__wrapped__.co_flags
        if flags & inspect.CO_ASYNC_GENERATOR:
            flags |= inspect.CO_GENERATOR
        return flags & ~_ASYNC_FLAGS


class _SyncFunctionSurrogate(wrapt.CallableObjectProxy[Any]):
    """What a bound method's `__func__` returns: the function, reading as synchronous."""

    @property
    def __code__(self) -> _SyncCode:
        return _SyncCode(self.__wrapped__.__code__)


class _BoundSyncFunctionWrapper(wrapt.BoundFunctionWrapper[..., Any]):
    @property
    def __func__(self) -> _SyncFunctionSurrogate:
        method: Any = self.__wrapped__  # the bound method wrapt made
        return _SyncFunctionSurrogate(method.__func__)

    # Pickled and copied as a bound method is: the object, and the name to look up on
    # it again; taken from the class (`Client.fetch`), the class and the name. (A proxy
    # refuses all three by default.)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return getattr, (self._bound_to(), self.__name__)

    def __copy__(self) -> Any:
        return getattr(self._bound_to(), self.__name__)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        if self._self_instance is None:
            return self.__copy__()  # a class is not copied
        return getattr(copy.deepcopy(self._self_instance, memo), self.__name__)

    def _bound_to(self) -> Any:
        return self._self_owner if self._self_instance is None else self._self_instance


class _SyncFunctionWrapper(wrapt.FunctionWrapper[..., Any]):
    __bound_function_wrapper__ = _BoundSyncFunctionWrapper

    @property
    def __code__(self) -> _SyncCode:
        return _SyncCode(self.__wrapped__.__code__)

    # Pickled as a plain function is, by reference to its module and qualified name, so
    # multiprocessing and process pools can send it to a worker; copied as one is, not at
    # all. (A proxy refuses all three by default.)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str:
        name: str = self.__qualname__
        return name

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


# -- the wrappers ------------------------------------------------------------------------


def _blocking_call(timeout: float | None) -> Callable[..., Any]:
    execute = runtime.call

    def call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return execute(wrapped(*args, **kwargs), timeout)

    return call


def _future_call(timeout: float | None) -> Callable[..., Any]:
    execute_async = runtime.spawn

    def call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return execute_async(wrapped(*args, **kwargs), timeout)

    return call


def _generator_call(timeout: float | None) -> Callable[..., Any]:
    def call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return _iterate(wrapped(*args, **kwargs), timeout)

    return call


def _iterate(agen: AsyncIterator[Y], timeout: float | None) -> Generator[Y, None, None]:
    """Drive `agen` one step per `next()` on the worker loop; close it there on exit.

    All steps run in one context, copied from the caller at the first step, so context
    variables the generator sets survive from one step to the next (Python 3.11+; 3.10
    tasks cannot be given a context, so there each step runs in a fresh copy).
    """
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
    aclose = getattr(agen, "aclose", None)
    worker = runtime.existing_worker()
    if aclose is None or worker is None or not worker.is_running():
        return  # no loop left: its shutdown already finalised the generator
    closing = runtime.spawn(_aclose(agen), None, context)
    # On the loop thread (the generator was garbage collected there) nobody may wait:
    # the close runs as soon as the current callback returns.
    if not runtime.on_worker_thread():
        closing.result(timeout)


_EXHAUSTED: Any = object()


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
    # Ending is not a failure: report it with a sentinel, not StopAsyncIteration.
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return _EXHAUSTED  # type: ignore[no-any-return]


def _not_decoratable(func: Any, name: str) -> TypeError:
    if inspect.isasyncgenfunction(func):
        return TypeError(
            f"@{name} cannot wrap the async generator function {func.__qualname__}: it "
            "has no single result for a Future; use @sync_bridge to iterate it "
            "synchronously"
        )
    if not callable(func):
        hint = (
            f"; for a timeout, write @{name}(timeout={func!r})"
            if isinstance(func, (int, float))
            else ""
        )
        return TypeError(f"@{name} expects an async def function, got {func!r}{hint}")
    label = getattr(func, "__qualname__", repr(func))
    return TypeError(
        f"@{name} expects an async def function, but {label} is not one; define it with "
        "`async def`, or call it directly if it is already synchronous"
    )
