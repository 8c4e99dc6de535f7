"""`@sync_bridge` and `@fire_and_forget`: async functions as plain synchronous callables.

Built on `wrapt`, for functions and every kind of method; the result reads as synchronous to
`inspect`, and has `.aio`, its twin for async code.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import typing
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from typing import Any, Concatenate, Protocol, SupportsIndex, TypeAlias, TypeVar, overload

import wrapt
from typing_extensions import ParamSpec, Self

from .bridges import AioContext, SyncContext, _iterate, aio_iterate, on_worker
from .infrastructure import runtime
from .infrastructure.checks import (
    ASYNC_USE,
    check_timeout,
    discard,
    is_bridge,
    running_loop,
    shown,
    warn_blocking,
)

__all__ = ["Bridged", "BridgedDescriptor", "fire_and_forget", "sync_bridge"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
A = TypeVar("A", covariant=True)
T = TypeVar("T")
S = TypeVar("S")


class Bridged(Protocol[P, R, A]):
    """A decorated callable: it returns `R`, its `.aio` returns `A`; a method drops self/cls."""

    __name__: str
    __qualname__: str
    __wrapped__: Callable[..., Any]

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


_Sync = Bridged[P, R, Coroutine[Any, Any, R]]
_Fired = Bridged[P, concurrent.futures.Future[R], Coroutine[Any, Any, R]]
_Gen = Bridged[P, Generator[T, None, None], AsyncGenerator[T, None]]
_Ctx = Bridged[P, AbstractContextManager[T], AbstractAsyncContextManager[T]]
# A string: classmethod is not subscriptable at run time. A staticmethod is callable too, so
# the overloads that take `_Method` overlap those that take a Callable.
_Method: TypeAlias = "classmethod[Any, P, Awaitable[T]] | staticmethod[P, Awaitable[T]]"
_SyncMethod = BridgedDescriptor[P, R, Coroutine[Any, Any, R]]
_FiredMethod = BridgedDescriptor[P, concurrent.futures.Future[R], Coroutine[Any, Any, R]]


class _SyncBridgeFactory(Protocol):
    """What `sync_bridge(timeout=...)` returns: the decorator itself."""

    @overload
    def __call__(self, func: _Method[P, T], /) -> _SyncMethod[P, T]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, func: Callable[P, AbstractAsyncContextManager[T]], /) -> _Ctx[P, T]: ...
    @overload
    def __call__(self, func: Callable[P, AsyncIterable[T]], /) -> _Gen[P, T]: ...
    @overload
    def __call__(self, func: Callable[P, Awaitable[T]], /) -> _Sync[P, T]: ...


class _FireAndForgetFactory(Protocol):
    """What `fire_and_forget(timeout=...)` returns: the decorator itself."""

    @overload
    def __call__(self, func: _Method[P, T], /) -> _FiredMethod[P, T]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, func: Callable[P, Awaitable[T]], /) -> _Fired[P, T]: ...


@overload
def sync_bridge(func: _Method[P, T], /, *, timeout: float | None = None) -> _SyncMethod[P, T]: ...  # type: ignore[overload-overlap]
@overload
def sync_bridge(
    func: Callable[P, AbstractAsyncContextManager[T]], /, *, timeout: float | None = None
) -> _Ctx[P, T]: ...
@overload
def sync_bridge(
    func: Callable[P, AsyncIterable[T]], /, *, timeout: float | None = None
) -> _Gen[P, T]: ...
@overload
def sync_bridge(
    func: Callable[P, Awaitable[T]], /, *, timeout: float | None = None
) -> _Sync[P, T]: ...
@overload
def sync_bridge(*, timeout: float | None = None) -> _SyncBridgeFactory: ...
def sync_bridge(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Turn an `async def` into a plain synchronous callable with the same parameters.

    Each call runs the coroutine on the worker loop, as `run_async_task(coro, timeout)` does.
    An async generator function becomes a generator function (closed on the loop when left
    early); an `@asynccontextmanager` function, one returning a sync context manager.
    `timeout` bounds each call, step, enter and exit. Anything else is a `TypeError` at
    decoration time; a bad timeout, a `ValueError`.
    """
    decorate = functools.partial(_Bridge, api="sync_bridge", timeout=check_timeout(timeout))
    return decorate if func is None else decorate(func)


@overload
def fire_and_forget(  # type: ignore[overload-overlap]
    func: _Method[P, T], /, *, timeout: float | None = None
) -> _FiredMethod[P, T]: ...
@overload
def fire_and_forget(
    func: Callable[P, Awaitable[T]], /, *, timeout: float | None = None
) -> _Fired[P, T]: ...
@overload
def fire_and_forget(*, timeout: float | None = None) -> _FireAndForgetFactory: ...
def fire_and_forget(func: Any = None, /, *, timeout: float | None = None) -> Any:
    """Turn an `async def` into a synchronous callable that returns a `Future` at once.

    Each call schedules the coroutine on the worker loop, as
    `run_async_task(coro, timeout, fire_and_forget=True)` does: `timeout` bounds the task,
    `future.cancel()` cancels it, a failure nobody retrieves is logged. Anything but an
    `async def` (an async generator function too) is a `TypeError` at decoration time.
    """
    decorate = functools.partial(_Bridge, api="fire_and_forget", timeout=check_timeout(timeout))
    return decorate if func is None else decorate(func)


