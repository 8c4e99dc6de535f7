"""Submitting coroutines to the event loop and delivering their outcomes.

The path of one call: `call()` / `spawn()` (caller's thread, its input checked) wraps the
coroutine in a job and `_submit()`s it to a deque; only a submission that finds no wake-up
pending writes to the loop's self-pipe. `run_queued()` (loop thread) makes each queued job
an `asyncio.Task`, which the job drives to its end and hands its outcome over (see `job`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sized
from contextvars import Context
from dataclasses import dataclass, fields
from queue import Empty
from types import CoroutineType
from typing import Any, TypeVar, final

from ..exceptions import DeadlockError, WorkerNotRunningError
from .checks import (
    as_coroutine,
    check_context,
    check_max_in_flight,
    check_timeout,
    discard,
    reused_error,
    running_loop,
    warn_blocking,
)
from .event_loop import EventLoop, LoopFactory, LoopState
from .job import Call, Job, Reason, Slots, Spawn, Stage, new_task
from .launch import INTERRUPT_TRIES
from .monitor import DEFAULT_SLOW_TASK_THRESHOLD, coroutine_name

__all__ = ["Worker", "WorkerStats", "snapshot"]

T = TypeVar("T")

_SLOT_RECHECK = 0.5  # how often a caller waiting for an in-flight slot checks the worker
#: Jobs made tasks per loop callback. The loop runs those before it takes the next batch,
#: so a burst never has more than this many tasks made and not yet run for the collector
#: to scan.
_BATCH = 100

_RUNNING_LOOP, _STOPPING_LOOP = LoopState.RUNNING, LoopState.STOPPING
_get_ident = threading.get_ident
_NEW, _QUEUED, _RUNNING = Stage.NEW, Stage.QUEUED, Stage.RUNNING


@dataclass(frozen=True, eq=False)
class WorkerStats(Mapping[str, int]):
    """A snapshot of task counters, read as attributes or as a read-only mapping.

    `running` counts tasks accepted and not finished (queued or on the loop); every accepted
    task ends in exactly one of `succeeded`, `failed`, `cancelled`, `timed_out`. A task is
    one call, one step of a bridged generator, or one enter or exit of a bridged context.
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


def snapshot(counts: Mapping[str, int], queues: Iterable[Sized] = ()) -> WorkerStats:
    """The stats of `counts`, plus the jobs in `queues`: accepted, not yet counted."""
    # The counts, then at once the queues: a job leaves its queue, then is counted, so one
    # moving meanwhile may be missed for a moment, but is never counted twice.
    submitted = counts["submitted"]
    for queue in queues:
        submitted += len(queue)
    finished = sum(counts[name] for name in _COUNTERS[2:])
    return WorkerStats(**{**counts, "submitted": submitted, "running": submitted - finished})


