"""Helpers shared by the reliability suite: waiting on conditions and counting threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sincpro_async_worker import stats

__all__ = ["LIBRARY_THREADS", "extra_threads", "wait_until", "wait_until_idle"]

#: Threads the library itself may own while a worker runs: the loop thread and the default
#: executor's threads (``asyncio_0``, ...).
LIBRARY_THREADS = ("sincpro-async-worker", "asyncio_")


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes.

    Only for states that no event announces (counters the loop updates after the
    caller's future is already resolved); everything else waits on an Event.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def wait_until_idle(timeout: float = 20.0) -> bool:
    """Wait until the worker reports no task running (cancellations are applied async)."""
    return wait_until(lambda: stats().running == 0, timeout)


def extra_threads(before: set[threading.Thread]) -> list[str]:
    """Names of live threads that were not in `before` and are not the library's own."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if t not in before and not t.name.startswith(LIBRARY_THREADS)
    )
