"""Submitting coroutines to the event loop and delivering their outcomes.

The hot path is here, so it is written for speed without giving up any guarantee:

* Submissions go into a deque. Only a submission that finds no wake-up pending writes to
  the loop's self-pipe (`call_soon_threadsafe`); one callback then starts every queued
  job. A burst of a thousand submissions costs a handful of wake-ups, not a thousand.
* On Python 3.12+ tasks start eagerly: a coroutine that finishes without suspending is
  done inside that same callback, with no further loop iteration.
* A blocking caller sleeps on a pre-acquired lock that the loop releases, not on a
  Condition-based future; fire-and-forget callers get a `concurrent.futures.Future`.
* Jobs are slotted objects, and the links between a job, its task and its future are
  cut the moment the outcome is delivered, so finished work is freed by reference
  counting rather than left to the cyclic garbage collector.
* Counters are written on the loop thread, so they need no lock; the exceptions run when
  that thread is gone (abandoning its jobs after shutdown, a crash or a fork).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import math
import numbers
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar, final

from ..exceptions import DeadlockError, TimeoutTypeError, WorkerNotRunningError
from .event_loop import DEFAULT_SLOW_TASK_THRESHOLD, EventLoop, LoopFactory, discard

__all__ = ["TaskFuture", "Worker", "WorkerStats", "check_timeout"]

logger = logging.getLogger("sincpro_async_worker")

T = TypeVar("T")

#: After our own timeout fires, how long a blocking caller waits for the task to
#: acknowledge its cancellation, so that its `finally` blocks have run when we return.
_CANCEL_ACK_TIMEOUT = 1.0
#: Blocking waits wake this often to check that the worker thread is still alive.
_LIVENESS_CHECK = 0.5

if sys.version_info >= (3, 12):

    def _create_task(
        loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context, name: str
    ) -> asyncio.Task[Any]:
        return asyncio.Task(coro, loop=loop, context=context, name=name, eager_start=True)

elif sys.version_info >= (3, 11):

    def _create_task(
        loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context, name: str
    ) -> asyncio.Task[Any]:
        return loop.create_task(coro, context=context, name=name)

else:

    def _create_task(
        loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context, name: str
    ) -> asyncio.Task[Any]:
        # 3.10 has no context= parameter; a task copies the context it is created in.
        return context.run(loop.create_task, coro, name=name)


@dataclass(frozen=True, eq=False)
class WorkerStats(Mapping[str, int]):
    """A snapshot of task counters: a worker's own, or the process's (`stats()`).

    `running` counts tasks accepted and not yet finished (queued or on the loop). Every
    accepted task ends in exactly one of `succeeded`, `failed`, `cancelled`, `timed_out`.
    Read the counters as attributes (`stats().failed`) or as a read-only mapping
    (`stats()["failed"]`, `dict(stats())`); a snapshot equals any mapping of the same
    counts, so `stats() == {...}` works in tests.
    """

    submitted: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    timed_out: int = 0

    def __getitem__(self, name: str) -> int:
        if name not in _COUNTERS:
            raise KeyError(f"{name!r} is not a counter; the counters are {', '.join(_COUNTERS)}")
        value: int = getattr(self, name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_COUNTERS)

    def __len__(self) -> int:
        return len(_COUNTERS)

    def __hash__(self) -> int:  # Mapping's __eq__ would leave it unhashable
        return hash(tuple(self.values()))


_COUNTERS = tuple(field.name for field in fields(WorkerStats))


class TaskFuture(concurrent.futures.Future[T]):
    """The `concurrent.futures.Future` returned by fire-and-forget calls.

    `cancel()` also cancels the task on the loop. A failure that nobody retrieves (through
    `result()` or `exception()`) is logged once, with its traceback, when the future is
    garbage collected, the way asyncio reports a task exception that was never retrieved.
    """

    _job: _Job | None = None
    _failure: _UnretrievedFailure | None = None

    def cancel(self) -> bool:
        job = self._job
        cancelled = super().cancel()
        if cancelled and job is not None:
            job.request_cancel()
        return cancelled

    def result(self, timeout: float | None = None) -> T:
        try:
            return super().result(timeout)
        finally:
            self._retrieved()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        try:
            return super().exception(timeout)
        finally:
            self._retrieved()

    def _retrieved(self) -> None:
        # Only a call that got the outcome counts; a wait that timed out saw nothing.
        # `_fail` attaches the guard before setting the exception, so it is here by then.
        failure = self._failure
        if failure is not None and self.done():
            failure.retrieved = True

    def _fail(self, exc: BaseException, name: str) -> None:
        """Set the exception, watched by a guard that logs it if nobody ever looks."""
        failure = self._failure = _UnretrievedFailure(exc, name)
        try:
            self.set_exception(exc)
        except concurrent.futures.InvalidStateError:
            failure.retrieved = True  # its owner cancelled it first: nothing to report
            raise


class _UnretrievedFailure:
    """Logs a fire-and-forget failure when its future is freed without anyone reading it.

    Only failed futures carry one, so successful work pays nothing for the check.
    """

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


class _Job:
    """One submitted coroutine, from acceptance to the delivery of its outcome.

    Created on the caller's thread; from then on its fields are only touched on the loop
    thread, except `cancel_requested`/`timed_out`, which callers set before posting a
    cancellation to the loop.
    """

    __slots__ = (
        "accepted",
        "cancel_posted",
        "cancel_requested",
        "cancel_sent",
        "context",
        "coro",
        "deadline",
        "holds_slot",
        "name",
        "settled",
        "task",
        "timed_out",
        "timeout",
        "timer",
        "worker",
    )

    def __init__(
        self,
        coro: Awaitable[Any],
        worker: Worker,
        timeout: float | None,
        context: contextvars.Context | None,
    ) -> None:
        self.coro: Awaitable[Any] | None = coro
        # Tasks are named after their coroutine, so logs (and users) can tell them apart.
        self.name: str = getattr(coro, "__qualname__", None) or type(coro).__qualname__
        self.context = contextvars.copy_context() if context is None else context
        self.worker = worker
        self.task: asyncio.Task[Any] | None = None
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.timer: asyncio.TimerHandle | None = None
        # A zero timeout has run out before the task could start, so it never does: the
        # same outcome in both modes, whether or not the first step would run eagerly.
        self.timed_out = self.cancel_requested = timeout == 0
        self.cancel_posted = False  # a cancellation is on its way to the loop
        self.cancel_sent = False  # the task itself has been cancelled
        self.holds_slot = False
        self.settled = False
        #: Set just before the job joins the queue: from then on the loop resolves it.
        self.accepted = False

    async def run(self, coro: Awaitable[Any]) -> None:
        """The task's coroutine: await `coro`, then deliver its outcome from right here.

        Delivering inside the task saves the loop iteration a done-callback would cost.
        Every exception goes to the caller and stops here, so a `SystemExit` or
        `KeyboardInterrupt` raised by user code never unwinds the event loop; only
        cancellation propagates, so asyncio still sees the task as cancelled.
        """
        self.coro = None  # started: from now on a cancellation reaches `coro` through us
        try:
            result = await coro
        except asyncio.CancelledError:
            self._conclude(None, self.cancellation())
            raise
        except BaseException as exc:
            # Start the traceback at the user's coroutine: this frame adds nothing for
            # them, and holding it (and `self`) would tie the job into a reference cycle.
            if exc.__traceback__ is not None:
                exc.__traceback__ = exc.__traceback__.tb_next
            self._conclude(None, self.timeout_error(exc) if self._overran() else exc)
        else:
            if self._overran():
                self._conclude(None, self.timeout_error())
            else:
                self._conclude(result, None)

    def _overran(self) -> bool:
        """Whether our timeout cancelled the task before it ended (however it ended).

        A coroutine that swallows that cancellation, or fails in its cleanup, still
        overran: its caller gets the `TimeoutError` the timeout promised. One that ended
        before the cancellation reached it keeps its own outcome, whatever our timer did.
        """
        if self.timed_out and self.cancel_sent:
            return True
        self.timed_out = False
        return False

    def _conclude(self, result: Any, exc: BaseException | None) -> None:
        # If this task has been blocking the loop, say so before its caller wakes up.
        event_loop = self.worker._event_loop
        if event_loop.stall is not None:
            event_loop.report_stall_of(asyncio.current_task())
        self.settle(result, exc)

    def settle(self, result: Any, exc: BaseException | None) -> None:
        """Record the outcome in the counters and hand it to the caller, exactly once."""
        if self.settled:
            return
        self.settled = True
        self.task = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.finish(result, exc)

    def finish(self, result: Any, exc: BaseException | None) -> None:
        """Count, then deliver: a blocking caller may read stats() the moment it wakes."""
        self.worker._finished(self, exc)
        if exc is None:
            self.deliver_result(result)
        else:
            self.deliver_exception(exc)

    def request_cancel(self) -> None:
        """Cancel the task on the loop; callable from any thread."""
        self.cancel_requested = True
        self.worker._call_on_loop(self._cancel)
        self.cancel_posted = True  # not before: an interrupt may land in the call above

    def expire(self) -> None:
        """Cancel the task because its timeout ran out; callable from any thread."""
        self.timed_out = True
        self.request_cancel()

    def remaining(self) -> float | None:
        """Seconds left of the timeout, which started counting when the call was made."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.monotonic(), 0.0)

    def cancellation(self) -> BaseException:
        """What the caller gets for a task we cancelled: ours was a timeout, or a cancel."""
        return self.timeout_error() if self.timed_out else concurrent.futures.CancelledError()

    def timeout_error(self, cause: BaseException | None = None) -> TimeoutError:
        """The caller's `TimeoutError`, chained to how the cancelled coroutine ended."""
        error = TimeoutError(
            f"the task did not finish within its {self.timeout} s timeout and was "
            "cancelled on the worker loop; raise the timeout if the work needs longer"
        )
        error.__cause__ = cause
        return error

    def _cancel(self) -> None:
        task = self.task
        if task is None:
            if self.accepted and not self.settled:
                # Still queued, and its wake-up may never have been posted (its caller
                # was interrupted mid-submission): drop it from the queue now.
                self.worker._start_queued()
            return
        if self.coro is not None:
            # Created but not yet started (no eager start before 3.12): cancelling the
            # task would skip run() entirely, so settle here and close the coroutine.
            discard(self.coro)
            self.coro = None
            self.settle(None, self.cancellation())
        self.cancel_sent = True
        task.cancel()

    def deliver_result(self, result: Any) -> None:
        raise NotImplementedError

    def deliver_exception(self, exc: BaseException) -> None:
        raise NotImplementedError


