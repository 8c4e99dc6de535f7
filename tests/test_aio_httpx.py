"""One pooled `httpx.AsyncClient` on the worker loop, for sync callers and `.aio` callers.

The client is created lazily, on the worker loop, by the decorated methods of a small SDK
class. Sync calls, `.aio` calls from `asyncio.run(...)` in the main thread and `.aio` calls
from another thread's own running loop all land on that loop, so they share one client and
its keep-alive connection (issue 10, "Must show" 1).
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest

from examples.async_client import upstream_server
from sincpro_async_worker import configure, sync_bridge

T = TypeVar("T")

WORKER_THREAD = "sincpro-async-worker"


@pytest.fixture(autouse=True)
def tolerant_detector() -> None:
    """A blocked-loop threshold for a shared, loaded machine, not for production.

    A new `httpx.AsyncClient` loads TLS certificates on the loop: about 30 ms of CPU, which
    a busy machine can stretch past the default 0.25 s. Only a real stall is reported here.
    """
    configure(slow_task_threshold=2.0)


class Catalog:
    """An SDK over one lazily created `httpx.AsyncClient`; it records what its calls saw."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._http: httpx.AsyncClient | None = None
        self.clients_created = 0
        self.threads: set[str] = set()
        self.started = threading.Event()
        self.finished = threading.Event()
        self.cancelled = threading.Event()

    async def _client(self) -> httpx.AsyncClient:
        self.threads.add(threading.current_thread().name)
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=10)
            self.clients_created += 1
        return self._http

    @sync_bridge(timeout=10)
    async def item(self, sku: str) -> tuple[str, int]:
        client = await self._client()
        response = await client.get("/items", params={"sku": sku})
        response.raise_for_status()
        sku_seen: str = response.json()["sku"]
        return sku_seen, id(client)

    @sync_bridge(timeout=10)
    async def wait_forever(self) -> None:
        """Holds a request's worth of work open until cancelled; `finally` reports it."""
        await self._client()
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.finished.set()

    @sync_bridge(timeout=10)
    async def close(self) -> httpx.AsyncClient | None:
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()
        return client


@contextmanager
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """Another thread running its own event loop, as an async framework's thread does."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="other-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        assert not thread.is_alive()
        loop.close()


def on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on `loop` (another thread's) and wait for it, bounded."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(10)


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    with upstream_server() as running:
        yield running


@pytest.fixture
def catalog(server: ThreadingHTTPServer) -> Iterator[Catalog]:
    catalog = Catalog(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield catalog
    finally:
        catalog.close()


def test_sync_and_aio_calls_from_two_loops_share_one_client_and_one_connection(
    server: ThreadingHTTPServer, catalog: Catalog
) -> None:
    client_ids: set[int] = set()
    with warnings.catch_warnings(record=True) as caught, loop_in_thread() as other:
        warnings.simplefilter("always")
        for i in range(20):
            sku, client_id = catalog.item(f"sync-{i}")
            assert sku == f"sync-{i}"
            client_ids.add(client_id)

            sku, client_id = asyncio.run(catalog.item.aio(f"main-{i}"))
            assert sku == f"main-{i}"
            client_ids.add(client_id)

            sku, client_id = on(other, catalog.item.aio(f"other-{i}"))
            assert sku == f"other-{i}"
            client_ids.add(client_id)
        closed = catalog.close()
    assert [str(w.message) for w in caught] == []
    assert catalog.clients_created == 1
    assert len(client_ids) == 1
    assert closed is not None
    assert closed.is_closed
    # 60 sequential requests over keep-alive: the pool never needed a second connection.
    assert len(server.client_ports) == 1  # type: ignore[attr-defined]
    # Every coroutine ran on the worker loop, whichever world called it.
    assert catalog.threads == {WORKER_THREAD}


def test_the_aio_coroutine_runs_on_the_worker_thread_not_the_callers_loop(
    catalog: Catalog,
) -> None:
    async def from_main_loop() -> tuple[str, str]:
        caller = threading.current_thread().name
        await catalog.item.aio("where")
        return caller, next(iter(catalog.threads))

    caller, callee = asyncio.run(from_main_loop())
    assert caller == threading.main_thread().name
    assert callee == WORKER_THREAD
    assert catalog.threads == {WORKER_THREAD}


def test_cancelling_the_awaiting_task_cancels_the_worker_task(catalog: Catalog) -> None:
    async def cancel_while_waiting() -> None:
        task = asyncio.create_task(catalog.wait_forever.aio())
        assert await asyncio.to_thread(catalog.started.wait, 10), "the worker task never ran"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_waiting())
    assert catalog.finished.wait(10), "the worker task's finally never ran"
    assert catalog.cancelled.is_set()
    # The client it used is still the one pooled client, and still usable.
    assert catalog.item("after")[0] == "after"
    assert catalog.clients_created == 1


def test_cancelling_from_another_threads_loop_cancels_the_worker_task(catalog: Catalog) -> None:
    with loop_in_thread() as other:
        future = asyncio.run_coroutine_threadsafe(catalog.wait_forever.aio(), other)
        assert catalog.started.wait(10), "the worker task never ran"
        future.cancel()  # cancels the task on `other`, which cancels the worker's
        assert catalog.finished.wait(10), "the worker task's finally never ran"
    assert catalog.cancelled.is_set()
