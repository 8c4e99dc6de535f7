"""A job: one submitted coroutine, from its submission to the delivery of its outcome.

A job is its task's coroutine: it drives the user's coroutine step by step (timing each,
see `monitor`) and, when that ends, counts the outcome and hands it over from inside the
task: to a blocking caller asleep on a lock (`Call`), or to a `TaskFuture` (`Spawn`). Every
exception goes to the caller and stops there (a `SystemExit` never unwinds the loop); only
cancellation propagates, so asyncio still sees the task as cancelled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import enum
import sys
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Protocol

from ..exceptions import DeadlockError, WorkerNotRunningError
from .checks import discard, finished_coroutine_error, timed_out
from .future import TaskFuture
from .monitor import StepMonitor, TimedCoroutine, coroutine_name

__all__ = ["Call", "Job", "Owner", "Reason", "Slots", "Spawn", "Stage", "new_task"]

#: After its own timeout, how long a blocking caller waits for the cancelled task's
#: cleanup (its `finally` blocks) before it returns.
_CANCEL_ACK_TIMEOUT = 1.0
_copy_context = contextvars.copy_context


class Owner(Protocol):
    """What a job needs from the worker that runs it."""

    pending: set[Job]
    counts: dict[str, int]  # written on the loop thread only

    @property
    def monitor(self) -> StepMonitor | None: ...
    def owns_current_thread(self) -> bool: ...
    def post(self, callback: Callable[..., object], *args: Any) -> None: ...
    def run_queued(self) -> None: ...


if sys.version_info >= (3, 12):

    def new_task(job: Job, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
        """The job's task, named after its coroutine so that logs tell tasks apart; started
        eagerly, its first step run now."""
        name = getattr(job.coro, "__qualname__", None)
        return asyncio.Task(job, loop=loop, name=name, context=job.context, eager_start=True)

elif sys.version_info >= (3, 11):

    def new_task(job: Job, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
        """The job's task, named after its coroutine so that logs tell tasks apart."""
        name = getattr(job.coro, "__qualname__", None)
        return asyncio.Task(job, loop=loop, name=name, context=job.context)

