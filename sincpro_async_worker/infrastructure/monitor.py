"""The blocked-loop detector: every step of every task on the worker loop is timed.

A step, a task's code between two awaits, holds the loop. The `TimedCoroutine` driving each
task (a job, or one the loop's task factory adds) times every `send()`/`throw()` and
reports a step over the threshold, with its CPU time. Not seen: plain callbacks
(`loop.call_soon`), and a step that never returns (`shutdown()` names what is left, with
`name_cancelled`).
"""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import logging
from collections.abc import Coroutine, Generator
from time import perf_counter, thread_time
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_SLOW_TASK_THRESHOLD",
    "StepMonitor",
    "TimedCoroutine",
    "coroutine_name",
    "describe_task",
    "name_cancelled",
]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")

T = TypeVar("T")

#: A step this long is worth a warning in production; asyncio's debug mode uses 0.1 s,
#: which routine work such as loading TLS certificates for a new client comes close to.
DEFAULT_SLOW_TASK_THRESHOLD = 0.25
#: The loop thread's CPU clock is a system call (about 20 times the wall clock): it is read,
#: with the count of full collections, at most this often at the start of a step, and again at
#: the end of one that ran long; a report's CPU figure is high by at most this much.
_CPU_READ_INTERVAL = 0.01
_NAMED_ONE_BY_ONE = 5000  # tasks a shutdown cancels at once that get a log record each


class StepMonitor:
    """The threshold and CPU-clock reading the timed steps of one loop share (loop thread)."""

    __slots__ = ("cpu", "cpu_read_at", "full_collections", "step", "threshold")

    def __init__(self, threshold: float) -> None:
        self.threshold: float = threshold
        self.cpu_read_at: float = -_CPU_READ_INTERVAL
        self.cpu: float = 0.0
        self.full_collections: int = 0
        # The step running now and when it began: what a shutdown that times out names.
        self.step: tuple[Coroutine[Any, Any, Any], float] | None = None

    def read_clocks(self, now: float) -> None:
        self.cpu_read_at = now
        self.cpu = thread_time()
        self.full_collections = gc.get_stats()[-1]["collections"]

    def task_factory(
        self, loop: asyncio.AbstractEventLoop, coro: Any, **options: Any
    ) -> asyncio.Task[Any]:
        """The loop's task factory: every task user code creates gets its steps timed."""
        return asyncio.Task(TimedCoroutine(coro, self), loop=loop, **options)

    def report(self, started: float, ended: float, coro: Coroutine[Any, Any, Any]) -> None:
        """Log a step that held the loop; never raise: a diagnostic must not cost the outcome."""
        try:
            held = ended - started
            cpu = min(max(thread_time() - self.cpu, 0.0), held)
            task = asyncio.current_task()
            label = coroutine_name(coro) if task is None else describe_task(task)
            if gc.get_stats()[-1]["collections"] != self.full_collections:
                # A full collection ran meanwhile: on this thread (with tens of thousands
                # of objects alive, it alone can take the threshold), or on another whose
                # GIL the step waited for. No fault of the task, at worst.
                logger.debug(
                    "%s held the event loop for %.3f s in one step while a full garbage "
                    "collection ran",
                    label,
                    held,
                )
                return
            logger.warning(
                "%s blocked the event loop for %.3f s in one step, %.3f s of it running on a "
                "CPU; no other task or caller could run meanwhile (move blocking work to "
                "loop.run_in_executor() or use its async equivalent)",
                label,
                held,
                cpu,
            )
        except Exception:
            logger.debug("Could not report a step that blocked the event loop", exc_info=True)


