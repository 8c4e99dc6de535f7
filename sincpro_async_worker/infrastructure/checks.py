"""Checks every entry point makes before anything is scheduled, and the errors they raise."""

from __future__ import annotations

import asyncio
import contextvars
import decimal
import inspect
import math
import numbers
import operator
import sys
import threading
import types
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, SupportsIndex, TypeVar, cast

from ..exceptions import LoopBlockingWarning, TimeoutTypeError

__all__ = [
    "ASYNC_USE",
    "as_coroutine",
    "bounded",
    "check_context",
    "check_flag",
    "check_loop_factory",
    "check_max_in_flight",
    "check_threshold",
    "check_timeout",
    "discard",
    "finished_coroutine_error",
    "is_bridge",
    "named",
    "reused_error",
    "running_loop",
    "shown",
    "timed_out",
    "warn_blocking",
]

T = TypeVar("T")

#: Whether this thread runs an event loop, checked on every blocking call: a C call, no
#: frame. Only when one runs is it asked whether that loop is the worker's.
running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop


def discard(coro: object) -> None:
    """Close a coroutine that will never run, so Python does not warn it was never awaited.

    Anything else is left alone: a refused file or client is still its owner's to use.
    """
    if isinstance(coro, Coroutine):
        coro.close()


def named(coro: Coroutine[Any, Any, T], owner: object, suffix: str = "") -> Coroutine[Any, Any, T]:
    """`coro`, named after what it runs a part of, as logs, reports and errors show it."""
    name = getattr(owner, "__qualname__", None)
    if isinstance(name, str):
        try:
            coro.__qualname__ = name + suffix  # type: ignore[attr-defined]
        except AttributeError:  # a coroutine-like object may refuse it
            pass
    return coro


def shown(obj: object) -> str:
    """`repr(obj)` for an error message, or a stand-in if that repr itself fails."""
    try:
        return repr(obj)
    except Exception:
        return f"<{type(obj).__qualname__} object (its repr() failed)>"


def is_bridge(obj: object) -> bool:
    """Whether `obj` is a callable made by @sync_bridge or @fire_and_forget (or bound one)."""
    if isinstance(obj, types.MethodType):  # a classmethod over a bridge, on 3.13
        obj = obj.__func__
    return getattr(type(obj), "_sincpro_bridge", False) is True


def warn_blocking(what: str, instead: str | None, coro: object, stacklevel: int) -> None:
    """Warn that the blocking call of `what` holds up the loop this thread runs (the
    caller checked that one runs, and is not the worker's), saying what to do `instead`
    in async code. A warning made an error closes `coro`, which will then never run."""
    if instead is None:
        instead = "await the coroutine itself, or use the `.aio` twin of a decorated function"
    try:
        warnings.warn(
            LoopBlockingWarning(
                f"{what} was called from a thread whose own event loop is running: it works, "
                "but blocks that loop and every task on it until the worker answers; inside "
                f"`async def`, {instead}"
            ),
            stacklevel=stacklevel + 1,
        )
    except BaseException:
        discard(coro)
        raise


# How async code uses the `.aio` twin of each kind of bridge.
ASYNC_USE = {"iterate": "async for item in {}(...)", "context": "async with {}(...) as value"}


def check_timeout(
    timeout: object,
    coro: object = None,
    name: str = "timeout",
    *,
    finite: bool = False,
    none: bool = True,
) -> float | None:
    """Return `timeout` in seconds, or None for no limit; refuse a bad one, closing `coro`.

    Any real number >= 0 passes (numpy's and `Decimal` too), but not a bool: `timeout=True`
    is a mistake. Infinity, or more than a thread can wait (`threading.TIMEOUT_MAX`), is no
    limit unless the setting must be `finite` (then it is the most a thread can wait).
    """
    if timeout is None and none:
        return None
    unlimited = " or None (no limit)" if none else ""
    real = isinstance(timeout, (numbers.Real, decimal.Decimal))
    if isinstance(timeout, bool) or not real:
        discard(coro)
        raise TimeoutTypeError(
            f"{name} must be a number of seconds{unlimited}, got {shown(timeout)}"
        )
    try:
        seconds = float(timeout)  # type: ignore[arg-type]  # a Real or a Decimal
    except OverflowError:  # an int beyond any float
        seconds = -math.inf if timeout < 0 else math.inf  # type: ignore[operator]
    except ValueError:  # a signalling NaN
        seconds = math.nan
    negative = seconds < 0 or (seconds == 0 and timeout < 0)  # type: ignore[operator]
    if math.isnan(seconds) or negative or (finite and math.isinf(seconds)):
        discard(coro)
        rule = "a finite number of seconds >= 0" if finite else ">= 0 seconds"
        raise ValueError(f"{name} must be {rule}{unlimited}, got {shown(timeout)}")
    if seconds >= threading.TIMEOUT_MAX:
        return threading.TIMEOUT_MAX if finite else None
    return seconds + 0.0  # -0.0 is 0.0


