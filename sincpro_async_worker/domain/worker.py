"""What a `Dispatcher` needs from a worker it is given; tests inject fakes that satisfy it."""

from collections.abc import Awaitable
from concurrent.futures import Future
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["WorkerInterface"]

T = TypeVar("T")


@runtime_checkable
class WorkerInterface(Protocol):
    """Owns a running event loop and runs coroutines on it for other threads: the original
    library's four methods. `Worker` satisfies it; a `Dispatcher` builds on `run_coroutine()`."""

    def start(self) -> None:
        """Start the loop, if it is not running; return once it runs."""
        ...

    def is_running(self) -> bool:
        """Whether the loop runs and takes work."""
        ...

    def run_coroutine(self, coro: Awaitable[T]) -> Future[T]:
        """Schedule `coro` on the loop from any thread; its future at once."""
        ...

    def shutdown(self) -> None:
        """Stop the loop and its thread; idempotent."""
        ...
