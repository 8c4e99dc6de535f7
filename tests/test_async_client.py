"""Decorated methods of a real async client (httpx against a local server) - SPEC 2.2."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer

import httpx
import pytest

from examples.async_client import Inventory, upstream_server

from .conftest import run_example


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    with upstream_server() as running:
        yield running


@pytest.fixture
def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def inv(url: str) -> Iterator[Inventory]:
    with Inventory(url) as inventory:
        yield inventory


def is_open(client: httpx.AsyncClient | None) -> bool:
    return client is not None and not client.is_closed


def test_the_pooled_client_stays_valid_across_calls_and_threads_and_reuses_connections(
    server: ThreadingHTTPServer, inv: Inventory
) -> None:
    first_client = inv._http
    assert inv.item("A")["sku"] == "A"
    skus = [f"SKU-{i}" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(inv.item, skus))
    assert [r["sku"] for r in results] == skus
    assert inv._http is first_client  # one pool for every call and every thread
    # 201 requests over keep-alive connections: about one connection per concurrent caller.
    assert len(server.client_ports) <= 9  # type: ignore[attr-defined]


def test_with_statement_opens_and_closes_the_async_client_on_the_worker_loop(url: str) -> None:
    inventory = Inventory(url)
    with inventory as entered:
        assert entered is inventory
        client = inventory._http
        assert is_open(client)
        assert entered.item("X")["stock"] == 1
    assert not is_open(client)
    assert inventory._http is None


def test_async_generator_method_pages_through_results(inv: Inventory) -> None:
    assert [page["sku"] for page in inv.pages(3)] == ["page-0", "page-1", "page-2"]


def test_fire_and_forget_method_returns_a_future(inv: Inventory) -> None:
    assert inv.touch("T").result(timeout=10) == 200


def test_calls_from_many_threads_all_run_on_the_one_worker_thread(url: str) -> None:
    seen: set[str] = set()

    class Probe(Inventory):
        async def _client(self) -> httpx.AsyncClient:
            seen.add(threading.current_thread().name)
            return await super()._client()

    with Probe(url) as probe, ThreadPoolExecutor(4) as pool:
        list(pool.map(probe.item, ["a", "b", "c", "d"]))
    assert seen == {"sincpro-async-worker"}


def test_the_async_client_example_runs() -> None:
    result = run_example("async_client.py")
    assert result.returncode == 0, result.stderr
    assert "40 items from 8 threads, all correct: True" in result.stdout
    assert "['page-0', 'page-1', 'page-2']" in result.stdout