def check_threshold(threshold: object) -> float | None:
    """`slow_task_threshold` in seconds, or None for no blocked-loop reports."""
    return check_timeout(threshold, name="slow_task_threshold", finite=True)


def check_max_in_flight(bound: object) -> int | None:
    """`max_in_flight` as an int (numpy's integers pass too), or None for no bound."""
    if bound is None:
        return None
    if isinstance(bound, bool) or not isinstance(bound, SupportsIndex):
        raise TypeError(f"max_in_flight must be a whole number or None, got {shown(bound)}")
    number = operator.index(bound)
    if number < 1:
        raise ValueError(f"max_in_flight must be at least 1 (or None for no bound), got {bound}")
    return number


def check_loop_factory(factory: T) -> T:
    """A `loop_factory` must be callable (None: the default); it is tried when a loop starts."""
    if factory is not None and not callable(factory):
        raise TypeError(
            f"loop_factory must be a callable returning a new event loop, got "
            f"{shown(factory)}; e.g. configure(loop_factory=asyncio.new_event_loop)"
        )
    return factory


def check_flag(flag: object, coro: object) -> bool:
    """`fire_and_forget` as a bool: True, False, 0, 1 and numpy's bools pass; anything else
    is refused, closing `coro` (a string such as "no" is true, and would lose the result)."""
    try:
        if flag in (True, False):
            return bool(flag)
    except Exception:  # an __eq__ that fails
        pass
    discard(coro)
    raise TypeError(
        f"fire_and_forget must be True or False, got {shown(flag)}; pass True to get a "
        "concurrent.futures.Future at once, or leave it out to wait for the result"
    )


def check_context(context: object, coro: object = None) -> contextvars.Context | None:
    """Return `context` if it is a `contextvars.Context` or None; refuse it, closing `coro`."""
    if context is None or type(context) is contextvars.Context:
        return context
    discard(coro)
    raise TypeError(
        f"context must be a contextvars.Context or None, got {type(context).__qualname__}; "
        "pass contextvars.copy_context() (or None, for a copy of the caller's context)"
    )


if sys.version_info >= (3, 11):

    def as_coroutine(task: Awaitable[T], api: str) -> Coroutine[Any, Any, T]:
        """Return `task` as a coroutine to run, or raise an error that says what to pass."""
        if type(task) is types.CoroutineType:
            # A finished one is left to `finished_coroutine_error`: `cr_frame` would tell
            # it, but reading it builds a frame object that then lives as long as the task.
            if task.cr_running or task.cr_suspended:
                raise reused_error(task, "started")
            return task
        return _as_coroutine(task, api)

else:  # a coroutine has a frame object until it finishes, at instruction -1 until it runs

    def as_coroutine(task: Awaitable[T], api: str) -> Coroutine[Any, Any, T]:
        """Return `task` as a coroutine to run, or raise an error that says what to pass."""
        if type(task) is types.CoroutineType:
            frame = task.cr_frame
            if frame is None:
                raise reused_error(task, "finished or been closed")
            if frame.f_lasti >= 0:
                raise reused_error(task, "started")
            return task
        return _as_coroutine(task, api)


def _as_coroutine(task: Awaitable[T], api: str) -> Coroutine[Any, Any, T]:
    """Any awaitable but a native coroutine."""
    if inspect.iscoroutine(task):
        return cast("Coroutine[Any, Any, T]", task)
    if inspect.isawaitable(task):
        return named(_await(task), type(task))  # not `_await`, in logs and errors
    raise _not_awaitable(task, api)


def finished_coroutine_error(coro: object, exc: BaseException) -> BaseException:
    """What a coroutine's first step raised, made clear if it had already finished.

    Python's refusal to resume a finished coroutine has no frame of the coroutine's in its
    traceback (`tb_next` is None) and no cause; a RuntimeError the coroutine raised itself
    has the frame, and one Python made of its StopIteration has that as its cause.
    """
    tb = exc.__traceback__
    if type(exc) is RuntimeError and tb is not None and tb.tb_next is None and not exc.__cause__:
        return reused_error(coro, "finished or been closed")
    return exc


