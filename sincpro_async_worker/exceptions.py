"""Errors and warnings raised by the library.

Each one subclasses the builtin a caller would already catch (`RuntimeError`, or for a
bad argument `TypeError`), so code written against the original library keeps working,
and each message says what to do.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DeadlockError",
    "LoopBlockingWarning",
    "TimeoutTypeError",
    "WorkerNotRunningError",
]


class WorkerNotRunningError(RuntimeError):
    """The worker cannot take or finish the task: it is shutting down, was shut down
    before the task started, or its thread is gone."""


class DeadlockError(RuntimeError):
    """A blocking call was made from the worker loop's own thread.

    Blocking there would wait for a loop that can never run again, so it is refused at
    once; await the coroutine (`await func.aio(...)`) instead.
    """


class ConfigurationError(RuntimeError):
    """`configure()` was called while the worker is running."""


class TimeoutTypeError(TypeError, ValueError):
    """A `timeout` that is not a number of seconds (nor None), such as `"5"` or `True`.

    A `TypeError`, as Python has it for an argument of the wrong type, and also a
    `ValueError`, since the library's contract calls every bad timeout one: either
    `except` clause catches it.
    """


class LoopBlockingWarning(RuntimeWarning):
    """A blocking bridge call was made from a thread whose own event loop is running.

    The call works, but it stops that loop (every other task on it waits) until the
    worker answers. Inside `async def`, await the function's `.aio(...)` twin instead.
    Issued once per decorated function (once per call site for `run_async_task`).
    """
