"""The contracts the original library exposed; the infrastructure package implements them."""

from .dispatcher import DispatcherInterface
from .worker import WorkerInterface

__all__ = ["DispatcherInterface", "WorkerInterface"]
