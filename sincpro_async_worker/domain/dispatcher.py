"""What the public API needs from a dispatcher."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["DispatcherInterface"]

T = TypeVar("T")


@runtime_checkable
class DispatcherInterface(Protocol):
    """Validates a request and routes it to a worker.

    `execute` blocks until the task's outcome is in; `execute_async` returns a future at
    once. Both raise `TypeError`/`ValueError` for bad input before anything is scheduled.
    """

    def execute(self, task: Awaitable[T], timeout: float | None = None) -> T: ...

    def execute_async(
        self, task: Awaitable[T], timeout: float | None = None
    ) -> concurrent.futures.Future[T]: ...
