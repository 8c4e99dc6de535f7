"""`TaskFuture`: the `concurrent.futures.Future` that fire-and-forget calls return.

A stock `Future` builds a `threading.Condition` (1.4 kB, six GC-tracked objects) per task,
though most are only read once done. This one builds it on first use, under a module lock
that a state change takes while there is none, so a waiter either finds the future done
or is woken. The stock methods serve the rare paths (`add_done_callback`, `set_result`...)
on the condition they build; the loop's `settle()`, `done()` and reading a finished future
take no condition.
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

T = TypeVar("T")

#: Orders the building of a condition against the state changes made while there is none;
#: held for a few bytecodes at a time, never while calling out.
_lock = threading.Lock()
_DONE = frozenset((CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED))
_SETTABLE = frozenset((PENDING, RUNNING))
_CANCELLED = frozenset((CANCELLED, CANCELLED_AND_NOTIFIED))
_PENDING = frozenset((PENDING,))


class Producer(Protocol):
    """The task on the loop behind a future: what cancelling the future must also stop."""

    def cancel_from_owner(self) -> None: ...
    def refuse_wait(self) -> None: ...


class TaskFuture(concurrent.futures.Future[T]):
    """The future of one fire-and-forget task; a real `concurrent.futures.Future`.

    `cancel()` also cancels the task; waiting for it on the loop's own thread, which could
    never run it meanwhile, raises `DeadlockError` at once. A failure nobody retrieves
    (`result()`, `exception()`) is logged with its traceback when the future is freed, as
    asyncio does.
    """

    __slots__ = (
        "_callback_list",
        "_cond",
        "_exception",
        "_failure",
        "_result",
        "_state",
        "_task",
        "_waiter_list",
    )

    def __init__(self, task: Producer | None = None) -> None:  # no super(): no Condition
        self._state = PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._cond: threading.Condition | None = None
        self._waiter_list: list[Any] | None = None
        self._callback_list: list[Callable[[concurrent.futures.Future[T]], object]] | None = None
        self._failure: _UnretrievedFailure | None = None
        self._task = task

    # The stock methods, wait() and as_completed() reach the condition, the waiters and the
    # callbacks only through these (tests/test_future.py fails if a Python changes that).
    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]  # pyright: ignore[reportIncompatibleVariableOverride]
        cond = self._cond
        if cond is None:
            with _lock:
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition()
        return cond

    @property  # only read under _condition
    def _waiters(self) -> list[Any]:  # type: ignore[override]  # pyright: ignore[reportIncompatibleVariableOverride]
        if self._waiter_list is None:
            self._waiter_list = []
        return self._waiter_list

    @property
    def _done_callbacks(self) -> list[Callable[[concurrent.futures.Future[T]], object]]:
        # Added to under _condition while pending; read once the outcome is in.
        if self._callback_list is None:
            self._callback_list = []
        return self._callback_list

    def done(self) -> bool:
        return self._state in _DONE

    def cancelled(self) -> bool:
        return self._state in _CANCELLED

    def running(self) -> bool:
        return self._state == RUNNING

    def result(self, timeout: float | None = None) -> T:
        exc = self.exception(timeout)
        if exc is not None:
            try:
                raise exc
            finally:
                del exc, self
        result: T = self._result
        return result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state in _CANCELLED:
            raise concurrent.futures.CancelledError()
        if self._state == FINISHED:
            exc = self._exception
        else:
            task = self._task
            # A timeout of 0 or less is a poll: it never waits, so it may run anywhere.
            if task is not None and (timeout is None or timeout > 0):
                task.refuse_wait()
            exc = super().exception(timeout)
        failure = self._failure
        if failure is not None:
            failure.retrieved = True
        return exc

    def cancel(self) -> bool:
        """Cancel the future and its task on the loop; False once it has an outcome."""
        # Straight to "notified": no executor will call set_running_or_notify_cancel().
        found = self._change(_PENDING, CANCELLED_AND_NOTIFIED, "add_cancelled")
        if found != PENDING:
            return found in _CANCELLED
        task = self._task
        self._finished()
        if task is not None:
            task.cancel_from_owner()
        return True

    def set_running_or_notify_cancel(self) -> bool:
        """Claim the future for delivering an outcome: False if its owner cancelled it."""
        found = self._change(_PENDING, RUNNING, None)
        if found not in (PENDING, CANCELLED_AND_NOTIFIED):  # cancel() skips CANCELLED
            raise RuntimeError(f"Future in unexpected state: {found}")
        return found == PENDING

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

        Nobody in the child waits on the condition: dropped, the next use builds one.
        """
        self._cond = self._waiter_list = self._task = None
        if self._state not in _DONE:
            self._exception, self._state = exc, FINISHED
            self._finished()

    def _change(
        self,
        allowed: frozenset[str],
        new: str,
        event: str | None,
        result: Any = None,
        exc: BaseException | None = None,
    ) -> str:
        """Move to `new` if the state is one of `allowed`; return the state found.

        Without a condition nobody waits, and the module lock orders the change against the
        building of one; with one, the change holds it and tells the waiters, as `wait()`
        and `as_completed()` count on.
        """
        if self._cond is None:
            with _lock:
                if self._cond is None:
                    found = self._state
                    if found in allowed:
                        self._result, self._exception, self._state = result, exc, new
                    return found
        with self._condition:
            found = self._state
            if found in allowed:
                self._result, self._exception, self._state = result, exc, new
                if event is not None:  # claiming it (RUNNING) is no news to a waiter
                    for waiter in self._waiter_list or ():
                        getattr(waiter, event)(self)
                    self._condition.notify_all()
        return found

    def _finished(self) -> None:
        """Forget the task and run the callbacks, now that the future has its outcome."""
        self._task = None
        if self._callback_list is not None:
            self._invoke_callbacks()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]


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
