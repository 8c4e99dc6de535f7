"""One asyncio event loop running for ever in one named daemon thread, and its lifecycle.

Made by a configurable factory, kept running when a callback lets `SystemExit` escape,
drained, cancelled and closed at shutdown. `Worker` adds the fast submission of jobs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import sys
import threading
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from ..exceptions import DeadlockError, WorkerNotRunningError
from .checks import (
    as_coroutine,
    bounded,
    check_loop_factory,
    check_threshold,
    check_timeout,
    discard,
    shown,
)
from .launch import INTERRUPT_TRIES, Latch, Launch
from .loops import LoopFactory, default_loop_factory
from .monitor import (
    DEFAULT_SLOW_TASK_THRESHOLD,
    StepMonitor,
    coroutine_name,
    describe_task,
    name_cancelled,
)

__all__ = ["EventLoop", "LoopFactory", "LoopState", "default_loop_factory"]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")

T = TypeVar("T")

CANCEL_GRACE = 1.0  # how long tasks cancelled at shutdown get for their cleanup
_JOIN_TIMEOUT = 5.0  # how long shutdown() waits, past the grace periods, for the thread
_EXIT_CLOSE = 1.0  # ... at interpreter exit, where a daemon thread left behind costs nothing
_DRAIN_ROUNDS = 5  # rounds of cancelling what the drain finds, before the loop closes


class LoopState(enum.Enum):
    """Where an `EventLoop` is in its life."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"  # shutdown() drains it: only its own thread may submit
    STOPPED = "stopped"  # it may be started again


