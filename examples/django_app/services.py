"""The async code the views need: a stand-in for an async SDK or database driver.

`lookup_greeting` is the plain coroutine function. The decorated variants are how sync
code calls it; async code awaits `lookup_greeting` itself, or the future.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TypedDict

from sincpro_async_worker import fire_and_forget, sync_bridge

__all__ = ["Greeting", "greeting", "greeting_future", "lookup_greeting"]


class Greeting(TypedDict):
    greeting: str
    ran_in_thread: str  # which thread's event loop ran the coroutine


async def lookup_greeting(name: str) -> Greeting:
    """Pretend to fetch a greeting over the network."""
    await asyncio.sleep(0.02)
    return {"greeting": f"Hello, {name}!", "ran_in_thread": threading.current_thread().name}


# For sync code: blocks the calling thread, returns a Greeting.
greeting = sync_bridge(lookup_greeting)
# For async code on another loop: returns a concurrent.futures.Future at once, which
# `await asyncio.wrap_future(...)` waits on without blocking that loop.
greeting_future = fire_and_forget(lookup_greeting)