class _BlockingJob(_Job):
    """A job whose caller sleeps on `done`: acquired at creation, released by the loop."""

    __slots__ = ("done", "failed", "outcome")

    def __init__(
        self,
        coro: Awaitable[Any],
        worker: Worker,
        timeout: float | None,
        context: contextvars.Context | None,
    ) -> None:
        super().__init__(coro, worker, timeout, context)
        self.done = threading.Lock()
        self.done.acquire()
        self.outcome: Any = None
        self.failed = False

    def deliver_result(self, result: Any) -> None:
        self.outcome = result
        self.done.release()

    def deliver_exception(self, exc: BaseException) -> None:
        self.outcome = exc
        self.failed = True
        self.done.release()

    def wait(self) -> Any:
        """Block the calling thread until the outcome is in, then return or raise it."""
        finished = self._acquire(self.remaining())
        if not finished:
            # Our deadline, not the coroutine's: cancel it on the loop and give it a
            # moment to run its cleanup, so nothing of it outlives this call.
            self.expire()
            finished = self._acquire(_CANCEL_ACK_TIMEOUT)
        if not finished:
            raise self.timeout_error()
        if self.failed:
            exc: BaseException = self.outcome
            self.outcome = None
            raise exc
        return self.outcome

    def _acquire(self, timeout: float | None) -> bool:
        # Wake now and then to notice a worker thread that died under us.
        done, worker = self.done, self.worker
        deadline = None if timeout is None else time.monotonic() + timeout
        step = _LIVENESS_CHECK
        while True:
            if deadline is not None:
                step = min(deadline - time.monotonic(), _LIVENESS_CHECK)
                if step <= 0:
                    return False
            if done.acquire(timeout=step):
                return True
            if not worker._thread_alive():
                worker._abandon(self)