def name_cancelled(
    tasks: set[asyncio.Task[Any]], stubborn: set[asyncio.Task[Any]], grace: float | None
) -> None:
    """Log the tasks a shutdown cancelled, by name. Past a few thousand, one line per
    coroutine lists its tasks: a record each would take longer than an exit may."""
    if len(tasks) <= _NAMED_ONE_BY_ONE:
        for task in tasks:
            logger.warning(
                "%s %s at shutdown: it did not finish within the %s s grace period%s",
                "Abandoned" if task in stubborn else "Cancelled",
                describe_task(task),
                grace,
                " and ignored its cancellation" if task in stubborn else "",
            )
        return
    groups: dict[tuple[str, bool], list[str]] = {}
    for task in tasks:
        key = (coroutine_name(task.get_coro()), task in stubborn)
        groups.setdefault(key, []).append(task.get_name())
    for (name, abandoned), names in groups.items():
        named = [task_name for task_name in names if task_name != name]  # given names only
        logger.warning(
            "%s %d tasks of %s at shutdown: they did not finish within the %s s grace period%s%s",
            "Abandoned" if abandoned else "Cancelled",
            len(names),
            name,
            grace,
            " and ignored their cancellation" if abandoned else "",
            f" (named {', '.join(named)})" if named else "",
        )


def coroutine_name(coro: object) -> str:
    """The name a user knows a coroutine by: its function's qualified name."""
    if isinstance(coro, TimedCoroutine):
        coro = coro.coro
    name = getattr(coro, "__qualname__", None)
    return name if isinstance(name, str) else type(coro).__qualname__


def describe_task(task: asyncio.Task[Any]) -> str:
    """Name a task the way a user recognises it: by its coroutine, and its own name."""
    name, coro_name = task.get_name(), coroutine_name(task.get_coro())
    return name if coro_name == name else f"{coro_name} ({name})"


class TimedCoroutine(collections.abc.Coroutine[Any, Any, T]):
    """Drives `coro` on behalf of its task, timing each step (untimed if `monitor` is None)."""

    __slots__ = ("coro", "monitor")

    def __init__(self, coro: Coroutine[Any, Any, T], monitor: StepMonitor | None) -> None:
        self.coro: Coroutine[Any, Any, T] = coro
        self.monitor: StepMonitor | None = monitor

    def send(self, value: Any, _throw: tuple[Any, ...] | None = None) -> Any:
        # One frame for both send() and throw(): a step is one call deep, not two.
        coro, monitor = self.coro, self.monitor
        started = 0.0
        outer = None  # a step that started this task eagerly (3.12+) is still running
        if monitor is not None:
            started = perf_counter()
            if started - monitor.cpu_read_at > _CPU_READ_INTERVAL:
                monitor.read_clocks(started)
            outer, monitor.step = monitor.step, (coro, started)
        try:
            result = coro.send(value) if _throw is None else coro.throw(*_throw)
        except BaseException as exc:
            if monitor is not None:  # timed before the outcome is delivered
                ended = perf_counter()
                monitor.step = outer
                if ended - started >= monitor.threshold:
                    monitor.report(started, ended, coro)
            # Raised as `exc`, a name the `except` clears, and without `self`: the traceback
            # keeps this frame, so holding the job or `exc` here would make a cycle.
            exc = self.ended(exc)
            del self
            raise exc
        if monitor is not None:
            ended = perf_counter()
            monitor.step = outer
            if ended - started >= monitor.threshold:
                monitor.report(started, ended, coro)
        return result

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        # asyncio throws one exception; the three-argument form is deprecated.
        return self.send(None, (typ,) if val is None and tb is None else (typ, val, tb))

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, T]:
        return self.coro.__await__()

    def ended(self, exc: BaseException) -> BaseException:
        """The coroutine returned (`StopIteration`) or raised `exc`: what the task gets.

        Returned, not raised: a frame raising its own argument holds it in a reference cycle.
        """
        return exc

    # What asyncio (a task's repr and stack) and inspect (getcoroutinestate) read of a
    # coroutine. Properties, not `__getattr__`: a class with one gets no specialised
    # attribute reads, which made every job's own reads slower (about 10% of a call).
    # asyncio falls back on `__name__`: a class cannot give instances a `__qualname__`.
    @property
    def __name__(self) -> str:  # pyright: ignore[reportIncompatibleVariableOverride]
        return coroutine_name(self.coro)

    @property
    def cr_frame(self) -> Any:
        return getattr(self.coro, "cr_frame", None)

    @property
    def cr_running(self) -> bool:
        return bool(getattr(self.coro, "cr_running", False))

    @property
    def cr_suspended(self) -> bool:
        return bool(getattr(self.coro, "cr_suspended", False))

    @property
    def cr_await(self) -> Any:
        return getattr(self.coro, "cr_await", None)
