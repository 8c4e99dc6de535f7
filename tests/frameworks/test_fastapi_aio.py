"""FastAPI `async def` endpoints calling a bridged function, served by a real uvicorn.

The anti-pattern: a blocking bridge call inside `async def` holds uvicorn's loop for the
whole call, so concurrent requests queue up behind each other; the library says so once,
with a `LoopBlockingWarning` naming the function and its `.aio` twin. With
`await lookup.aio(...)` the same 8 concurrent requests take about as long as one
(issue 10, "Must show" 3).

The server runs in-process, in a thread, so the warning can be recorded where it is
issued.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sincpro_async_worker import LoopBlockingWarning, configure, sync_bridge

from .support import listening_socket, wait_for

CALL_SECONDS = 0.5
REQUESTS = 8


@sync_bridge(timeout=10)
async def lookup(n: int) -> int:
    """A slow upstream call, made on the worker loop."""
    await asyncio.sleep(CALL_SECONDS)
    return n * n


app = FastAPI()


@app.get("/blocking/{n}")
async def blocking_endpoint(n: int) -> dict[str, int]:
    return {"square": lookup(n)}  # the anti-pattern: blocks uvicorn's loop


@app.get("/aio/{n}")
async def aio_endpoint(n: int) -> dict[str, int]:
    return {"square": await lookup.aio(n)}


@sync_bridge(timeout=10)
async def user(name: str, greeting: str = "hello") -> dict[str, str]:
    """One user, as a route: FastAPI reads the parameters off the `.aio` twin itself."""
    await asyncio.sleep(0)
    return {"name": name, "greeting": greeting}


app.get("/users/{name}")(user.aio)


@pytest.fixture(autouse=True)
def tolerant_detector() -> None:
    """The worker's blocked-loop threshold, raised for a loaded shared machine."""
    configure(slow_task_threshold=2.0)


@contextmanager
def serving() -> Iterator[str]:
    """uvicorn serving `app` on a free loopback port, in a thread; stopped on the way out."""
    sock = listening_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 15, "uvicorn to start")
        assert thread.is_alive(), "uvicorn stopped while starting"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


async def _concurrently(url: str) -> tuple[list[int], float]:
    """REQUESTS concurrent GETs of `url/<i>`: the squares answered, and the seconds taken."""
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(f"{url}/{i}") for i in range(REQUESTS)))
        elapsed = time.perf_counter() - started
    for response in responses:
        response.raise_for_status()
    return [response.json()["square"] for response in responses], elapsed


def test_async_endpoints_with_aio_run_concurrently_and_blocking_ones_warn_once() -> None:
    expected = [i * i for i in range(REQUESTS)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with serving() as base:
            squares, aio_seconds = asyncio.run(_concurrently(f"{base}/aio"))
            aio_warnings = list(caught)
            blocking_squares, blocking_seconds = asyncio.run(_concurrently(f"{base}/blocking"))

    assert squares == expected
    assert blocking_squares == expected
    assert aio_warnings == []
    # About as long as one call: the 8 calls overlap on the worker loop.
    assert aio_seconds < 2.5, f"{REQUESTS} concurrent .aio requests took {aio_seconds:.2f} s"
    # Each blocking call holds uvicorn's loop, so the requests could only run one by one.
    assert blocking_seconds >= REQUESTS * CALL_SECONDS * 0.95

    messages = [str(w.message) for w in caught]
    blocking = [w for w in caught if issubclass(w.category, LoopBlockingWarning)]
    assert len(blocking) == 1, messages  # once per decorated function, not per request
    assert messages == [str(blocking[0].message)]  # and nothing else was warned
    message = str(blocking[0].message)
    assert "lookup()" in message
    assert "await lookup.aio(...)" in message
    # Reported where the endpoint made the call, not inside the library.
    assert blocking[0].filename == __file__


def test_an_aio_twin_registered_as_a_route_gets_its_functions_parameters() -> None:
    # Bug: `.aio` was a functools.partial with the signature (*args, **kwargs), so FastAPI
    # asked for query parameters named `args` and `kwargs` and answered 422.
    with serving() as base:
        response = httpx.get(f"{base}/users/ada", params={"greeting": "hi"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "ada", "greeting": "hi"}
