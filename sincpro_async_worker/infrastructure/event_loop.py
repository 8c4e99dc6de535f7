"""One asyncio event loop running forever in one named daemon thread.

This module owns the loop's whole lifecycle: creating it (through a configurable factory),
keeping it alive when a task lets `SystemExit` or `KeyboardInterrupt` escape, draining and
cancelling its tasks at shutdown, and closing it properly (async generators, the default
executor). It knows nothing about how work is submitted; that is the worker's job.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import functools
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from types import CodeType
from typing import Any, TypeVar, final

from ..exceptions import DeadlockError, WorkerNotRunningError

__all__ = ["DEFAULT_SLOW_TASK_THRESHOLD", "EventLoop", "LoopFactory", "bounded", "discard"]

logger = logging.getLogger("sincpro_async_worker")

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: A stall this long is worth a warning in production; asyncio's debug mode uses 0.1 s,
#: which routine work such as loading TLS certificates for a new client comes close to.
DEFAULT_SLOW_TASK_THRESHOLD = 0.25
#: How long start() waits for the thread to report a running loop before giving up.
_START_TIMEOUT = 30.0
#: After the grace period, how long cancelled tasks get to run their cleanup.
_CANCEL_GRACE = 1.0
#: How long shutdown() waits for the thread to end once the loop has been told to stop.
_JOIN_TIMEOUT = 5.0


def describe_task(task: asyncio.Task[Any]) -> str:
    """Name a task the way a user recognises it.

    The worker names its tasks after their coroutine (a task may rename itself with
    `asyncio.current_task().set_name(...)`); other tasks get their coroutine's name too.
    """
    name = task.get_name()
    coro_name = getattr(task.get_coro(), "__qualname__", None)
    if coro_name is None or coro_name == "_Job.run" or coro_name == name:
        return name
    return f"{coro_name} ({name})"


async def bounded(coro: Awaitable[T], timeout: float) -> T:
    """Await `coro` for at most `timeout` s; the builtin `TimeoutError` on every Python."""
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError as exc:
        if sys.version_info >= (3, 11):  # asyncio's is the builtin already
            raise
        raise TimeoutError(f"the task did not finish within {timeout} s") from exc


@final
class EventLoop:
    """An asyncio event loop running in a background daemon thread.

    Thread-safety: every public method may be called from any thread. `start()` and
    `shutdown()` are idempotent, and an `EventLoop` can be started again after a shutdown
    (it gets a fresh loop and thread). `shutdown()` refuses to run on the loop's own thread,
    where joining the thread would deadlock.
    """

    def __init__(
        self,
        loop_factory: LoopFactory | None = None,
        *,
        thread_name: str = "AsyncWorkerThread",
        slow_task_threshold: float | None = DEFAULT_SLOW_TASK_THRESHOLD,
        is_busy: Callable[[], bool] | None = None,
        delivery_code: Collection[CodeType] = (),
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._loop_factory: LoopFactory = loop_factory or asyncio.new_event_loop
        self._on_exit = on_exit  # called on the loop thread as its very last act
        self._thread_name = thread_name
        self._slow_task_threshold = slow_task_threshold
        self._is_busy = is_busy
        # Code that hands a finished task's outcome to its caller. A stall while a task
        # is in there is the handover's (waiting on the caller's thread for the future's
        # lock, under contention), not the task's: its own code has returned already.
        self._delivery_code = frozenset(delivery_code)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._native_id: int | None = None  # the loop thread's id for the OS (/proc)
        self._stopping = threading.Event()
        #: The watchdog thread and the event it waits on for the loop's answer; shutdown()
        #: sets that event too, so the watchdog notices the stop without waiting it out.
        self._watchdog: _Watchdog | None = None
        #: The stall the watchdog is following right now, if any.
        self.stall: _Stall | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread and wait until its loop is running.

        Raises `WorkerNotRunningError` (chained to the cause) if the loop factory fails
        or the loop does not come up within 30 s.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop_watchdog()  # left over from a loop that ended by itself
            self._stopping = threading.Event()
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(
                target=self._run, args=(ready, failure), name=self._thread_name, daemon=True
            )
            if sys.is_finalizing():
                # 3.10/3.11 would start a thread that never runs, and wait for it for ever.
                raise WorkerNotRunningError(
                    "the interpreter is shutting down; no worker thread can start now "
                    "(do this work before the program ends)"
                )
            try:
                thread.start()
            except RuntimeError as exc:  # e.g. "can't create new thread at interpreter shutdown"
                raise WorkerNotRunningError(
                    f"could not start the worker thread ({exc}); during interpreter exit, "
                    "make the call before exit handlers run, or not at all"
                ) from exc
            if not ready.wait(_START_TIMEOUT):
                self._stopping.set()
                raise WorkerNotRunningError(
                    f"the event loop did not start within {_START_TIMEOUT:.0f} s; "
                    "check that the configured loop_factory returns a new, unstarted loop"
                )
            if failure:
                raise WorkerNotRunningError(
                    f"could not create the event loop: the loop_factory raised {failure[0]!r}"
                ) from failure[0]
            self._thread = thread
            if self._slow_task_threshold is not None:
                self._start_watchdog(self._slow_task_threshold)

    def is_running(self) -> bool:
        """Whether the loop runs and has not been told to stop for good.

        Cheap enough for every call: the thread sets `_stopping` on its way out, however
        it leaves, so there is no need to ask the thread whether it is alive.
        """
        return self._thread is not None and not self._stopping.is_set()

    def thread_alive(self) -> bool:
        """Whether the loop's thread is still alive, stopping or not."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Drain, cancel, close and join, in that order.

        Tasks on the loop get up to `timeout` seconds (`None`: no limit) to finish; the
        rest are cancelled, each logged at WARNING by name, and get one more second to run
        their cleanup. Then async generators are finalised, the default executor is shut
        down, the loop is closed and the thread joined. Idempotent.
        """
        self.refuse_loop_thread("shutdown()")
        with self._lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            if thread.is_alive() and not loop.is_closed():
                drained = asyncio.run_coroutine_threadsafe(self._drain(timeout), loop)
                limit = None if timeout is None else timeout + 2 * _CANCEL_GRACE
                if limit is not None:
                    limit = min(limit, threading.TIMEOUT_MAX)  # a lock wait overflows beyond
                try:
                    drained.result(limit)
                except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                    logger.warning(
                        "The event loop did not drain within %s s; stopping it anyway "
                        "(a task is probably blocking it with synchronous work)",
                        limit,
                    )
                self._stopping.set()
                try:
                    loop.call_soon_threadsafe(loop.stop)
                except RuntimeError:  # the loop closed itself meanwhile
                    pass
                thread.join(_JOIN_TIMEOUT)
                if thread.is_alive():
                    logger.warning(
                        "The worker thread did not stop within %.0f s; leaving it behind "
                        "(it is a daemon thread and will not keep the process alive)",
                        _JOIN_TIMEOUT,
                    )
            self._stopping.set()
            self._thread = None
            self._loop = None
            self._stop_watchdog()

    def _start_watchdog(self, threshold: float) -> None:
        """Start the slow-task watchdog on a thread of its own.

        The library promises one background thread per process, the loop's: code that
        counts threads (`threading.active_count()`) or lists them must see just that one.
        The watchdog is a diagnostic aid rather than a worker, so it runs on a low-level
        `_thread` thread, which the `threading` module does not register (debuggers and
        `top -H` still show it). It never calls into `threading` for its own identity;
        in particular it logs nothing itself, and leaves its reports to the loop thread.
        """
        watchdog = _Watchdog()
        try:
            watchdog.ident = _thread.start_new_thread(self._watch, (threshold, watchdog))
        except RuntimeError:  # at interpreter exit: the loop runs, just unwatched
            logger.debug("Could not start the slow-task watchdog", exc_info=True)
            return
        self._watchdog = watchdog

    def _stop_watchdog(self) -> None:
        """Wake the watchdog (it sees `_stopping` set) and wait for its thread to end.

        Without the wait, a shutdown() would return with the watchdog still running for up
        to a threshold, touching a loop that is closed or about to be.
        """
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        watchdog.beat.set()
        if threading.get_ident() != watchdog.ident:
            watchdog.ended.wait(_JOIN_TIMEOUT)

    def refuse_loop_thread(self, what: str) -> None:
        """Raise `DeadlockError` if called on the loop's thread, which `what` would block."""
        if threading.get_ident() == self._thread_id and self.thread_alive():
            raise DeadlockError(
                f"{what} was called from the worker loop's own thread, where waiting for "
                "the loop would deadlock; call it from ordinary sync code (or, inside a "
                "coroutine, await the work directly)"
            )

    # -- used by the worker ------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; `WorkerNotRunningError` if `start()` has not succeeded."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise WorkerNotRunningError("the event loop is not running; call start() first")
        return loop

    @property
    def thread_id(self) -> int | None:
        """Identifier of the loop's thread, or None before the first start."""
        return self._thread_id

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started first if need be (the original `EventLoop` API).

        On the loop's own thread it never starts anything: there the loop is running,
        or being shut down (starting would wait for the shutdown, which waits for us).
        """
        if not self.is_running():
            if threading.get_ident() == self._thread_id and self.thread_alive():
                raise WorkerNotRunningError(
                    "the event loop is shutting down and takes no new work; submit "
                    "from outside the loop once shutdown() has returned"
                )
            self.start()
        return self.loop

    def run_coroutine(
        self, coro: Awaitable[T], timeout: float | None = None
    ) -> concurrent.futures.Future[T]:
        """Schedule `coro` (any awaitable) with plain `asyncio.run_coroutine_threadsafe`.

        Kept for code written against the original `EventLoop` class, which started its
        loop on first use, as this does; the worker uses its own, faster submission path.
        `timeout` bounds the task itself.
        """
        from .dispatcher import as_coroutine  # the layer above: imported when used

        task = as_coroutine(coro, "EventLoop.run_coroutine")
        try:
            loop = self.get_loop()
        except BaseException:
            discard(task)
            raise
        if timeout is not None:
            task = bounded(task, timeout)
        return asyncio.run_coroutine_threadsafe(task, loop)

    # -- the loop thread -----------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        try:
            loop = self._loop_factory()
            if not isinstance(loop, asyncio.AbstractEventLoop):
                raise TypeError(
                    f"loop_factory must return an asyncio event loop, got {loop!r}; "
                    "pass the factory itself, e.g. configure(loop_factory=uvloop.new_event_loop)"
                )
            if loop.is_closed() or loop.is_running():
                # A factory that caches its loop hands out a closed one after a restart;
                # one that returns a loop another thread runs can never be run here.
                raise ValueError(
                    f"loop_factory returned a {'closed' if loop.is_closed() else 'running'} "
                    "event loop; it must return a new loop on every call, e.g. "
                    "asyncio.new_event_loop"
                )
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
        except BaseException as exc:  # reported to start() in the calling thread
            failure.append(exc)
            ready.set()
            return
        self._loop = loop
        self._thread_id = threading.get_ident()
        self._native_id = threading.get_native_id()
        stopping = self._stopping
        try:
            while not stopping.is_set() and not loop.is_closed():
                try:
                    loop.run_forever()
                except BaseException as exc:
                    # A callback let SystemExit or KeyboardInterrupt escape; the loop must
                    # live on. (A closed loop cannot, and ends the while above instead of
                    # spinning here.)
                    logger.debug("Event loop interrupted by %r; resuming it", exc)
        finally:
            self._close(loop, stopping)
            # A thread that shutdown() had to leave behind must not act for its successor.
            if self._on_exit is not None and self._thread in (None, threading.current_thread()):
                self._on_exit()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for every task on the loop to finish; True if they did.

        Nothing is cancelled and the loop keeps running. Refused on the loop's thread.
        """
        self.refuse_loop_thread("wait_idle()")
        loop = self._loop
        if loop is None or not self.thread_alive() or loop.is_closed():
            return True
        try:
            idle = asyncio.run_coroutine_threadsafe(self._settle(timeout), loop)
            return not idle.result(min(timeout + _CANCEL_GRACE, threading.TIMEOUT_MAX))
        except (RuntimeError, concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            return False

    async def _settle(self, timeout: float | None) -> set[asyncio.Task[Any]]:
        """Wait for the loop's other tasks to finish, up to `timeout`; return the rest."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        deadline = None if timeout is None else loop.time() + timeout
        await asyncio.sleep(0)  # let submissions already queued become tasks
        while True:
            pending = {task for task in asyncio.all_tasks(loop) if task is not me}
            remaining = None if deadline is None else deadline - loop.time()
            if not pending or (remaining is not None and remaining <= 0):
                return pending
            await asyncio.wait(pending, timeout=remaining)

    async def _drain(self, timeout: float | None) -> None:
        pending = await self._settle(timeout)
        for task in pending:
            logger.warning(
                "Cancelled %s at shutdown: it did not finish within the %s s grace period",
                describe_task(task),
                timeout,
            )
            task.cancel()
        if pending:
            _, stubborn = await asyncio.wait(pending, timeout=_CANCEL_GRACE)
            for task in stubborn:
                logger.warning("%s ignored its cancellation at shutdown", describe_task(task))

    def _close(self, loop: asyncio.AbstractEventLoop, stopping: threading.Event) -> None:
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
            stopping.set()  # this thread's event: after a restart, not the new thread's

    # -- the watchdog thread -------------------------------------------------------------

    def _watch(self, threshold: float, watchdog: _Watchdog) -> None:
        """Report tasks that block the loop with synchronous work.

        Every half threshold, while the worker has work, it posts a no-op to the loop and
        waits for it. A loop that does not run it within `threshold` has stalled. The
        stall is blamed on a task only when the same task was current at every sample
        and this thread itself woke on time throughout: a process short of CPU (or of
        the GIL) stalls the loop too, and then no task is at fault. Where the platform
        has per-thread CPU clocks, a stall during which the loop thread used almost no
        CPU while other threads of the process used plenty is starvation, not blocking,
        and time spent in garbage collection is not counted against the task.

        The report is made once, by whichever comes first: the culprit's own step as it
        ends (so a blocking caller sees it the moment its call returns), or the loop
        thread, which this thread asks to as soon as the loop answers again.
        """
        period = max(threshold / 2, 0.005)
        _track_gc(True)
        try:
            self._watch_until_stopped(threshold, period, watchdog.beat)
        except Exception as exc:  # a bug of ours must not print from a thread nobody knows
            self._post_to_loop(functools.partial(logger.debug, "The watchdog failed", exc_info=exc))
        finally:
            _track_gc(False)
            watchdog.ended.set()

    def _post_to_loop(self, callback: Callable[[], object]) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # the loop has closed meanwhile
                pass

    def _watch_until_stopped(self, threshold: float, period: float, beat: threading.Event) -> None:
        stopping, loop = self._stopping, self._loop
        assert loop is not None
        while not stopping.wait(period):
            if self._is_busy is not None and not self._is_busy():
                continue
            beat.clear()
            if stopping.is_set():  # shutdown() set `beat` just before the clear()
                return
            posted = time.monotonic()
            try:
                loop.call_soon_threadsafe(beat.set)
            except RuntimeError:  # loop closed
                return
            if beat.wait(threshold):
                continue
            punctual = time.monotonic() - posted < threshold + period
            # Both read /proc, waiting for the GIL a few times: not lateness of ours.
            probe = _LoopThreadProbe(self._thread_id, self._native_id)
            stall = _Stall(self._blamable_task(loop), posted, threshold, probe)
            stall.probe.sample()
            stall.punctual = punctual
            self.stall = stall
            last = time.monotonic()
            while not beat.wait(period / 2):
                if stopping.is_set():
                    return
                stall.punctual = stall.punctual and time.monotonic() - last < period
                if self._blamable_task(loop) is not stall.culprit:
                    stall.culprit = None
                stall.probe.sample()
                last = time.monotonic()
            self.stall = None
            if stopping.is_set():
                return  # woken by shutdown(), not by the loop: the stall may not be over
            self._post_to_loop(functools.partial(_report, stall))

    def _blamable_task(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
        """The task running its own code on the loop right now, if any."""
        task = _running_task(loop)
        if task is None or not self._delivery_code:
            return task
        frame = sys._current_frames().get(self._thread_id or 0)
        while frame is not None:
            if frame.f_code in self._delivery_code:
                return None
            frame = frame.f_back
        return task

    def report_stall_of(self, task: asyncio.Task[Any] | None) -> None:
        """Called by a task's own step as it ends: report its stall before it returns.

        Its caller then sees the report as soon as the call returns, not some moments
        later when the watchdog thread gets round to it.
        """
        stall = self.stall
        if stall is not None and stall.culprit is task and task is not None:
            _report(stall)


def discard(coro: object) -> None:
    """Close a coroutine that will never run, so Python does not warn it was never awaited."""
    close = getattr(coro, "close", None)
    if callable(close):
        close()


def _running_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
    """The task whose step the loop is executing, if any.

    A task that is already done cannot be what blocks the loop, even while asyncio still
    reports it as current (its step is wrapping up, or a garbage collection runs there).
    """
    task = asyncio.current_task(loop)
    return None if task is None or task.done() else task


def _report(stall: _Stall) -> None:
    """Report `stall`. A diagnostic must never fail the task whose step reports it (its
    caller would lose the outcome) nor the loop: a failure is logged at DEBUG only."""
    try:
        stall.report()
    except Exception:
        logger.debug("Could not report a stall of the event loop", exc_info=True)


class _Watchdog:
    """The watchdog thread's handles: its wake-up event, its end, its identifier."""

    __slots__ = ("beat", "ended", "ident")

    def __init__(self) -> None:
        #: Set by the loop when it runs the watchdog's no-op; by shutdown(), to wake it.
        self.beat = threading.Event()
        self.ended = threading.Event()
        self.ident = 0


class _Stall:
    """One stall of the loop, from its detection until it is reported (exactly once)."""

    __slots__ = ("_gc_at_start", "_reported", "culprit", "posted", "probe", "punctual", "threshold")

    def __init__(
        self,
        culprit: asyncio.Task[Any] | None,
        posted: float,
        threshold: float,
        probe: _LoopThreadProbe,
    ) -> None:
        self.culprit = culprit
        self.posted = posted
        self.threshold = threshold
        self.punctual = True
        self.probe = probe
        self._gc_at_start = _gc_seconds()
        self._reported = threading.Lock()

    def report(self) -> None:
        if not self._reported.acquire(blocking=False):
            return  # the other side (watchdog or the task's own step) got here first
        stalled = time.monotonic() - self.posted
        # A garbage collection that ran inside the task's step is no fault of the task.
        blocked = stalled - (_gc_seconds() - self._gc_at_start)
        culprit = self.culprit
        if (
            culprit is not None
            and self.punctual
            and blocked >= self.threshold
            and self.probe.seconds_of_own_work(stalled) >= self.threshold / 2
        ):
            logger.warning(
                "%s blocked the event loop for %.3f s with synchronous work; every other "
                "task and caller waited meanwhile (move the blocking call into "
                "loop.run_in_executor() or use its async equivalent)",
                describe_task(culprit),
                blocked,
            )
        else:
            logger.debug("The event loop was unresponsive for %.3f s", stalled)


class _LoopThreadProbe:
    """How much of a stall the loop thread spent on the running task's own work.

    A loop stalls because its task computes (the loop thread is on a CPU) or sits in a
    blocking call (asleep in a system call: `time.sleep`, a socket, a file), both the
    task's doing; or because the thread cannot run: no CPU free (other processes), or
    another thread holds the GIL. Waiting for the GIL is a futex wait, as is waiting on
    a lock the task took, so a futex wait counts as the task's only for as long as no
    other thread of the process ran or waited to run, which is to say held the GIL.

    The CPU clocks are read at the start and the end; the thread's state comes from
    samples of /proc (Linux), taken by the watchdog while the stall lasts. Where there
    is no /proc, a loop thread that had almost no CPU while the others had plenty is
    taken to have been starved, and otherwise the whole stall counts.
    """

    __slots__ = (
        "_blocking",
        "_clock",
        "_futex",
        "_loop_cpu",
        "_native_id",
        "_process_cpu",
        "_samples",
        "_waits",
    )

    def __init__(self, thread_id: int | None, native_id: int | None) -> None:
        self._clock: int | None = None
        self._native_id: int | None = None
        getcpuclockid = getattr(time, "pthread_getcpuclockid", None)
        if getcpuclockid is not None and thread_id is not None:
            try:
                self._clock = getcpuclockid(thread_id)
            except OSError:  # the thread is gone, or the platform refuses
                self._clock = None
            if sys.platform.startswith("linux"):
                self._native_id = native_id
        self._process_cpu = time.process_time()
        self._loop_cpu = self._clock_reading()
        self._waits = self._others_waiting()
        self._samples = self._blocking = self._futex = 0

    def sample(self) -> None:
        """Note what the loop thread is doing right now (called by the watchdog)."""
        if self._native_id is None:
            return
        task = f"/proc/self/task/{self._native_id}/"
        try:
            state = _read(task + "stat").rsplit(b")", 1)[1].split()[0]
            waiting_in = _read(task + "wchan") if state in (b"S", b"D") else None
        except (OSError, IndexError):
            self._native_id = None
            return
        if waiting_in is not None:
            if waiting_in in (b"", b"0"):  # the kernel does not say where: no samples
                self._native_id = None
                return
            if b"futex" in waiting_in:
                self._futex += 1
            else:
                self._blocking += 1
        self._samples += 1

    def seconds_of_own_work(self, stalled: float) -> float:
        """Of `stalled` seconds, those the task itself kept the loop thread busy."""
        if self._clock is None:
            return stalled  # nothing to tell the cases apart: the task takes the blame
        loop_cpu = self._clock_reading() - self._loop_cpu
        others_cpu = time.process_time() - self._process_cpu - loop_cpu
        if self._native_id is None or not self._samples:
            starved = loop_cpu < 0.1 * stalled and others_cpu > 0.5 * stalled
            return loop_cpu if starved else stalled
        others_holding_the_gil = others_cpu + max(0.0, self._others_waiting() - self._waits)
        return (
            loop_cpu
            + stalled * self._blocking / self._samples
            + max(0.0, stalled * self._futex / self._samples - others_holding_the_gil)
        )

    def _clock_reading(self) -> float:
        if self._clock is None:
            return 0.0
        try:
            return time.clock_gettime(self._clock)
        except OSError:  # the thread has ended
            return 0.0

    def _others_waiting(self) -> float:
        """Seconds the process's other threads have spent waiting for a CPU (Linux)."""
        if self._native_id is None:
            return 0.0
        total = 0
        try:
            for task in os.listdir("/proc/self/task"):
                if task != str(self._native_id):
                    total += int(_read(f"/proc/self/task/{task}/schedstat").split()[1])
        except (OSError, IndexError, ValueError):
            return 0.0
        return total / 1e9


def _read(path: str) -> bytes:
    """A small /proc file in as few system calls (each a chance to lose the GIL) as can be."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


# Time spent in cyclic garbage collection, process-wide, while any watchdog runs. A gen-2
# collection over a hundred thousand live tasks can take a quarter of a second.
_gc_lock = threading.Lock()
_gc_watchers = 0
_gc_total = 0.0
_gc_started = 0.0


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_total, _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    else:
        _gc_total += time.perf_counter() - _gc_started


def _gc_seconds() -> float:
    return _gc_total


def _track_gc(on: bool) -> None:
    global _gc_watchers
    with _gc_lock:
        _gc_watchers += 1 if on else -1
        if on and _gc_watchers == 1:
            gc.callbacks.append(_on_gc)
        elif not on and _gc_watchers == 0:
            gc.callbacks.remove(_on_gc)
