"""`@sync_bridge` and `@fire_and_forget`: async functions as plain synchronous callables.

Both are built with `wrapt`, so they work on module functions, instance methods,
classmethods and staticmethods alike, and keep the wrapped function's name, docstring and
`__wrapped__`. The result reports as synchronous to `inspect.iscoroutinefunction()`
(frameworks use that check to decide whether to await a callable), and its
`inspect.signature()` and `typing.get_type_hints()` say what a call returns. Every
decorated callable has `.aio`, its twin for async code.

Typing: `@overload`s over `ParamSpec`; the `wrapt` wrapper functions inside take `Any`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import functools
import inspect
import sys
import typing
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import FrameType
from typing import Any, Concatenate, Protocol, SupportsIndex, TypeVar, overload

import wrapt
from typing_extensions import ParamSpec, Self

from .bridges import AioContext, _iterate, aio_call, aio_iterate, sync_context
from .core import blocks_a_running_loop, loop_blocking_warning, running_loop
from .infrastructure import runtime
from .infrastructure.checks import check_timeout

__all__ = ["Bridged", "BridgedDescriptor", "fire_and_forget", "sync_bridge"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
A = TypeVar("A", covariant=True)
Y = TypeVar("Y")
T = TypeVar("T")
C = TypeVar("C")
S = TypeVar("S")


class Bridged(Protocol[P, R, A]):
    """A decorated callable: called, it returns `R`; `.aio(...)` returns `A` for async code.

    Binding to an instance or class (a method) drops `self`/`cls` from `P`, on both.
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    @property
    def aio(self) -> Callable[P, A]: ...
    @overload
    def __get__(
        self: Bridged[Concatenate[type[S], P2], R, A], instance: None, owner: type[S]
    ) -> Bridged[P2, R, A]: ...
    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(
        self: Bridged[Concatenate[type[S], P2], R, A], instance: S, owner: type[Any] | None = None
    ) -> Bridged[P2, R, A]: ...
    @overload
    def __get__(
        self: Bridged[Concatenate[S, P2], R, A], instance: S, owner: type[Any] | None = None
    ) -> Bridged[P2, R, A]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> Self: ...


class BridgedDescriptor(Protocol[P, R, A]):
    """A decorated classmethod or staticmethod: what it binds to is a `Bridged`."""

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Bridged[P, R, A]: ...


_Coro = Coroutine[Any, Any, R]
_Sync = Bridged[P, R, Coroutine[Any, Any, R]]
_Fired = Bridged[P, concurrent.futures.Future[R], Coroutine[Any, Any, R]]
_Gen = Bridged[P, Generator[Y, None, None], AsyncIterator[Y]]
_Ctx = Bridged[P, AbstractContextManager[T], AbstractAsyncContextManager[T]]


class _SyncBridgeFactory(Protocol):
    """What `sync_bridge(timeout=...)` returns: the decorator itself."""

    @overload
    def __call__(
        self, func: classmethod[C, P, Awaitable[T]], /
    ) -> BridgedDescriptor[P, T, _Coro[T]]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]  # a staticmethod is callable too
        self, func: staticmethod[P, Awaitable[T]], /
    ) -> BridgedDescriptor[P, T, _Coro[T]]: ...
    @overload
    def __call__(self, func: Callable[P, AbstractAsyncContextManager[T]], /) -> _Ctx[P, T]: ...
    @overload
    def __call__(self, func: Callable[P, AsyncIterable[Y]], /) -> _Gen[P, Y]: ...
    @overload
    def __call__(self, func: Callable[P, Awaitable[T]], /) -> _Sync[P, T]: ...


class _FireAndForgetFactory(Protocol):
    """What `fire_and_forget(timeout=...)` returns: the decorator itself."""

    @overload
    def __call__(
        self, func: classmethod[C, P, Awaitable[T]], /
    ) -> BridgedDescriptor[P, concurrent.futures.Future[T], _Coro[T]]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]  # a staticmethod is callable too
        self, func: staticmethod[P, Awaitable[T]], /
    ) -> BridgedDescriptor[P, concurrent.futures.Future[T], _Coro[T]]: ...
    @overload
    def __call__(self, func: Callable[P, Awaitable[T]], /) -> _Fired[P, T]: ...


