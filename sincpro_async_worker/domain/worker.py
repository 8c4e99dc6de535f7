"""What a dispatcher needs from a worker; tests inject fakes that satisfy it."""

from __future__ import annotations

import concurrent.futures
import contextvars
from collections.abc import Awaitable
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["BlockingWorkerInterface", "WorkerInterface"]

T = TypeVar("T")


@runtime_checkable
class WorkerInterface(Protocol):
    """Owns a running event loop and runs coroutines on it for other threads.

    The four methods of the original library's interface; a worker offering only these
    can still be given to a `Dispatcher`, which builds blocking calls on `run_coroutine`.
    """

    def start(self) -> None: ...

    def is_running(self) -> bool: ...

    def run_coroutine(self, coro: Awaitable[T]) -> concurrent.futures.Future[T]: ...

    def shutdown(self) -> None: ...


@runtime_checkable
class BlockingWorkerInterface(WorkerInterface, Protocol):
    """A worker with the library's own blocking path, timeouts and loop-thread guard."""

    def owns_current_thread(self) -> bool: ...

    def run_coroutine(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> concurrent.futures.Future[T]: ...

    def run_blocking(
        self,
        coro: Awaitable[T],
        timeout: float | None = None,
        *,
        context: contextvars.Context | None = None,
    ) -> T: ...

    def shutdown(self, timeout: float | None = 5.0) -> None: ...
