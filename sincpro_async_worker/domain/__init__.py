"""The contracts the core depends on; the infrastructure package implements them."""

from .dispatcher import DispatcherInterface
from .worker import BlockingWorkerInterface, WorkerInterface

__all__ = ["BlockingWorkerInterface", "DispatcherInterface", "WorkerInterface"]
