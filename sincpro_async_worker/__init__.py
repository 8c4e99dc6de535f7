"""Call asyncio code from synchronous code through one persistent background event loop.

`@sync_bridge` turns an `async def` into a plain function; `run_async_task` is the explicit form.
"""

from .bridges import sync_context, sync_iter
from .core import Settings, WorkerStats, configure, run_async_task, shutdown, stats
from .decorators import fire_and_forget, sync_bridge
from .domain import DispatcherInterface, WorkerInterface
from .exceptions import (
    ConfigurationError,
    DeadlockError,
    LoopBlockingWarning,
    TimeoutTypeError,
    WorkerNotRunningError,
)
from .infrastructure import Dispatcher, EventLoop, Worker

__version__ = "1.0.0"

__all__ = (
    "ConfigurationError",
    "DeadlockError",
    "Dispatcher",
    "DispatcherInterface",
    "EventLoop",
    "LoopBlockingWarning",
    "Settings",
    "TimeoutTypeError",
    "Worker",
    "WorkerInterface",
    "WorkerNotRunningError",
    "WorkerStats",
    "configure",
    "fire_and_forget",
    "run_async_task",
    "shutdown",
    "stats",
    "sync_bridge",
    "sync_context",
    "sync_iter",
)
