"""The library's errors and warning; each subclasses the builtin a caller would catch."""

__all__ = [
    "ConfigurationError",
    "DeadlockError",
    "LoopBlockingWarning",
    "TimeoutTypeError",
    "WorkerNotRunningError",
]


class WorkerNotRunningError(RuntimeError):
    """The worker cannot take or finish the task: it is shutting down, shut down, or gone."""


class DeadlockError(RuntimeError):
    """A blocking call from the worker loop's own thread, refused at once: it would wait
    forever for that loop. Await the coroutine (`await func.aio(...)`) instead."""


class ConfigurationError(RuntimeError):
    """`configure()` was called while the worker is running."""


class TimeoutTypeError(TypeError, ValueError):
    """A `timeout` that is not a number of seconds nor None, such as `"5"` or `True`. It is
    both a `TypeError` and a `ValueError` (the contract's error for any bad timeout)."""


class LoopBlockingWarning(RuntimeWarning):
    """A blocking bridge call from a thread whose own event loop is running: it works, but
    stops that loop until the worker answers. Inside `async def`, await `.aio(...)` instead.
    Issued once per decorated function (once per call site for `run_async_task`)."""