class _FutureJob(_Job):
    """A job whose outcome goes to a `TaskFuture`."""

    __slots__ = ("future",)

    def __init__(
        self,
        coro: Awaitable[Any],
        worker: Worker,
        timeout: float | None,
        context: contextvars.Context | None,
    ) -> None:
        super().__init__(coro, worker, timeout, context)
        self.future: TaskFuture[Any] = TaskFuture()
        self.future._job = self

    def finish(self, result: Any, exc: BaseException | None) -> None:
        """Count, then deliver; recount in the rare case the owner cancelled meanwhile.

        Counting first means stats() is final by the time anyone sees the outcome. The
        owner may still cancel the future while the task finishes (its cancel() wins as
        long as no outcome is set); it then saw a cancellation, and so must the counters.
        """
        counted = self.worker._finished(self, exc)
        if not self._offer(result, exc):
            self.worker._recount(counted, "_cancelled")

    def deliver_result(self, result: Any) -> None:
        self._offer(result, None)

    def deliver_exception(self, exc: BaseException) -> None:
        self._offer(None, exc)

    def _offer(self, result: Any, exc: BaseException | None) -> bool:
        """Hand the outcome to the future; False if its owner had cancelled it first."""
        future = self.future
        future._job = None
        if type(exc) is concurrent.futures.CancelledError:
            # Cancelled (by its owner or at shutdown): a cancelled future, not a failure
            # that would be reported as never retrieved.
            future.cancel()
            return True
        try:
            if exc is None:
                future.set_result(result)
            else:
                future._fail(exc, self.name)
        except concurrent.futures.InvalidStateError:  # cancelled by its owner meanwhile
            return False
        return True


