"""A thread launched to run an event loop, and its starter's wait for the loop to be up.

The wait is on a C-level queue, not a `threading.Event`: a Ctrl-C inside `Event.wait()` can
leave the event's lock held, and the thread that would set it waiting on it for ever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from queue import Empty, SimpleQueue

__all__ = ["INTERRUPT_TRIES", "Launch"]

#: Interrupts in a row that library code which must not be cut short (finishing a start,
#: letting go of a job) carries on through; Ctrl-C held down ends it after that many.
INTERRUPT_TRIES = 100


class Launch:
    """One thread to run a loop. The thread calls `up()` once its loop runs (or with what
    failed) and sets `stopped` when it ends; written there, read by its starter."""

    __slots__ = ("_wake", "outcome", "stopped", "thread")

    def __init__(self, target: Callable[[Launch], object], name: str) -> None:
        self.outcome: list[BaseException | None] = []  # None once up, or what failed
        self.stopped: threading.Event = threading.Event()
        self.thread: threading.Thread = threading.Thread(
            target=target, args=(self,), name=name, daemon=True
        )
        self._wake: SimpleQueue[None] = SimpleQueue()

    def up(self, failure: BaseException | None = None) -> None:
        self.outcome.append(failure)
        self._wake.put(None)

    def wait(self, timeout: float, interrupts: list[BaseException]) -> bool:
        """Whether the thread is up (or failed) within `timeout` s; the interrupts that land
        meanwhile are collected in `interrupts`, and the wait goes on."""
        deadline = time.monotonic() + timeout
        for _ in range(INTERRUPT_TRIES):
            if self.outcome:
                return True
            try:
                self._wake.get(timeout=max(deadline - time.monotonic(), 0.0))
            except Empty:
                break
            except BaseException as exc:
                interrupts.append(exc)
        return bool(self.outcome)
