"""The concrete dispatcher, worker and event loop, and the process-wide runtime.

Imports point one way, each module using only those listed before it: `checks`,
`monitor`, `event_loop`, `future`, `worker`, `runtime`, `dispatcher`.
"""

from .dispatcher import Dispatcher
from .event_loop import EventLoop
from .worker import Worker

__all__ = ["Dispatcher", "EventLoop", "Worker"]
