"""A thread launched to run an event loop, and the waits of other threads for it.

Every wait is on a C-level queue, not a `threading.Event` or `Condition`, whose Python code
a Ctrl-C can cut short: with the lock left held, the loop thread that would set the event
waits on it for ever; with it released twice, the waiter gets a `RuntimeError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from queue import Empty, SimpleQueue

from ..exceptions import WorkerNotRunningError

__all__ = ["INTERRUPT_TRIES", "Latch", "Launch"]

#: Interrupts in a row that library code which must not be cut short (finishing a start,
#: letting go of a job) carries on through; Ctrl-C held down ends it after that many.
INTERRUPT_TRIES = 100
_START_TIMEOUT = 30.0  # how long a start waits for the loop to run
_INTERRUPTED_START_TIMEOUT = 2.0  # ... once an interrupt cut Thread.start() short
_RECHECK = 0.25  # how often a waiter whose wake-up another's interrupt took looks again


class Latch:
    """Set once, by one thread; waited for by any number. Each waiter woken passes the
    token on to the next; one interrupted in between costs the others a recheck."""

    __slots__ = ("_is_set", "_token")

    def __init__(self) -> None:
        self._is_set: bool = False
        self._token: SimpleQueue[None] = SimpleQueue()

    def set(self) -> None:
        self._is_set = True
        self._token.put(None)

    def is_set(self) -> bool:
        return self._is_set

    def wait(self, timeout: float | None = None) -> bool:
        """Whether it is set within `timeout` s (None: however long that takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._is_set:
            left = _RECHECK if deadline is None else min(deadline - time.monotonic(), _RECHECK)
            if left <= 0:
                return False
            try:
                self._token.get(timeout=left)
            except Empty:
                continue
            self._token.put(None)
        return True


class Launch:
    """One thread to run a loop. The thread calls `up()` once its loop runs (or with what
    failed) and sets `stopped` when it ends; written there, read by its starter."""

    __slots__ = ("_up", "failure", "gave_up", "launched", "stopped", "thread")

    def __init__(self, target: Callable[[Launch], object], name: str) -> None:
        self.failure: BaseException | None = None  # what failed, once up() has run
        self.stopped: Latch = Latch()
        self.thread: threading.Thread = threading.Thread(
            target=target, args=(self,), name=name, daemon=True
        )
        self._up: Latch = Latch()  # set by up(), after `failure`
        self.launched: bool = False  # thread.start() has been called
        self.gave_up: bool = False  # come_up() raised: the loop never ran, or failed to

    def come_up(self) -> BaseException | None:
        """Start the thread, unless a call cut short did, and wait for its loop to run.

        `WorkerNotRunningError` if it does not (or the interrupt that cut the wait short);
        otherwise the interrupt that landed meanwhile, for the caller to raise once it has
        recorded the loop as running.
        """
        interrupts: list[BaseException] = []
        limit = _INTERRUPTED_START_TIMEOUT if self.launched else _START_TIMEOUT
        if not self.launched:
            self.launched = True
            try:
                self.thread.start()
            except BaseException as exc:  # an interrupt, or a refusal to start one
                interrupts.append(exc)
                limit = _INTERRUPTED_START_TIMEOUT
        came_up = self._wait_up(limit, interrupts)
        # A Ctrl-C that a lock of Thread.start() turned into a RuntimeError is raised as the
        # Ctrl-C; any other RuntimeError is a refusal to start a thread.
        first = interrupts[0] if interrupts else None
        if isinstance(first, RuntimeError) and isinstance(first.__context__, KeyboardInterrupt):
            first = first.__context__
        failure = self.failure if came_up else None
        self.gave_up = not came_up or failure is not None
        if not came_up:  # perhaps stuck on a lock a Ctrl-C left held in Thread.start()
            if first is not None and not isinstance(first, RuntimeError):
                raise first
            if first is not None:  # "can't create new thread at interpreter shutdown"
                raise WorkerNotRunningError(
                    f"could not start the worker thread ({first}); during interpreter "
                    "exit, make the call before exit handlers run, or not at all"
                ) from first
            raise WorkerNotRunningError(
                f"the event loop did not start within {_START_TIMEOUT:.0f} s; "
                "check that the configured loop_factory returns a new, unstarted loop"
            )
        if failure is not None:
            raise WorkerNotRunningError(
                f"could not create the event loop: the loop_factory raised {failure!r}"
            ) from failure
        return first

    def up(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self._up.set()

    def _wait_up(self, timeout: float, interrupts: list[BaseException]) -> bool:
        """Whether the thread is up (or failed) within `timeout` s; the interrupts that land
        meanwhile are collected in `interrupts`, and the wait goes on."""
        deadline = time.monotonic() + timeout
        for _ in range(INTERRUPT_TRIES):
            try:
                return self._up.wait(max(deadline - time.monotonic(), 0.0))
            except BaseException as exc:
                interrupts.append(exc)
        return self._up.is_set()
