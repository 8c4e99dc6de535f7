"""What a `Dispatcher` needs from a worker it is given; tests inject fakes that satisfy it."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["WorkerInterface"]

T = TypeVar("T")


@runtime_checkable
class WorkerInterface(Protocol):
    """Owns a running event loop and runs coroutines on it for other threads.

    The four methods of the original library's interface; `Worker` satisfies it, and a
    `Dispatcher` builds blocking calls on `run_coroutine()` for any other implementation.
    """

    def start(self) -> None: ...

    def is_running(self) -> bool: ...

    def run_coroutine(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]: ...

    def shutdown(self) -> None: ...
