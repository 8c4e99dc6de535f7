"""What the public API needs from a dispatcher."""

from collections.abc import Awaitable
from concurrent.futures import Future
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["DispatcherInterface"]

T = TypeVar("T")


@runtime_checkable
class DispatcherInterface(Protocol):
    """Validates a request and routes it to a worker: `execute` blocks until the outcome is
    in, `execute_async` returns a future at once. Bad input raises before anything runs."""

    def execute(self, task: Awaitable[T], timeout: float | None = None) -> T:
        """Run `task` and return its result, or raise its exception or `TimeoutError`."""
        ...

    def execute_async(self, task: Awaitable[T], timeout: float | None = None) -> Future[T]:
        """Schedule `task`; its future at once, which `timeout` bounds."""
        ...