def reused_error(coro: object, state: str) -> RuntimeError:
    """The refusal of a coroutine that has `state` already ("started", say)."""
    name = getattr(coro, "__qualname__", repr(coro))
    return RuntimeError(
        f"the coroutine {name}() has already {state}; a coroutine runs once, so call "
        f"{name}() again to get a fresh one"
    )


async def _await(awaitable: Awaitable[T]) -> T:
    given: object = awaitable  # as typed, it could not be a generator
    if isinstance(given, types.GeneratorType):  # a @types.coroutine one, submitted twice
        state = inspect.getgeneratorstate(given)
        if state != inspect.GEN_CREATED:
            raise reused_error(
                given, "started" if state != inspect.GEN_CLOSED else "finished or been closed"
            )
    elif isinstance(given, asyncio.Future) and given.get_loop() is not asyncio.get_running_loop():
        raise ValueError(
            f"an asyncio {type(given).__name__} belongs to the event loop it was made on and "
            "cannot be awaited on the worker's; pass the coroutine itself instead"
        )
    return await awaitable


async def bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """Await for at most `timeout` s, then raise a builtin `TimeoutError` that says so; one
    the awaitable raises itself passes unchanged. As on the worker's own path, a zero
    timeout has run out before the awaitable could start, and it never does."""
    if timeout <= 0:
        discard(awaitable)
        raise timed_out(awaitable, timeout)
    if sys.version_info < (3, 11):  # asyncio's own TimeoutError is another class here
        expired: list[bool] = []
        timer = asyncio.get_running_loop().call_later(timeout, expired.append, True)
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError as exc:
            if not expired:
                raise
            raise timed_out(awaitable, timeout) from exc
        finally:
            timer.cancel()
    else:
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                return await awaitable
        except Exception as exc:  # a TimeoutError, or what the cancelled cleanup raised
            if not scope.expired():
                raise
            raise timed_out(awaitable, timeout) from exc


def timed_out(coro: object, timeout: float | None) -> TimeoutError:
    """The caller's `TimeoutError` for `coro`, cancelled on the loop at its `timeout`."""
    name = getattr(coro, "__qualname__", None)
    return TimeoutError(
        f"{name if isinstance(name, str) else type(coro).__qualname__}() did not finish "
        f"within its {timeout} s timeout and was cancelled on the worker loop; raise the "
        "timeout if the work needs longer"
    )


def _not_awaitable(task: object, api: str) -> TypeError:
    name = getattr(task, "__qualname__", None) or shown(task)  # a partial has no name
    func = getattr(task, "__func__", task)
    iterate = "iterate it from sync code with `for item in sync_iter(...):`"
    if is_bridge(task):
        use = ASYNC_USE.get(getattr(task, "_self_kind", ""), "await {}(...)").format(f"{name}.aio")
        got = (
            f"the decorated function {name} itself; calling it, {name}(...), runs it on the "
            f"worker loop already (in async code: `{use}`)"
        )
    elif getattr(task, "_sincpro_aio", False) is True:
        got = (
            f"the .aio twin {name} itself; in sync code call {name[:-4]}(...), and in async "
            f"code use what {name}(...) returns"
        )
    elif inspect.iscoroutinefunction(task) or inspect.iscoroutinefunction(func):
        got = f"the coroutine function {name} itself; did you mean {name}()?"
    elif inspect.isasyncgenfunction(task):
        got = (
            f"the async generator function {name}; iterate {name}() from sync code with "
            f"sync_iter({name}()), or decorate it with @sync_bridge"
        )
    elif inspect.isasyncgen(task):
        got = (
            f"the async generator {shown(task)}; {iterate}, or decorate its function with "
            "@sync_bridge"
        )
    elif hasattr(task, "__aenter__") and hasattr(task, "__aexit__"):
        got = (
            f"the async context manager {shown(task)}; enter it from sync code with "
            "`with sync_context(...) as value:`"
        )
    elif hasattr(task, "__aiter__"):
        got = f"the async iterable {shown(task)}; {iterate}"
    else:
        return TypeError(
            f"{api}() expects a coroutine or another awaitable, but got "
            f"{type(task).__qualname__} {shown(task)}; pass the result of calling an async "
            "function, e.g. fetch() rather than fetch"
        )
    return TypeError(f"{api}() expects a coroutine, but got {got}")
