"""The concrete dispatcher, worker and event loop, and the process-wide runtime."""

from .dispatcher import Dispatcher
from .event_loop import EventLoop
from .worker import Worker

__all__ = ["Dispatcher", "EventLoop", "Worker"]
