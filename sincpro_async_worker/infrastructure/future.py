"""`TaskFuture`: the `concurrent.futures.Future` that fire-and-forget calls return.

A stock `Future` builds a `threading.Condition` (1.4 kB, six GC-tracked objects) per task,
though most are only read once done. This one builds it on the first wait, under the module
lock that every state change takes (with the condition too, once there is one), so a waiter
either finds the future done or is woken. Reading a finished future takes no lock.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING
from typing import Any, Protocol, TypeVar

__all__ = ["TaskFuture"]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")
_callback_logger = logging.getLogger("concurrent.futures")  # where the stock Future logs

T = TypeVar("T")

#: Guards every TaskFuture's state changes and the building of its condition; held for a
#: few bytecodes at a time, never while calling out.
_lock = threading.Lock()
_DONE = frozenset((CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED))
_SETTABLE = frozenset((PENDING, RUNNING))
_CANCELLED = frozenset((CANCELLED, CANCELLED_AND_NOTIFIED))


class Canceller(Protocol):
    """What cancelling a future must also stop: its task on the loop."""

    def cancel_from_owner(self) -> None: ...


class TaskFuture(concurrent.futures.Future[T]):
    """The future of one fire-and-forget task; a real `concurrent.futures.Future`.

    `cancel()` also cancels the task. A failure nobody retrieves (`result()`,
    `exception()`) is logged with its traceback when the future is freed, as asyncio does.
    """

    __slots__ = (
        "_callbacks",
        "_cond",
        "_exception",
        "_failure",
        "_result",
        "_state",
        "_task",
        "_waiter_list",
    )

    def __init__(self, task: Canceller | None = None) -> None:  # no super(): no Condition
        self._state = PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._cond: threading.Condition | None = None
        self._waiter_list: list[Any] | None = None
        self._callbacks: list[Callable[[concurrent.futures.Future[T]], object]] | None = None
        self._failure: _UnretrievedFailure | None = None
        self._task = task

    # wait(), as_completed() and the base class reach the condition and their waiters only
    # through these two, built lazily (tests/test_future.py fails if a Python changes that).
    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        cond = self._cond
        if cond is None:
            with _lock:
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition()
        return cond

    @property
    def _waiters(self) -> list[Any]:  # type: ignore[override]  # only read under _condition
        waiters = self._waiter_list
        if waiters is None:
            waiters = self._waiter_list = []
        return waiters

    def done(self) -> bool:
        return self._state in _DONE

    def cancelled(self) -> bool:
        return self._state in _CANCELLED

    def running(self) -> bool:
        return self._state == RUNNING

    def result(self, timeout: float | None = None) -> T:
        self._outcome(timeout)
        exc = self._exception
        if exc is not None:
            try:
                raise exc
            finally:
                del exc, self
        result: T = self._result
        return result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._outcome(timeout)
        return self._exception

    def _outcome(self, timeout: float | None) -> None:
        """Wait up to `timeout` s for an outcome; raise if it is a cancellation or none came."""
        if self._state != FINISHED:
            if self._state not in _CANCELLED:
                cond = self._condition
                with cond:
                    cond.wait_for(self.done, timeout)
            if self._state in _CANCELLED:
                raise concurrent.futures.CancelledError()
            if self._state != FINISHED:
                raise concurrent.futures.TimeoutError()
        failure = self._failure
        if failure is not None:
            failure.retrieved = True

    def add_done_callback(self, fn: Callable[[concurrent.futures.Future[T]], object]) -> None:
        with _lock:
            if self._state not in _DONE:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        self._call(fn)

    def cancel(self) -> bool:
        """Cancel the future and its task on the loop; False once it has an outcome."""
        # Straight to "notified": no executor will call set_running_or_notify_cancel().
        found = self._change({PENDING}, CANCELLED_AND_NOTIFIED, "add_cancelled")
        if found != PENDING:
            return found in _CANCELLED
        task = self._task
        self._finished()
        if task is not None:
            task.cancel_from_owner()
        return True

    def set_running_or_notify_cancel(self) -> bool:
        """Claim the future for delivering an outcome: False if its owner cancelled it."""
        found = self._change({PENDING}, RUNNING, None)
        if found not in (PENDING, CANCELLED_AND_NOTIFIED):  # cancel() skips CANCELLED
            raise RuntimeError(f"Future in unexpected state: {found}")
        return found == PENDING

    def set_result(self, result: T) -> None:
        self._finish(result, None, "add_result")

    def set_exception(self, exception: BaseException | None) -> None:
        self._finish(None, exception, "add_exception")

    def settle(self, result: Any, exc: BaseException | None, name: str | None = None) -> bool:
        """Deliver a task's outcome in one state change; False if it was cancelled first.

        A failure of the task `name` is logged if nobody ever retrieves it.
        """
        if exc is not None and name is not None:
            self._failure = _UnretrievedFailure(exc, name)
        event = "add_result" if exc is None else "add_exception"
        if self._change(_SETTABLE, FINISHED, event, result, exc) in _SETTABLE:
            self._finished()
            return True
        failure, self._failure = self._failure, None
        if failure is not None:
            failure.retrieved = True  # its owner cancelled it: nothing to report
        return False

    def fail_after_fork(self, exc: BaseException) -> None:
        """In a forked child: fail without taking any lock a parent thread may have held.

        Nobody in the child waits on the condition: dropped, the next wait builds one.
        """
        self._cond = self._waiter_list = self._task = None
        if self._state not in _DONE:
            self._exception, self._state = exc, FINISHED
            self._finished()

    def _finish(self, result: Any, exc: BaseException | None, event: str) -> None:
        found = self._change(_SETTABLE, FINISHED, event, result, exc)
        if found not in _SETTABLE:  # raised outside the locks: repr() takes the condition
            raise concurrent.futures.InvalidStateError(f"{found}: {self!r}")
        self._finished()

    def _change(
        self,
        allowed: frozenset[str] | set[str],
        new: str,
        event: str | None,
        result: Any = None,
        exc: BaseException | None = None,
    ) -> str:
        """Move to `new` if the state is one of `allowed`; return the state found.

        With a condition, the change holds it and tells its waiters (`wait()` counts on that);
        without, nobody waits, and the module lock orders the change against its creation.
        """
        if self._cond is None:
            with _lock:
                if self._cond is None:
                    found = self._state
                    if found in allowed:
                        self._result, self._exception, self._state = result, exc, new
                    return found
        cond = self._condition
        with cond, _lock:
            found = self._state
            if found in allowed:
                self._result, self._exception, self._state = result, exc, new
                if event is not None:  # claiming it (RUNNING) is no news to a waiter
                    for waiter in self._waiter_list or ():
                        getattr(waiter, event)(self)
                    cond.notify_all()
        return found

    def _finished(self) -> None:
        """Forget the task and run the callbacks, now that the future has its outcome."""
        self._task = None
        callbacks, self._callbacks = self._callbacks, None
        for fn in callbacks or ():
            self._call(fn)

    def _call(self, fn: Callable[[concurrent.futures.Future[T]], object]) -> None:
        try:
            fn(self)
        except Exception:
            _callback_logger.exception("exception calling callback for %r", self)


class _UnretrievedFailure:
    """Logs a failure when its future is freed unread; only failed futures carry one."""

    __slots__ = ("exc", "name", "retrieved")

    def __init__(self, exc: BaseException, name: str) -> None:
        self.exc = exc
        self.name = name
        self.retrieved = False

    def __del__(self) -> None:
        if not self.retrieved:
            exc = self.exc
            logger.error(
                "Fire-and-forget task %s failed and its exception was never retrieved",
                self.name,
                exc_info=(type(exc), exc, exc.__traceback__),
            )


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a parent thread may have held the old one at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)
