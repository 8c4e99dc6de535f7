"""Sync and async Django views calling the same async service.

Async views report `view_loop_was_free`: whether their own event loop (the ASGI
server's) could run anything else while the view waited for the service.
"""

from __future__ import annotations

import asyncio
import threading
import warnings

from django.http import HttpRequest, JsonResponse

from sincpro_async_worker import LoopBlockingWarning, sync_bridge

from .services import Greeting, greeting, lookup_greeting

__all__ = ["hello", "hello_awaited", "hello_blocking", "hello_future", "status"]


def hello(request: HttpRequest) -> JsonResponse:
    """A sync view: the bridge runs the coroutine on the worker loop, this thread waits."""
    answer = greeting(_name(request))
    return JsonResponse({**answer, "view_thread": threading.current_thread().name})


@sync_bridge
async def status(request: HttpRequest) -> JsonResponse:
    """A decorated `async def` as a view: Django sees a sync view and calls it as one.

    The view body then runs on the worker loop, so it must not touch the database or
    anything else Django binds to the request thread: keep such views small.
    """
    await asyncio.sleep(0)
    return JsonResponse({"ok": True, "ran_in_thread": threading.current_thread().name})


async def hello_blocking(request: HttpRequest) -> JsonResponse:
    """Anti-pattern: a blocking bridge call inside an async view.

    It works (the view runs on the ASGI server's loop, not the worker's, so there is no
    deadlock) but it blocks that loop until the answer comes: no other request on the
    server makes progress meanwhile. The library says so with a `LoopBlockingWarning`,
    once; this demonstration records it instead of letting it through. The fix is
    `await greeting.aio(...)`.
    """
    watch = _watch_loop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LoopBlockingWarning)
        answer = greeting(_name(request))
    response = _respond(answer, watch)
    response["X-Loop-Blocking-Warning"] = str(len(caught))
    return response


async def hello_future(request: HttpRequest) -> JsonResponse:
    """Recommended: `.aio` runs it on the worker loop, awaited without blocking this loop.

    Use this whenever the coroutine relies on something bound to the worker loop, such
    as a pooled client created there.
    """
    watch = _watch_loop()
    answer = await greeting.aio(_name(request))
    return _respond(answer, watch)


async def hello_awaited(request: HttpRequest) -> JsonResponse:
    """Also fine: await the undecorated coroutine, which then runs on this view's loop.

    `inspect.unwrap(greeting)` is `lookup_greeting`. Right for self-contained coroutines;
    wrong for ones using resources bound to the worker loop (they belong to another loop).
    """
    watch = _watch_loop()
    answer = await lookup_greeting(_name(request))
    return _respond(answer, watch)


def _name(request: HttpRequest) -> str:
    name: str = request.GET.get("name", "world")
    return name


def _watch_loop() -> threading.Event:
    """An event that a callback on the current loop sets as soon as the loop is free.

    The callback can only run once the view yields to its loop while waiting.
    """
    loop_was_free = threading.Event()
    asyncio.get_running_loop().call_soon(loop_was_free.set)
    return loop_was_free


def _respond(answer: Greeting, loop_was_free: threading.Event) -> JsonResponse:
    # Read the event before anything else can yield to the loop.
    return JsonResponse({**answer, "view_loop_was_free": loop_was_free.is_set()})