@final
class Worker(EventLoop):
    """Runs coroutines on its event loop and hands their outcomes back to threads.

    Every method may be called from any thread; a shut-down worker may be started again,
    and the first submission starts one never started. Its counters (`counts`, which the
    process-wide worker shares with those before it) are written on the loop thread only,
    so they need no lock.
    """

    thread_name = "sincpro-async-worker"

    def __init__(
        self,
        loop_factory: LoopFactory | None = None,
        *,
        max_in_flight: int | None = None,
        slow_task_threshold: float | None = DEFAULT_SLOW_TASK_THRESHOLD,
        counts: dict[str, int] | None = None,
    ) -> None:
        super().__init__(loop_factory, slow_task_threshold=slow_task_threshold)
        self._queue: deque[Job] = deque()
        self._wakeup_pending = False
        self.pending: set[Job] = set()  # jobs whose task exists and is not settled
        bound = check_max_in_flight(max_in_flight)
        self._slots = None if bound is None else Slots(bound)
        self.counts: dict[str, int] = dict.fromkeys(_COUNTERS, 0) if counts is None else counts

    def stats(self) -> WorkerStats:
        """A snapshot of the counters; exact when the worker is idle."""
        return snapshot(self.counts, [self._queue])

    @property
    def backlog(self) -> Sized:
        """The jobs accepted and not yet taken by the loop, so not yet counted."""
        return self._queue

    def run_coroutine(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> concurrent.futures.Future[T]:
        """Schedule `coro` and return a future for its outcome at once.

        `timeout` bounds the task from its start: it is then cancelled and the future fails
        with `TimeoutError`. Cancelling the future cancels the task. The task runs in
        `context`, or in a copy of the caller's.
        """
        task = as_coroutine(coro, "Worker.run_coroutine")
        return self.spawn(task, check_timeout(timeout, task), check_context(context, task))

    def run_blocking(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> T:
        """Run `coro` and block until its outcome is in.

        On `timeout` the task is cancelled and `TimeoutError` raised (the coroutine's own
        passes unchanged); a `KeyboardInterrupt` while waiting cancels it too. From the loop
        thread: `DeadlockError`, since the loop could never run the task.
        """
        task = as_coroutine(coro, "Worker.run_blocking")
        if running_loop() is not None and not self.owns_current_thread():
            warn_blocking("Worker.run_blocking()", None, task, stacklevel=2)
        return self.call(task, check_timeout(timeout, task), check_context(context, task))

    # What run_coroutine() and run_blocking() do once their input is checked: the runtime's
    # entry points, which check it first themselves.

    def spawn(
        self, coro: Coroutine[Any, Any, T], timeout: float | None, context: Context | None
    ) -> concurrent.futures.Future[T]:
        """Schedule a fresh coroutine; its future at once."""
        job = Spawn(coro, self, timeout, context)
        try:
            self._submit(job)
        except BaseException:
            # Accepted, it runs: an interrupt may have cut its wake-up off.
            self._abandon(job, self.run_queued)
            raise
        return job.future

    def call(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float | None,
        context: Context | None,
        *,
        bounded: bool = True,
    ) -> T:
        """A blocking call; one not `bounded` (a cleanup) takes no in-flight slot."""
        if _get_ident() == self.thread_id and self.owns_current_thread():
            name = coroutine_name(coro)
            discard(coro)
            raise DeadlockError(
                f"a blocking call of {name}() was made from the worker loop's own thread, "
                "where it would wait forever for itself; inside a coroutine, await the "
                "coroutine directly (for a decorated function, its twin: `await f.aio(...)`, "
                "or `async for` / `async with` over `f.aio(...)` for a generator or a context "
                "manager), or use fire-and-forget and do not wait for its future there"
            )
        job = Call(coro, self, timeout, context)
        try:
            self._submit(job, bounded)
            result: T = job.wait()
        except BaseException:
            # A KeyboardInterrupt (or whatever a signal handler raises) can land anywhere
            # from here to the end of the wait. The loop cancels the job, settling it
            # unstarted if still queued, and waking up for the queue in case the
            # interrupt cut the submission's wake-up off.
            self._abandon(job, job.cancel, Reason.CANCEL)
            raise
        return result

    def _abandon(self, job: Job, callback: Callable[..., object], *args: Any) -> None:
        """Its submitter leaves with an exception: close `job` if it was never queued, else
        post `callback(*args)` for it. A second interrupt meanwhile (Ctrl-C pressed twice)
        must not leave that undone: it is tried again."""
        for _ in range(INTERRUPT_TRIES):
            try:
                if job.stage is _NEW:
                    self._release(job)
                else:
                    self.post(callback, *args)
                return
            except BaseException:  # the next interrupt: try again
                continue

    def _submit(self, job: Job, bounded: bool = True) -> None:
        """Queue `job` and make sure a wake-up for the loop is on its way.

        Refusals raise while the job is still NEW, and the caller closes it; from QUEUED on,
        the loop resolves it. An interrupt handled inside `_take_slot` may give back a slot
        token that was never taken, but never loses one (see `Slots`).
        """
        state = self.state
        if state is not _RUNNING_LOOP:
            if state is LoopState.NEW:
                self.start()  # a worker never started starts on its first submission
            elif not (state is _STOPPING_LOOP and self.owns_current_thread()):
                raise self._refusal()
        if self._slots is not None and bounded and running_loop() is None:
            # A thread running a loop (this worker's, or a caller's using `.aio`) is never
            # held back: waiting there would stop the very loop that may free the slot.
            self._take_slot(job)
        job.stage = _QUEUED  # no signal is handled between this and the append
        self._queue.append(job)
        if not self._wakeup_pending:
            self._wakeup_pending = True
            loop = self._loop  # set by start(), before the state said RUNNING
            assert loop is not None
            try:
                loop.call_soon_threadsafe(self.run_queued)
            except RuntimeError:  # closed meanwhile: refused below
                self._wakeup_pending = False
            except BaseException:  # an interrupt: the next submission must post it again
                self._wakeup_pending = False
                raise
        if self.state is not _RUNNING_LOOP and not self.owns_current_thread():
            try:  # shutdown() began meanwhile: take the job back, unless the loop has it
                self._queue.remove(job)
            except ValueError:
                return
            job.stage = _NEW
            raise self._refusal()

    @staticmethod
    def _release(job: Job) -> None:
        """A job that was never queued: close its coroutine, give its slot back."""
        discard(job.coro)
        job.release_slot()

    def _refusal(self) -> WorkerNotRunningError:
        why = (
            "the worker is shutting down and takes no new work; submit again once "
            "shutdown() has returned"
            if self.state is _STOPPING_LOOP
            else "this worker has been shut down; call its start() to run it again"
        )
        return WorkerNotRunningError(
            f"{why} (run_async_task() and the decorators start a fresh worker by themselves)"
        )

    def _take_slot(self, job: Job) -> None:
        slots = self._slots
        assert slots is not None
        if isinstance(job, Call):
            deadline = job.deadline  # one timeout for the wait and the run
        else:
            deadline = None if job.timeout is None else time.monotonic() + job.timeout
        job.slot = slots  # claimed first: see Slots
        while True:
            left = _SLOT_RECHECK if deadline is None else deadline - time.monotonic()
            try:
                slots.get(timeout=min(max(left, 0.0), _SLOT_RECHECK))
                return
            except Empty:
                pass
            if not self.is_running():
                job.slot = None
                raise self._refusal()
            if deadline is not None and left <= _SLOT_RECHECK:
                job.slot = None
                raise TimeoutError(
                    f"no in-flight slot freed up within the {job.timeout} s timeout "
                    "(max_in_flight is reached); raise max_in_flight or the timeout"
                )

    def post(self, callback: Callable[..., object], *args: Any) -> None:
        """Run `callback(*args)` on the loop thread soon; nothing if the loop has closed
        (its thread then fails whatever is left, as its last act)."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except (RuntimeError, WorkerNotRunningError):
            pass

    def run_queued(self) -> None:
        """Loop thread: make the queued jobs tasks, a batch at a time."""
        self._wakeup_pending = False
        # A drain takes them all: each becomes a task it can wait for, or cancel and name.
        draining = self.state is not _RUNNING_LOOP
        if draining and self.drained():
            return  # the loop is closing: its thread's last act fails what is queued
        queue, counts, pending = self._queue, self.counts, self.pending
        loop = asyncio.get_running_loop()
        try:
            batch = len(queue) if draining else min(len(queue), _BATCH)
            # A coroutine submitted twice before its first step is refused the second time,
            # not driven by two tasks at once: found by its id within a batch, and by its
            # state in a later one (the first task has started it by then).
            taken: set[int] | None = set() if batch > 1 else None
            for _ in range(batch):
                try:
                    job = queue.popleft()
                except IndexError:  # a submitter racing shutdown() took its job back
                    break
                counts["submitted"] += 1
                if job.unwanted():  # cancelled, or timed out, before it started
                    job.settle_unstarted()
                    continue
                coro = job.coro
                if (taken is not None and id(coro) in taken) or (
                    type(coro) is CoroutineType and (coro.cr_await is not None or coro.cr_running)
                ):
                    job.settle(None, reused_error(coro, "been submitted once"))
                    continue
                if taken is not None:
                    taken.add(id(coro))
                job.stage = _RUNNING
                pending.add(job)
                task = new_task(job, loop)
                if job.stage is _RUNNING:  # not finished by an eager first step
                    job.task = task
                    if job.timeout is not None and isinstance(job, Spawn):
                        job.timer = loop.call_later(job.timeout, job.cancel, Reason.TIMEOUT)
        finally:
            # Something escaped (a SystemExit from a future's done-callback, say): the rest
            # of the queue must not wait for a wake-up that nobody will send.
            if queue and not self._wakeup_pending:
                self._wakeup_pending = True
                loop.call_soon(self.run_queued)

    def _take_backlog(self) -> bool:
        if not self._queue:
            return False
        self.run_queued()
        return True

    def _loop_thread_ended(self) -> None:
        """Fail every job the closed loop can no longer resolve, and forget its wake-up.

        A wake-up posted as the loop closed never ran: left pending, it would keep a
        restarted worker from ever posting one, and its queue from ever running.
        """
        why = WorkerNotRunningError(
            "the worker stopped before the task finished; the next call starts a fresh worker"
        )
        for job in list(self.pending):
            job.settle(None, why)
        queue = self._queue
        while True:  # last: a failed job's done-callback may submit on this thread
            try:  # a submitter racing shutdown() may take its job back meanwhile
                job = queue.popleft()
            except IndexError:
                break
            self.counts["submitted"] += 1  # accepted, though it never left the queue
            discard(job.coro)
            job.settle(None, why)
        self._wakeup_pending = False

    def forget_after_fork(self) -> None:
        """In a forked child: fail the parent's jobs, taking no lock the parent held.

        A blocking call's lock is only released: the thread that forked may be waiting on
        it (a fork from a signal handler), and no other thread of the parent's is here.
        """
        why = WorkerNotRunningError(
            "the task was submitted in the parent process before os.fork(); the child "
            "process starts its own worker on its first call"
        )
        for job in (*self._queue, *self.pending):
            if isinstance(job, Spawn):
                job.future.fail_after_fork(why)
            elif isinstance(job, Call) and job.done.locked():
                job.error = why
                job.done.release()