@final
class Worker:
    """Runs coroutines on an `EventLoop` and hands their outcomes back to threads.

    Thread-safety: `run_coroutine()`, `run_blocking()` and `stats()` may be called from any
    thread, concurrently. `start()` and `shutdown()` are idempotent; after `shutdown()` the
    worker may be started again. The first submission to a worker that was never started
    starts it, as the original `Worker` did; after a `shutdown()`, only `start()` does.
    """

    def __init__(
        self,
        loop_factory: LoopFactory | None = None,
        *,
        max_in_flight: int | None = None,
        slow_task_threshold: float | None = DEFAULT_SLOW_TASK_THRESHOLD,
    ) -> None:
        self._event_loop = EventLoop(
            loop_factory,
            thread_name="sincpro-async-worker",
            slow_task_threshold=slow_task_threshold,
            is_busy=self._busy,
            delivery_code=(_Job._conclude.__code__,),
            on_exit=self._loop_thread_ended,
        )
        self._queue: deque[_Job] = deque()
        self._wakeup_pending = False
        self._accepting = False
        self._started_once = False  # set once start() has finished, never cleared
        self._first_start = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._active: set[_Job] = set()
        self._slots = threading.Semaphore(max_in_flight) if max_in_flight else None
        self._submitted = self._succeeded = self._failed = 0
        self._cancelled = self._timed_out = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread (if needed) and accept work."""
        self._event_loop.start()
        self._loop = self._event_loop.loop
        self._loop_thread_id = self._event_loop.thread_id
        self._wakeup_pending = False  # a previous loop may have died with one pending
        self._accepting = True
        self._started_once = True

    def is_running(self) -> bool:
        """Whether the worker accepts work and its thread is alive."""
        return self._accepting and self._event_loop.is_running()

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Stop accepting work, drain for up to `timeout` s, cancel the rest, stop.

        Work accepted before the call is given the grace period; later submissions from
        other threads get `WorkerNotRunningError`. Anything the loop could not resolve is
        failed with `WorkerNotRunningError`, so no caller is left waiting. Idempotent.
        """
        self._event_loop.refuse_loop_thread("shutdown()")
        self._accepting = False
        self._event_loop.shutdown(timeout)
        self._loop_thread_id = None
        self._abandon_all()

    def owns_current_thread(self) -> bool:
        """Whether the calling thread is this worker's loop thread."""
        return threading.get_ident() == self._loop_thread_id

    @property
    def event_loop(self) -> EventLoop:
        """The `EventLoop` this worker runs its tasks on."""
        return self._event_loop

    # -- submission ------------------------------------------------------------------

    def run_coroutine(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> concurrent.futures.Future[T]:
        """Schedule `coro` and return a future for its outcome at once.

        `timeout` bounds the task from when it starts: when it runs out the task is
        cancelled and the future fails with `TimeoutError`. Cancelling the future
        cancels the task. Allowed from the loop thread too. The task runs in `context`
        if given, otherwise in a copy of the caller's context.
        """
        job = _FutureJob(coro, self, timeout, context)
        self._submit(job)
        return job.future

    def run_blocking(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> T:
        """Run `coro` and block the calling thread until its outcome is in.

        On `timeout` the task is cancelled on the loop and `TimeoutError` raised; a
        `TimeoutError` raised by the coroutine itself propagates unchanged. From the loop
        thread it raises `DeadlockError` at once, since the loop could never run the task.
        """
        if threading.get_ident() == self._loop_thread_id:
            discard(coro)
            raise DeadlockError(
                "a blocking call was made from the worker loop's own thread, where it "
                "would wait forever for itself; inside a coroutine, await the coroutine "
                "directly, or use fire-and-forget (fire_and_forget=True, or a "
                "@fire_and_forget function) and do not wait for its future there"
            )
        job = _BlockingJob(coro, self, timeout, context)
        try:
            self._submit(job)
            result: T = job.wait()
        except BaseException:
            # A KeyboardInterrupt (or any exception a signal handler raises) can land
            # anywhere from the queue append to the end of the wait: the task must not
            # keep running for a caller that has gone away.
            if job.accepted and not job.settled and not job.cancel_posted:
                job.request_cancel()
            raise
        return result

    def stats(self, *, queued: bool = True) -> WorkerStats:
        """A snapshot of the counters; exact when the worker is idle.

        Jobs still in the queue count as submitted and running. After a shutdown, any job
        left there is one its submitter is about to take back and refuse: pass
        `queued=False` for the final figures.
        """
        finished = self._succeeded + self._failed + self._cancelled + self._timed_out
        submitted = self._submitted + (len(self._queue) if queued else 0)
        return WorkerStats(
            submitted=submitted,
            running=submitted - finished,
            succeeded=self._succeeded,
            failed=self._failed,
            cancelled=self._cancelled,
            timed_out=self._timed_out,
        )

    def _submit(self, job: _Job) -> None:
        """Queue `job` and make sure a wake-up for the loop is on its way.

        Refusals (no worker, no free slot in time) raise before anything is queued. A
        KeyboardInterrupt that lands between two calls here leaves the job either not
        accepted, holding no slot and with its coroutine closed, or accepted and certain
        to be resolved by the loop. (One that lands inside a call, between a lock's
        acquire and the line after it, CPython gives no way to undo.)
        """
        if not self._started_once:  # never started: the first submission starts it
            try:
                self._start_first_time()
            except BaseException:
                discard(job.coro)
                raise
        on_loop_thread = threading.get_ident() == self._loop_thread_id
        if not self._accepting and not (on_loop_thread and self._event_loop.is_running()):
            raise self._not_accepting(job)
        queue = self._queue
        try:
            if self._slots is not None and not on_loop_thread:
                self._take_slot(job)
            job.accepted = True  # no signal is handled between this and the append
            queue.append(job)
        except BaseException:
            if not job.accepted:
                self._release_slot(job)
                discard(job.coro)
            raise
        if not self._accepting and not on_loop_thread:
            # shutdown() began while we were appending; take the job back if the loop
            # has not yet, or leave it to the loop, which resolves it either way.
            try:
                queue.remove(job)
            except ValueError:
                return
            job.accepted = False
            self._release_slot(job)
            raise self._not_accepting(job)
        if not self._wakeup_pending:
            self._wakeup_pending = True
            try:
                self._call_on_loop(self._start_queued)
            except BaseException:
                # Interrupted (Ctrl-C) before the wake-up was surely posted: a flag left
                # set would keep every later submission from waking the loop.
                self._wakeup_pending = False
                raise

    def _start_first_time(self) -> None:
        # Under a lock: a submitter arriving while another thread's start() is half done
        # must wait for it, not find the worker "not accepting" and refuse its job.
        with self._first_start:
            if not self._started_once:
                self.start()

    def _not_accepting(self, job: _Job) -> WorkerNotRunningError:
        discard(job.coro)
        if self._loop is None:
            why = "this worker has not been started; call its start() first"
        elif self._event_loop.is_running():
            why = (
                "the worker is shutting down and takes no new work; submit again once "
                "shutdown() has returned"
            )
        else:
            why = "this worker has been shut down; call its start() to run it again"
        return WorkerNotRunningError(
            f"{why} (run_async_task() and the decorators start a fresh worker by themselves)"
        )

    def _take_slot(self, job: _Job) -> None:
        slots = self._slots
        assert slots is not None
        if not slots.acquire(blocking=False):
            while not slots.acquire(timeout=_LIVENESS_CHECK):
                if not self._accepting:
                    raise self._not_accepting(job)
                if job.remaining() == 0:
                    discard(job.coro)
                    raise TimeoutError(
                        f"no in-flight slot freed up within the {job.timeout} s timeout "
                        "(max_in_flight is reached); raise max_in_flight or the timeout"
                    )
        job.holds_slot = True

    def _release_slot(self, job: _Job) -> None:
        if job.holds_slot:
            job.holds_slot = False
            assert self._slots is not None
            self._slots.release()

    def _call_on_loop(self, callback: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None:
            raise WorkerNotRunningError("the worker has not been started; call start() first")
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:
            # The loop is closed: fail whatever is still queued (shutdown() or the dying
            # thread may already have swept the queue before this job joined it).
            logger.debug("Loop closed before %r could run", callback)
            self._abandon_all()

    # -- on the loop thread ----------------------------------------------------------

    def _start_queued(self) -> None:
        self._wakeup_pending = False
        queue, loop, active = self._queue, self._loop, self._active
        assert loop is not None
        try:
            for _ in range(len(queue)):
                try:
                    job = queue.popleft()
                except IndexError:  # a submitter racing shutdown() took its job back
                    break
                self._submitted += 1
                coro = job.coro
                if coro is None or job.cancel_requested:
                    discard(coro)
                    job.coro = None
                    job.settle(None, job.cancellation())
                    continue
                # Active before the task exists: an eager first step that blocks the loop
                # must find the watchdog looking (settling the job removes it again).
                active.add(job)
                task = _create_task(loop, job.run(coro), job.context, job.name)
                if task.done():  # eager start ran it to completion already
                    continue
                job.task = task
                if job.timeout is not None and isinstance(job, _FutureJob):
                    job.timer = loop.call_later(job.timeout, job.expire)
        finally:
            # Something escaped a task's eager first step (a SystemExit from a callback
            # run at delivery, say): the rest of this batch must not wait for a wake-up
            # that nobody will send.
            if queue and not self._wakeup_pending:
                self._wakeup_pending = True
                loop.call_soon(self._start_queued)

    def _finished(self, job: _Job, exc: BaseException | None) -> str:
        """Retire `job` and count its outcome; returns the counter it went to."""
        self._active.discard(job)
        self._release_slot(job)
        if exc is None:
            self._succeeded += 1
            return "_succeeded"
        if job.timed_out:
            self._timed_out += 1
            return "_timed_out"
        if isinstance(exc, (concurrent.futures.CancelledError, asyncio.CancelledError)):
            self._cancelled += 1
            return "_cancelled"
        self._failed += 1
        return "_failed"

    def _recount(self, counted: str, actual: str) -> None:
        if counted != actual:
            setattr(self, counted, getattr(self, counted) - 1)
            setattr(self, actual, getattr(self, actual) + 1)

    def _busy(self) -> bool:
        return bool(self._active)

    # -- failure paths ---------------------------------------------------------------

    def _thread_alive(self) -> bool:
        return self._event_loop.thread_alive()

    def _abandon(self, job: _Job, why: str = "the worker stopped before the task finished") -> None:
        """The loop can no longer resolve `job`: fail it rather than leave its caller waiting."""
        self._active.discard(job)
        discard(job.coro)
        job.settle(None, WorkerNotRunningError(f"{why}; the next call starts a fresh worker"))

    def _abandon_all(self, why: str = "the worker stopped before the task finished") -> None:
        # May run on two threads at once (a dying loop thread and a caller), hence no
        # `while queue: popleft()`, which could pop an empty deque.
        queue = self._queue
        while True:
            try:
                job = queue.popleft()
            except IndexError:
                break
            self._submitted += 1  # accepted, though the loop never took it from the queue
            self._abandon(job, why)
        for job in list(self._active):
            self._abandon(job, why)

    def _loop_thread_ended(self) -> None:
        """Loop thread, last act: if it ends outside shutdown(), fail what it leaves.

        Otherwise a fire-and-forget future whose thread died would stay pending until
        some other call happened to replace the worker; nobody may wait for ever.
        """
        if self._accepting:
            self._accepting = False
            self._abandon_all("the worker thread stopped unexpectedly")

    def forget_after_fork(self) -> None:
        """In a forked child: let go of the parent's work without touching its loop.

        The loop thread does not exist in the child and its tasks are the parent's, so
        they are never run here; futures the child still holds fail instead of hanging.
        Semaphore and loop are left alone: another parent thread may have held their
        locks at the moment of the fork.
        """
        self._accepting = False
        self._loop_thread_id = None
        self._slots = None
        for job in (*self._queue, *self._active):
            job.holds_slot = False
        self._abandon_all("the task was submitted in the parent process before os.fork()")


def check_timeout(timeout: object, coro: object = None) -> float | None:
    """Return `timeout` as seconds, or None for no limit; refuse (closing `coro`) a bad one.

    Any real number >= 0 is accepted (numpy's too). Infinity, and anything longer than a
    thread can wait (`threading.TIMEOUT_MAX`, about 292 years), mean no limit, as None
    does. Every public entry point checks its timeout here, before anything is
    scheduled or stopped, so a bad value can never fail half-way through.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        discard(coro)
        raise TimeoutTypeError(
            f"timeout must be a number of seconds or None (no limit), got {timeout!r}"
        )
    try:
        seconds = float(timeout)
    except OverflowError:  # an int beyond any float
        seconds = -math.inf if timeout < 0 else math.inf
    if math.isnan(seconds) or seconds < 0:
        discard(coro)
        raise ValueError(f"timeout must be >= 0 seconds or None (no limit), got {timeout!r}")
    return None if seconds >= threading.TIMEOUT_MAX else seconds