class EventLoop:
    """An asyncio event loop running in a background daemon thread.

    Every method may be called from any thread; `start()` and `shutdown()` are idempotent,
    and `shutdown()` refuses the loop's own thread, which it would join.
    """

    thread_name = "AsyncWorkerThread"

    def __init__(
        self,
        loop_factory: LoopFactory | None = None,
        *,
        slow_task_threshold: float | None = DEFAULT_SLOW_TASK_THRESHOLD,
    ) -> None:
        self._loop_factory: LoopFactory = check_loop_factory(loop_factory) or default_loop_factory
        self._threshold = check_threshold(slow_task_threshold)
        self._lock = threading.Lock()  # start() and shutdown()
        self._joining = threading.Lock()  # one join of the thread at a time
        self.state: LoopState = LoopState.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._launch: Launch | None = None  # a thread started, not yet this loop's
        self._stopped = Latch()  # this run's thread has ended
        self.monitor: StepMonitor | None = None  # the step timer; None with the detector off
        self.thread_id: int | None = None
        self.starting: threading.Thread | None = None  # the thread of its last start()
        self._reported: set[int] = set()  # ids of the tasks shutdown() logged as abandoned
        self._waiting: set[asyncio.Task[Any]] = set()  # the library's waits for the rest
        self._drainer: asyncio.Task[None] | None = None
        self._hurried_grace: float | None = None

    def start(self) -> None:
        """Start the thread and wait until its loop runs.

        `WorkerNotRunningError` (chained to the cause) if the loop factory fails, the loop
        is not up within 30 s, or the interpreter is exiting.
        """
        with self._lock:
            if self.state is LoopState.RUNNING:
                return
            if self.state is LoopState.STOPPING:
                raise WorkerNotRunningError(
                    "the event loop is shutting down; start it again once shutdown() has returned"
                )
            if sys.is_finalizing():  # 3.10/3.11 would start a thread that never runs
                raise WorkerNotRunningError(
                    "the interpreter is shutting down; no worker thread can start now "
                    "(do this work before the program ends)"
                )
            # The thread is recorded before it starts, and forgotten once it runs as this
            # loop's: a start cut short leaves it for the next to take over, not a second.
            launch = self._launch
            if launch is None or launch.stopped.is_set():  # none, or one that has ended
                launch = self._launch = Launch(self._run, self.thread_name)
                self.starting = launch.thread  # before it runs: see runtime._refuse_reentry
            try:
                interrupt = launch.come_up()
            except BaseException:
                if launch.gave_up:  # the next start begins afresh
                    self._launch = None
                raise
            self._thread, self._stopped = launch.thread, launch.stopped
            self.state = LoopState.RUNNING
            self._launch = None
            if interrupt is not None:
                raise interrupt

    def is_running(self) -> bool:
        """Whether the loop runs and takes work (False while `shutdown()` drains it)."""
        return self.state is LoopState.RUNNING

    def has_ended(self) -> bool:
        """Whether the thread of its last run has ended, its last act done."""
        return self._stopped.is_set()

    def drained(self) -> bool:
        """Whether a shutdown's drain has ended, and the loop is closing."""
        drainer = self._drainer
        return drainer is not None and drainer.done()

    def owns_current_thread(self) -> bool:
        """Whether the caller runs on this loop's thread, while it runs or drains."""
        return threading.get_ident() == self.thread_id and self.state is not LoopState.STOPPED

    def shutdown(
        self, timeout: float | None = 5.0, *, grace: float | None = None, exiting: bool = False
    ) -> None:
        """Drain, cancel, close and join, in that order. Idempotent.

        Tasks get up to `timeout` s (`None`: no limit); the rest are cancelled, get one more
        second for their cleanup, and are logged by name at WARNING (naming `grace` as the
        grace period, if given: at exit, part of it was spent earlier). A call made while
        another drains waits for it, within its own `timeout`. While the process is
        `exiting`, a loop that does not stop is left behind a second after that cleanup.
        """
        self.refuse_loop_thread("shutdown()")
        timeout = check_timeout(timeout)  # before anything stops: never fail half-way
        if self.state is LoopState.NEW and self._launch is not None:
            try:  # a start cut short launched a thread: it is taken over, then stopped
                self.start()
            except WorkerNotRunningError:
                pass
        interrupts: list[BaseException] = []
        with self._lock:
            if self.state is LoopState.NEW or self.state is LoopState.STOPPED:
                return
            stopped, loop, thread = self._stopped, self._loop, self._thread
            first = self.state is LoopState.RUNNING
            if first:
                self.state = LoopState.STOPPING
            if loop is not None and (first or exiting):
                # The drain (or, at exit, the hurry of one a shutdown() cut short left) is
                # posted whatever interrupts land: a loop never told to drain runs on, for
                # ever. An interrupt inside the post may post it twice: both are idempotent.
                callback = self._begin_drain if first else self._hurry
                named = timeout if first and grace is None else grace
                for _ in range(INTERRUPT_TRIES):
                    try:
                        loop.call_soon_threadsafe(callback, timeout, named)
                        break
                    except RuntimeError:  # closed: the thread is on its way out already
                        break
                    except BaseException as exc:
                        interrupts.append(exc)
        if interrupts:
            raise interrupts[0]  # the drain goes on without this caller
        # The drain's own bound; a second caller waits for it within its timeout only.
        margin = CANCEL_GRACE  # for the cancelled tasks' cleanup
        if exiting:
            margin += _EXIT_CLOSE
        elif first:
            margin += CANCEL_GRACE + _JOIN_TIMEOUT
        limit = None if timeout is None else min(timeout + margin, threading.TIMEOUT_MAX)
        if not stopped.wait(limit):
            if first:
                logger.warning(
                    "The worker thread did not stop within %.1f s; leaving it behind (%s; it "
                    "is a daemon thread and will not keep the process alive)",
                    limit,
                    self._blocker(),
                )
            return
        # It has done its work: only its exit is left. Two joins at once can fail inside
        # Python's own join (an AssertionError, or "release unlocked lock") before 3.13;
        # the wait for another caller's join counts against the same bound.
        deadline = time.monotonic() + _JOIN_TIMEOUT
        if thread is not None and self._joining.acquire(timeout=_JOIN_TIMEOUT):
            try:
                thread.join(max(deadline - time.monotonic(), 0.0))
            finally:
                self._joining.release()

    def _blocker(self) -> str:
        """What is most likely keeping the loop from stopping."""
        monitor = self.monitor
        step = None if monitor is None else monitor.step
        if step is not None and monitor is not None:
            held = time.perf_counter() - step[1]
            if held >= monitor.threshold:
                return f"{coroutine_name(step[0])} has been running one step for {held:.1f} s"
        drainer = self._drainer
        if drainer is not None and not drainer.done():
            return "the shutdown was still cancelling the tasks left"
        return "a callback or a task is probably blocking the loop"

    def refuse_loop_thread(self, what: str) -> None:
        """Raise `DeadlockError` if called on the loop's thread, which `what` would block."""
        if self.owns_current_thread():
            raise DeadlockError(
                f"{what} was called from the worker loop's own thread, where waiting for "
                "the loop would deadlock; call it from ordinary sync code (or, inside a "
                "coroutine, await the work directly)"
            )

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for every task on the loop to finish, cancelling none."""
        self.refuse_loop_thread("wait_idle()")
        loop = self._loop
        if loop is None or self.state is not LoopState.RUNNING:
            return True
        found: list[bool] = []
        idle = Latch()  # not a concurrent Future: see launch
        report = self._report_idle(timeout, found, idle)
        try:
            loop.call_soon_threadsafe(loop.create_task, report)
        except RuntimeError:  # closed meanwhile
            discard(report)
            return False
        return idle.wait(timeout + CANCEL_GRACE) and found == [True]

    async def _report_idle(self, timeout: float, found: list[bool], idle: Latch) -> None:
        try:
            found.append(not await self._settle(timeout))
        finally:
            idle.set()

    # The original EventLoop's API, which started its loop on first use.

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; `WorkerNotRunningError` if `start()` has not succeeded."""
        loop = self._loop
        if loop is None or self.state is LoopState.NEW:
            raise WorkerNotRunningError("the event loop is not running; call start() first")
        return loop

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started first if need be (while it drains: its own thread only)."""
        if not self.is_running() and not self.owns_current_thread():
            self.start()
        return self.loop

    def run_coroutine(
        self, coro: Awaitable[T], timeout: float | None = None
    ) -> concurrent.futures.Future[T]:
        """Schedule any awaitable with `run_coroutine_threadsafe`; `timeout` bounds the task."""
        task = as_coroutine(coro, "EventLoop.run_coroutine")
        timeout = check_timeout(timeout, task)
        try:
            loop = self.get_loop()
        except BaseException:
            discard(task)
            raise
        return asyncio.run_coroutine_threadsafe(
            task if timeout is None else bounded(task, timeout), loop
        )

    # What a subclass adds to the loop thread's life.

    def _take_backlog(self) -> bool:
        """Make the submissions still queued tasks now; False if there were none."""
        return False

    def _loop_thread_ended(self) -> None:
        """The loop thread's very last act, once its loop has closed."""

    def _run(self, launch: Launch) -> None:
        try:
            loop = self._new_loop()
        except BaseException as exc:  # reported to start() in the calling thread
            launch.up(exc)
            launch.stopped.set()
            return
        self._loop, self.thread_id = loop, threading.get_ident()
        loop.call_soon(launch.up)
        try:
            while True:
                try:
                    loop.run_forever()
                except BaseException as exc:  # a callback let SystemExit (say) escape
                    logger.debug("Event loop interrupted by %r; resuming it", exc)
                    continue
                if self.state is not LoopState.RUNNING:
                    break
                logger.debug("Something stopped the event loop; resuming it")
        finally:
            self._close(loop)
            if self._stopped is launch.stopped:  # not a run that start() gave up on
                self._loop_thread_ended()  # while STOPPING: no new run can start meanwhile
                self.state = LoopState.STOPPED
            launch.stopped.set()

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop_factory()
        if not isinstance(loop, asyncio.AbstractEventLoop):
            raise TypeError(
                f"loop_factory must return an asyncio event loop, got {shown(loop)}; pass the "
                "factory itself, e.g. configure(loop_factory=uvloop.new_event_loop)"
            )
        if loop.is_closed() or loop.is_running():
            # A factory that caches its loop hands out a closed one after a restart; one
            # that returns a loop another thread runs can never be run here.
            raise ValueError(
                f"loop_factory returned a {'closed' if loop.is_closed() else 'running'} "
                "event loop; it must return a new loop on every call, e.g. "
                "asyncio.new_event_loop"
            )
        asyncio.set_event_loop(loop)
        if self._threshold is not None:
            self.monitor = StepMonitor(self._threshold)
            loop.set_task_factory(self.monitor.task_factory)
        loop.set_exception_handler(self._handle_exception)
        self._reported, self._waiting, self._drainer = set(), set(), None
        return loop

    def _handle_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A task abandoned at shutdown has been logged once already; asyncio would add
        # "Task was destroyed but it is pending!" when it is freed.
        task = context.get("task")
        if task is not None and id(task) in self._reported:
            logger.debug("%s: %s", context.get("message"), describe_task(task))
            return
        loop.default_exception_handler(context)

    def _begin_drain(self, timeout: float | None, grace: float | None) -> None:
        # Not through the task factory: the drain's own steps (cancelling and naming
        # thousands of tasks) are not user work blocking the loop.
        if self._drainer is None:
            loop = asyncio.get_running_loop()
            self._drainer = asyncio.Task(self._drain(timeout, grace), loop=loop)

    async def _settle(self, timeout: float | None) -> set[asyncio.Task[Any]]:
        """Wait for the loop's other tasks to finish, up to `timeout`; return the rest.

        Not for each other: a `wait_idle()` and a drain at once (a `shutdown()` during the
        exit hook's wait, say) would each wait for the other to its end.
        """
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        waiting = self._waiting
        assert me is not None
        waiting.add(me)
        deadline = None if timeout is None else loop.time() + timeout
        try:
            await asyncio.sleep(0)  # let submissions already queued become tasks
            while True:
                pending = {task for task in asyncio.all_tasks(loop) if task not in waiting}
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return pending
                if not pending:
                    if not self._take_backlog():
                        return pending
                    continue
                await asyncio.wait(pending, timeout=remaining)
        finally:
            waiting.discard(me)

    def _hurry(self, after: float | None, grace: float | None) -> None:
        """At exit: a drain still waiting for its tasks, with the timeout of a shutdown()
        cut short, waits `after` s more at most, then cancels them, naming `grace`."""
        if after is None or self._drainer is None:
            return
        if after > 0:
            asyncio.get_running_loop().call_later(after, self._hurry, 0.0, grace)
        elif self._drainer in self._waiting:  # still settling: waiting for the tasks
            self._hurried_grace = grace
            self._drainer.cancel()

    async def _drain(self, timeout: float | None, grace: float | None) -> None:
        me = asyncio.current_task()
        waiting = self._waiting
        try:
            try:
                pending = await self._settle(timeout)
            except asyncio.CancelledError:  # hurried, at exit
                pending = {t for t in asyncio.all_tasks() if t is not me and t not in waiting}
                grace = self._hurried_grace
            for waiter in waiting:  # a wait_idle(): the loop it waits on is closing
                waiter.cancel()
            seen: set[asyncio.Task[Any]] = set()
            # Rounds: a submission that raced the drain, or a task that a cancelled one
            # started, is a task the last round did not cancel; left, the closing loop
            # would destroy it pending.
            for _ in range(_DRAIN_ROUNDS):
                if not pending:
                    break
                seen |= pending
                for task in pending:
                    task.cancel()
                _, stubborn = await asyncio.wait(pending, timeout=CANCEL_GRACE)
                self._reported.update(id(task) for task in stubborn)
                name_cancelled(pending, stubborn, grace)
                self._take_backlog()
                known = seen | waiting
                pending = {t for t in asyncio.all_tasks() if t is not me and t not in known}
        finally:
            asyncio.get_running_loop().stop()

    def _close(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            if not loop.is_closed():
                loop.run_until_complete(loop.shutdown_asyncgens())
                try:
                    loop.run_until_complete(loop.shutdown_default_executor())
                except RuntimeError as exc:
                    # At interpreter exit (3.12+) no new thread may start, and
                    # shutdown_default_executor() starts one to join the executor.
                    logger.debug("Default executor not shut down cleanly: %r", exc)
                loop.close()
        except BaseException:
            logger.debug("Error while closing the event loop", exc_info=True)
        finally:
            asyncio.set_event_loop(None)