async def _yield_once() -> AsyncIterator[None]:
    yield


# Every @asynccontextmanager function is a copy of one helper: its code tells them apart.
_ACM_HELPER = asynccontextmanager(_yield_once).__code__


def _kind(func: Any, api: str) -> str:
    """What the decorator makes of `func`: call, spawn, iterate or context; else TypeError."""
    if isinstance(func, functools.partial):
        # inspect sees through a partial, so the result would still look async to frameworks.
        raise TypeError(
            f"@{api} cannot wrap functools.partial objects ({shown(func)}); decorate the async "
            "function itself and bind arguments when calling it"
        )
    target = func.__func__ if isinstance(func, (classmethod, staticmethod)) else func
    if getattr(target, "_sincpro_aio", False) is True:
        raise TypeError(
            f"@{api}: {target.__qualname__} is the .aio twin of a decorated function, "
            f"which is synchronous already; call {target.__qualname__[:-4]}(...) instead"
        )
    if inspect.iscoroutine(target):
        discard(target)  # it will never run
        raise TypeError(
            f"@{api} expects an async def function, got the coroutine {shown(target)}, what "
            "calling one returns; decorate the function itself, or run this coroutine with "
            "run_async_task()"
        )
    if inspect.iscoroutinefunction(target):
        return "call" if api == "sync_bridge" else "spawn"
    if api == "sync_bridge" and inspect.isasyncgenfunction(target):
        return "iterate"
    if api == "sync_bridge" and getattr(target, "__code__", None) is _ACM_HELPER:
        return "context"
    if inspect.isasyncgenfunction(target):
        raise TypeError(
            f"@{api} cannot wrap the async generator function {target.__qualname__}: it "
            "has no single result for a Future; use @sync_bridge to iterate it synchronously"
        )
    if not callable(func):
        number = isinstance(func, (int, float))
        hint = f"; for a timeout, write @{api}(timeout={func!r})" if number else ""
        raise TypeError(f"@{api} expects an async def function, got {shown(func)}{hint}")
    name = getattr(func, "__qualname__", None) or shown(func)
    if is_bridge(target):
        raise TypeError(f"@{api}: {name} is decorated already; decorate the async function once")
    if getattr(target, "__code__", None) is _ACM_HELPER:
        raise TypeError(
            f"@fire_and_forget cannot wrap the @asynccontextmanager function {name}: a "
            "context manager has no single result for a Future; use @sync_bridge to enter it"
        )
    kinds = " (or an async generator function, or an @asynccontextmanager function)"
    raise TypeError(
        f"@{api} expects an async def function{kinds if api == 'sync_bridge' else ''}, but "
        f"{name} is not one; define it with `async def`, or call it directly if it is "
        "already synchronous"
    )


def _runner(kind: str) -> Callable[[Any, float | None], Any]:
    """What runs the coroutine (or the generator, or the context manager) a call makes."""
    runners: dict[str, Callable[[Any, float | None], Any]]
    runners = {"spawn": runtime.spawn, "iterate": _iterate, "context": SyncContext}
    return runners.get(kind, runtime.call)