@overload
def sync_bridge(func: classmethod[C, P, Awaitable[T]], /) -> BridgedDescriptor[P, T, _Coro[T]]: ...
@overload
def sync_bridge(  # type: ignore[overload-overlap]  # a staticmethod is callable too
    func: staticmethod[P, Awaitable[T]], /
) -> BridgedDescriptor[P, T, _Coro[T]]: ...
@overload
def sync_bridge(func: Callable[P, AbstractAsyncContextManager[T]], /) -> _Ctx[P, T]: ...
@overload
def sync_bridge(func: Callable[P, AsyncIterable[Y]], /) -> _Gen[P, Y]: ...
@overload
def sync_bridge(func: Callable[P, Awaitable[T]], /) -> _Sync[P, T]: ...
@overload
def sync_bridge(*, timeout: float | None = None) -> _SyncBridgeFactory: ...
def sync_bridge(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Turn an `async def` into a plain synchronous callable with the same parameters.

    Each call runs the coroutine on the process-wide worker loop and returns its result
    (or raises its exception), exactly like `run_async_task(coro, timeout)`. An async
    generator function becomes a generator function (each `next()` one step on the loop,
    closed there when left early); an `@asynccontextmanager` function returns a sync
    context manager. `timeout` (seconds) bounds each call, step, enter and exit.

    Raises `TypeError` at decoration time for anything else, and `ValueError` for a
    negative or NaN timeout (`TimeoutTypeError`, both, for one that is not a number).
    """
    seconds = check_timeout(timeout)
    if func is None:
        return functools.partial(_decorate, api="sync_bridge", timeout=seconds)
    return _decorate(func, "sync_bridge", seconds)


@overload
def fire_and_forget(
    func: classmethod[C, P, Awaitable[T]], /
) -> BridgedDescriptor[P, concurrent.futures.Future[T], _Coro[T]]: ...
@overload
def fire_and_forget(  # type: ignore[overload-overlap]  # a staticmethod is callable too
    func: staticmethod[P, Awaitable[T]], /
) -> BridgedDescriptor[P, concurrent.futures.Future[T], _Coro[T]]: ...
@overload
def fire_and_forget(func: Callable[P, Awaitable[T]], /) -> _Fired[P, T]: ...
@overload
def fire_and_forget(*, timeout: float | None = None) -> _FireAndForgetFactory: ...
def fire_and_forget(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Turn an `async def` into a synchronous callable that returns a `Future` at once.

    Each call schedules the coroutine on the process-wide worker loop, exactly like
    `run_async_task(coro, timeout, fire_and_forget=True)`. `timeout` bounds the task;
    `future.cancel()` cancels it on the loop; a failure nobody retrieves is logged.
    `.aio(...)` awaits the outcome instead.

    Raises `TypeError` at decoration time for anything that is not an `async def`
    (async generator functions included: they have no single result for a Future).
    """
    seconds = check_timeout(timeout)
    if func is None:
        return functools.partial(_decorate, api="fire_and_forget", timeout=seconds)
    return _decorate(func, "fire_and_forget", seconds)


# -- what a decorated callable does ------------------------------------------------------


async def _yield_once() -> AsyncIterator[None]:
    yield


# Every @asynccontextmanager function is a copy of one helper: its code tells them apart.
_ACM_HELPER = contextlib.asynccontextmanager(_yield_once).__code__


def _kind(func: Any, api: str) -> str:
    target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    if inspect.iscoroutinefunction(target):
        return "call" if api == "sync_bridge" else "spawn"
    if api == "sync_bridge" and inspect.isasyncgenfunction(target):
        return "iterate"
    if api == "sync_bridge" and getattr(target, "__code__", None) is _ACM_HELPER:
        return "context"
    raise _not_decoratable(func, api)


def _decorate(func: Any, api: str, timeout: float | None) -> Any:
    if isinstance(func, functools.partial):
        # inspect sees through a partial to the async function, so the result would
        # still look like a coroutine function to frameworks.
        raise TypeError(
            f"@{api} cannot wrap functools.partial objects ({func!r}); decorate the async "
            "function itself and bind arguments when calling it"
        )
    kind = _kind(func, api)
    name = getattr(func, "__qualname__", None) or func.__func__.__qualname__
    bridge = _Bridge(func, _caller(kind, timeout, name))
    bridge._self_kind, bridge._self_timeout = kind, timeout
    return bridge


def _caller(kind: str, timeout: float | None, name: str) -> Callable[..., Any]:
    if kind == "spawn":
        spawn = runtime.spawn

        def fire(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return spawn(wrapped(*args, **kwargs), timeout)

        return fire
    blockers: dict[str, Callable[..., Any]] = {
        "call": runtime.call,
        "iterate": _iterate,
        "context": sync_context,
    }
    blocking = blockers[kind]
    warned: list[bool] = []  # warn once per decorated function

    def call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if running_loop() is not None and not warned and blocks_a_running_loop():
            warned.append(True)
            warning = loop_blocking_warning(f"{name}()", f"{name}.aio")
            warnings.warn(warning, stacklevel=_outside_this_module())
        return blocking(wrapped(*args, **kwargs), timeout)

    return call


def _outside_this_module() -> int:
    """The stack level of the first frame outside this module: the call being warned of."""
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _aio(kind: str, func: Any, timeout: float | None) -> Any:
    if kind == "iterate":
        return functools.partial(aio_iterate, func, timeout)
    if kind == "context":
        return lambda *args, **kwargs: AioContext(func(*args, **kwargs), timeout)
    return functools.partial(aio_call, func, timeout)


def _returns(kind: str, func: Any) -> Any:
    """What a call of the decorated `func` returns, as an annotation."""
    if kind == "call":  # the coroutine's own result: as written
        return inspect.signature(func).return_annotation
    try:
        declared = typing.get_type_hints(func).get("return", Any)
    except Exception:  # a forward reference that does not resolve: keep what is written
        declared = getattr(func, "__annotations__", {}).get("return", Any)
    item = (typing.get_args(declared) or (Any,))[0]
    if kind == "spawn":
        return concurrent.futures.Future[declared]  # type: ignore[valid-type]
    if kind == "iterate":
        return Generator[item, None, None]  # type: ignore[valid-type]
    return AbstractContextManager[item]  # type: ignore[valid-type]


# -- looking synchronous ----------------------------------------------------------------
#
# inspect.iscoroutinefunction() reads the CO_COROUTINE flag of `__code__` (of `__func__` for
# a bound method), which a wrapt proxy forwards from the async function. The classes below
# answer with the flags of the function a user actually calls: a plain function, or a
# generator function for an async generator. Doing it in our one layer (rather than with
# `wrapt.mark_as_sync`, a second one) halves the per-call cost of the wrapper.

_ASYNC_FLAGS = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR


class _SyncCode(wrapt.ObjectProxy[Any]):
    """The async function's code object, with flags that read as synchronous."""

    @property
    def co_flags(self) -> int:
        flags: int = self.__wrapped__.co_flags
        if flags & inspect.CO_ASYNC_GENERATOR:
            flags |= inspect.CO_GENERATOR
        return flags & ~_ASYNC_FLAGS


class _LooksSync:
    """What the bridge classes share: sync-looking code, and the signature of a call."""

    __wrapped__: Any
    _self_kind: str

    @property
    def __code__(self) -> _SyncCode:
        func = getattr(self.__wrapped__, "__func__", self.__wrapped__)
        return _SyncCode(func.__code__)

    @property
    def __signature__(self) -> inspect.Signature:
        signature = inspect.signature(self.__wrapped__)
        return signature.replace(return_annotation=_returns(self._self_kind, self.__wrapped__))

    def _annotations(self) -> dict[str, Any]:
        return {
            **self.__wrapped__.__annotations__,
            "return": _returns(self._self_kind, self.__wrapped__),
        }


class _Surrogate(_LooksSync, wrapt.CallableObjectProxy[Any]):
    """What a bound method's `__func__` returns: the function, reading as synchronous."""


class _BoundBridge(_LooksSync, wrapt.BoundFunctionWrapper[..., Any]):
    @property
    def _self_kind(self) -> str:  # type: ignore[override]
        kind: str = self._self_parent._self_kind
        return kind

    @property
    def aio(self) -> Any:
        return _aio(self._self_kind, self.__wrapped__, self._self_parent._self_timeout)

    @property
    def __func__(self) -> _Surrogate:
        surrogate = _Surrogate(getattr(self.__wrapped__, "__func__", self.__wrapped__))
        surrogate._self_kind = self._self_kind
        return surrogate

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


class _Bridge(_LooksSync, wrapt.FunctionWrapper[..., Any]):
    __bound_function_wrapper__ = _BoundBridge
    _self_timeout: float | None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # wrapt's own call first looks `__self__` up on the function, which for a plain
        # function raises and clears an AttributeError on every call (about 3 us here).
        # Our wrappers ignore `instance`; a method call goes through _BoundBridge.
        call: Any = self._self_wrapper
        return call(self.__wrapped__, None, args, kwargs)

    @property
    def aio(self) -> Any:
        return _aio(self._self_kind, self.__wrapped__, self._self_timeout)

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


# A class body cannot define `__annotations__` (it is the class's own): set it afterwards.
for _cls in (_Surrogate, _BoundBridge, _Bridge):
    _cls.__annotations__ = property(_LooksSync._annotations)  # type: ignore[assignment]


def _not_decoratable(func: Any, api: str) -> TypeError:
    if inspect.isasyncgenfunction(func):
        return TypeError(
            f"@{api} cannot wrap the async generator function {func.__qualname__}: it "
            "has no single result for a Future; use @sync_bridge to iterate it "
            "synchronously"
        )
    if not callable(func):
        hint = (
            f"; for a timeout, write @{api}(timeout={func!r})"
            if isinstance(func, (int, float))
            else ""
        )
        return TypeError(f"@{api} expects an async def function, got {func!r}{hint}")
    label = getattr(func, "__qualname__", repr(func))
    return TypeError(
        f"@{api} expects an async def function (or an async generator function, or an "
        f"@asynccontextmanager function), but {label} is not one; define it with "
        "`async def`, or call it directly if it is already synchronous"
    )