else:

    def new_task(job: Job, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
        """The job's task, named after its coroutine; 3.10's Task takes no `context=`."""
        name = getattr(job.coro, "__qualname__", None)
        return job.context.run(asyncio.Task, job, loop=loop, name=name)


class Slots(SimpleQueue[None]):
    """The free in-flight slots of a worker with `max_in_flight`, a token each.

    A C-level queue, not a `threading.Semaphore`, whose Python code a Ctrl-C can cut
    short with its lock held, for every caller after. A job claims its slot before it
    takes a token, so an interrupt in between gives a token back that was never taken,
    at worst; `give_back` never lets the free ones outnumber `bound`.
    """

    __slots__ = ("bound",)

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound: int = bound
        for _ in range(bound):
            self.put(None)

    def give_back(self) -> None:
        if self.qsize() < self.bound:
            self.put(None)


class Stage(enum.Enum):
    """Where a job is in its life."""

    NEW = "new"  # being submitted
    QUEUED = "queued"
    RUNNING = "running"  # its task exists
    DONE = "done"  # its outcome has been handed over


class Reason(enum.Enum):
    """Why the library cancelled a job's task."""

    CANCEL = "cancel"  # the caller went away (Ctrl-C) or cancelled the future
    TIMEOUT = "timeout"


_NEW, _QUEUED, _RUNNING, _DONE = Stage.NEW, Stage.QUEUED, Stage.RUNNING, Stage.DONE
_CANCEL, _TIMEOUT = Reason.CANCEL, Reason.TIMEOUT
_Cancelled = concurrent.futures.CancelledError


class Job(TimedCoroutine[Any]):
    """One submitted coroutine and its state, each field written by one side.

    `stage`: by the submitter from NEW to QUEUED, just before the job joins the queue, then
    on the loop thread only. `reason`: on the loop thread only, by `cancel()` while the job
    is not DONE, so a reason means the library did cancel the task. (Once the loop thread is
    gone, whoever sweeps up after it writes both: nobody else can.)
    """

    __slots__ = ("context", "reason", "slot", "stage", "task", "timeout", "worker")

    def __init__(
        self,
        coro: Any,
        worker: Owner,
        timeout: float | None,
        context: contextvars.Context | None,
    ) -> None:
        # TimedCoroutine's two fields, set here: a call less per job.
        self.coro: Any = coro
        self.monitor: StepMonitor | None = worker.monitor
        self.worker: Owner = worker
        self.timeout: float | None = timeout
        self.context: contextvars.Context = _copy_context() if context is None else context
        self.stage: Stage = _NEW
        # A zero timeout has run out before the task could start, so it never does: the
        # same outcome in both modes, whether or not the first step would run eagerly.
        self.reason: Reason | None = _TIMEOUT if timeout == 0 else None
        self.task: asyncio.Task[Any] | None = None
        self.slot: Slots | None = None  # where its in-flight slot goes back

    def ended(self, exc: BaseException) -> BaseException:
        """The user's coroutine returned (StopIteration) or raised: settle the job."""
        if type(exc) is StopIteration:
            if self.reason is None:
                self.settle(exc.value, None)
                return exc
            error: BaseException | None = None
        else:
            error = finished_coroutine_error(self.coro, exc)
            tb = exc.__traceback__
            if error is exc and tb is not None and tb.tb_next is not None:
                # Start the traceback at the user's coroutine: the driver adds nothing.
                # BaseException's own method: not an assignment, which a frozen dataclass
                # exception refuses, nor an override, which may fail.
                BaseException.with_traceback(exc, tb.tb_next)
        # Here and below, an exception's class is its type: `isinstance()` would ask its
        # `__class__`, which an exception may make a property, and which may fail.
        cancelled = issubclass(type(error), asyncio.CancelledError)
        if self.reason is _TIMEOUT:
            error = self.timeout_error(None if cancelled else error)
        elif error is None or cancelled:
            cause, error = error, _Cancelled()
            error.__cause__ = cause  # a CancelledError the coroutine raised itself
        self.settle(None, error)
        if issubclass(type(exc), asyncio.CancelledError):
            return exc  # the task ends cancelled, as asyncio expects
        return StopIteration()  # the outcome has been delivered: the task ends quietly

    def unwanted(self) -> bool:  # a queued job cancelled (or timed out) already
        return self.reason is not None

    if sys.version_info < (3, 11):
        # A 3.10 task runs its steps in a copy of the context it was made in: each step is
        # run in the job's own instead, which the steps of one iteration or `with` share.
        def send(self, value: Any, _throw: tuple[Any, ...] | None = None) -> Any:
            return self.context.run(TimedCoroutine.send, self, value, _throw)

    def settle_unstarted(self) -> None:
        """Settle a job cancelled (or timed out) while still queued; it never runs."""
        discard(self.coro)
        self.settle(None, self.timeout_error() if self.reason is _TIMEOUT else _Cancelled())

    def cancel(self, reason: Reason) -> None:
        """Cancel the task, because of `reason`; a no-op once the job is settled."""
        if self.stage is _DONE:
            return
        if self.reason is None:
            self.reason = reason
        task = self.task
        if task is not None:
            task.cancel()
        elif self.stage is _QUEUED:
            # Not yet a task: settle it now, and run whatever queued with it (its wake-up
            # may never have been posted, if its submitter was interrupted).
            self.worker.run_queued()

    def settle(self, result: Any, error: BaseException | None) -> None:
        """Count the outcome and hand it over, exactly once."""
        if self.stage is _DONE:
            return
        self.stage = _DONE
        self.task = None
        self.worker.pending.discard(self)
        if self.slot is not None:
            self.release_slot()
        counter = "succeeded" if error is None and self.reason is None else self.counter(error)
        self.worker.counts[counter] += 1  # first: whoever the outcome wakes may read stats()
        self.deliver(result, error, counter)

    def release_slot(self) -> None:
        slot = self.slot
        if slot is not None:
            self.slot = None
            slot.give_back()

    def deliver(self, result: Any, error: BaseException | None, counter: str) -> None:
        """Hand the outcome over, counted already under `counter`."""
        raise NotImplementedError

    def counter(self, error: BaseException | None) -> str:
        """The counter its outcome goes to."""
        if self.reason is _TIMEOUT:
            return "timed_out"
        if self.reason is _CANCEL or issubclass(type(error), _Cancelled):
            return "cancelled"
        return "succeeded" if error is None else "failed"

    def timeout_error(self, cause: BaseException | None = None) -> TimeoutError:
        """The caller's `TimeoutError`, chained to how the cancelled coroutine ended."""
        error = timed_out(self.coro, self.timeout)
        error.__cause__ = cause
        return error


class Call(Job):
    """A blocking call: its caller sleeps on `done`, acquired here, released by the loop."""

    __slots__ = ("deadline", "done", "error", "outcome")

    def __init__(
        self, coro: Any, worker: Owner, timeout: float | None, context: contextvars.Context | None
    ) -> None:
        Job.__init__(self, coro, worker, timeout, context)
        self.deadline: float | None = None if timeout is None else time.monotonic() + timeout
        self.done: threading.Lock = threading.Lock()
        self.done.acquire()
        self.outcome: Any = None
        self.error: BaseException | None = None

    def deliver(self, result: Any, error: BaseException | None, counter: str) -> None:
        self.outcome, self.error = result, error
        self.done.release()

    def wait(self) -> Any:
        """Block until the outcome is in, then return or raise it."""
        deadline = self.deadline
        if deadline is None:
            self.done.acquire()
        elif not self.done.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            # Our deadline, not the coroutine's: cancel it on the loop and give it a
            # moment to run its cleanup, so nothing of it outlives this call.
            self.worker.post(self.cancel, _TIMEOUT)
            if not self.done.acquire(timeout=_CANCEL_ACK_TIMEOUT):
                raise self.timeout_error()
        error = self.error
        if error is not None:
            self.error = None
            try:
                raise error
            finally:
                del error
        return self.outcome


class Spawn(Job):
    """A fire-and-forget call: its outcome goes to a `TaskFuture`."""

    __slots__ = ("future", "timer")

    def __init__(
        self, coro: Any, worker: Owner, timeout: float | None, context: contextvars.Context | None
    ) -> None:
        Job.__init__(self, coro, worker, timeout, context)
        self.future: TaskFuture[Any] = TaskFuture(self)
        self.timer: asyncio.TimerHandle | None = None

    def unwanted(self) -> bool:
        # Its owner's cancel() may have run before the cancellation it posts arrives.
        return self.reason is not None or self.future.cancelled()

    def cancel_from_owner(self) -> None:
        """`future.cancel()` succeeded: cancel the task too (any thread)."""
        if self.stage is not _DONE:
            self.worker.post(self.cancel, _CANCEL)

    def refuse_wait(self) -> None:
        """Raise `DeadlockError` on the loop's thread, where waiting for the task stops it."""
        if self.worker.owns_current_thread():
            raise DeadlockError(
                f"the future of {coroutine_name(self.coro)}() was waited for on the worker "
                "loop's own thread, where the task could never run meanwhile; inside a "
                "coroutine, `await asyncio.wrap_future(future)` instead"
            )

    def deliver(self, result: Any, error: BaseException | None, counter: str) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        future = self.future
        if error is None:
            settled = future.settle(result, None)
        elif issubclass(type(error), _Cancelled):  # counted as cancelled
            future.cancel()  # a cancelled future, not a failure to report as never retrieved
            return
        else:
            # shutdown() has logged by name a task it stopped: no unretrieved-failure guard.
            logged = issubclass(type(error), WorkerNotRunningError)
            settled = future.settle(None, error, None if logged else coroutine_name(self.coro))
        if not settled:
            counts = self.worker.counts  # its owner cancelled it first, and saw that
            counts[counter] -= 1
            counts["cancelled"] += 1