def _caller(kind: str, timeout: float | None, name: str) -> Callable[..., Any]:
    if kind == "spawn":
        spawn = runtime.spawn
        return lambda wrapped, instance, args, kwargs: spawn(wrapped(*args, **kwargs), timeout)
    blocking = _runner(kind)
    warned: list[bool] = []  # warn once per decorated function

    def call(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if running_loop() is not None and not warned and not runtime.on_worker_thread():
            warned.append(True)
            use = ASYNC_USE.get(kind, "await {}(...)").format(f"{name}.aio")
            warn_blocking(f"{name}()", f"use `{use}`", None, _outside_this_module())
        return blocking(wrapped(*args, **kwargs), timeout)

    return call


def _outside_this_module() -> int:
    """The stack level of the first frame outside this module: the call being warned of."""
    frame, level = inspect.currentframe(), 0
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _aio(kind: str, func: Any, timeout: float | None) -> Any:
    """The `.aio` twin of `func`: its signature, name and docstring, for frameworks that
    read them (a FastAPI route, say); a coroutine function where `func` is one."""
    twin: Any
    if kind == "iterate":

        def iterate(*args: Any, **kwargs: Any) -> Any:
            return aio_iterate(func, timeout, *args, **kwargs)

        twin = iterate
    elif kind == "context":

        def enter(*args: Any, **kwargs: Any) -> Any:
            return AioContext(func(*args, **kwargs), timeout)

        twin = enter
    else:

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await on_worker(func(*args, **kwargs), timeout, None)

        twin = call
    functools.update_wrapper(twin, func)
    # For the error a twin passed uncalled gets (see checks._not_awaitable).
    twin.__qualname__ = f"{getattr(func, '__qualname__', 'function')}.aio"
    twin._sincpro_aio = True
    return twin


# Looking synchronous: inspect.iscoroutinefunction() reads the flags of `__code__` (of
# `__func__` for a bound method), which a wrapt proxy forwards from the async function. The
# classes below answer with the flags of what a user calls. Doing it in our one layer, not
# with a second one (`wrapt.mark_as_sync`), halves the per-call cost of the wrapper.

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
    """What the bridge classes share: sync-looking code, and what a call returns."""

    __wrapped__: Any
    _self_kind: str
    _sincpro_bridge = True  # what checks.is_bridge() looks for

    @property
    def __code__(self) -> _SyncCode:
        return _SyncCode(getattr(self.__wrapped__, "__func__", self.__wrapped__).__code__)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.__wrapped__).replace(return_annotation=self._returns())

    def _annotations(self) -> dict[str, Any]:
        return {**self.__wrapped__.__annotations__, "return": self._returns()}

    def _returns(self) -> Any:
        if self._self_kind == "call":  # the coroutine's own result: as written
            return inspect.signature(self.__wrapped__).return_annotation
        try:
            declared = typing.get_type_hints(self.__wrapped__).get("return", Any)
        except Exception:  # a forward reference that does not resolve: keep what is written
            declared = getattr(self.__wrapped__, "__annotations__", {}).get("return", Any)
        if self._self_kind == "spawn":
            return concurrent.futures.Future[declared]  # type: ignore[valid-type]
        item = (typing.get_args(declared) or (Any,))[0]
        if self._self_kind == "iterate":
            return Generator[item, None, None]  # type: ignore[valid-type]
        return AbstractContextManager[item]  # type: ignore[valid-type]


class _Surrogate(_LooksSync, wrapt.CallableObjectProxy[Any]):
    """What a bound method's `__func__` returns: the function, reading as synchronous."""

    _sincpro_bridge = False  # calling it returns the coroutine: it bridges nothing


class _BoundBridge(_LooksSync, wrapt.BoundFunctionWrapper[..., Any]):
    @property
    def _self_kind(self) -> str:  # type: ignore[override]  # pyright: ignore[reportIncompatibleVariableOverride]
        return str(self._self_parent._self_kind)

    @property
    def aio(self) -> Any:
        return _aio(self._self_kind, self.__wrapped__, self._self_parent._self_timeout)

    @property
    def __func__(self) -> _Surrogate:
        surrogate = _Surrogate(getattr(self.__wrapped__, "__func__", self.__wrapped__))
        surrogate._self_kind = self._self_kind
        return surrogate

    # Pickled and copied as a bound method is: its name, looked up again on its object (its
    # class for `Client.fetch`). With the proxy's own __copy__ and __deepcopy__ (which
    # refuse) set to None, copy and deepcopy follow __reduce_ex__ too.
    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        bound_to = self._self_owner if self._self_instance is None else self._self_instance
        return getattr, (bound_to, self.__name__)

    __copy__ = __deepcopy__ = None  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]


class _Bridge(_LooksSync, wrapt.FunctionWrapper[..., Any]):
    __bound_function_wrapper__ = _BoundBridge

    def __init__(self, func: Any, api: str, timeout: float | None) -> None:
        kind = _kind(func, api)
        name = getattr(func, "__qualname__", None) or func.__func__.__qualname__
        super().__init__(func, _caller(kind, timeout, name))
        self._self_kind, self._self_timeout = kind, timeout
        # What a call needs, in one attribute: each read of a proxy's attribute is a slow
        # one (about 0.12 us), through wrapt's `__getattr__` hook.
        self._self_call = (func, _runner(kind), timeout, kind != "spawn")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # wrapt's own call looks `__self__` up on the function, which for a plain function
        # raises and clears an AttributeError each call (about 3 us). A method call goes
        # through _BoundBridge, so `instance` is always None here, and the wrapper is only
        # needed for what it checks first: a blocking call on a thread that runs a loop.
        func, run, timeout, blocks = self._self_call
        if blocks and running_loop() is not None:
            call: Any = self._self_wrapper
            return call(func, None, args, kwargs)
        return run(func(*args, **kwargs), timeout)

    @property
    def aio(self) -> Any:
        return _aio(self._self_kind, self.__wrapped__, self._self_timeout)

    # Pickled as a plain function is, by module and qualified name (so process pools can
    # send it); copy and deepcopy then return it as they return a function (see above).
    def __reduce_ex__(self, protocol: SupportsIndex) -> str:
        return str(self.__qualname__)

    __copy__ = __deepcopy__ = None  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]


# A class body cannot define `__annotations__` (it is the class's own): set it afterwards.
for _cls in (_Surrogate, _BoundBridge, _Bridge):
    _cls.__annotations__ = property(_LooksSync._annotations)  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]
