"""A decorated async HTTP client, used from plain synchronous code.

The client keeps ONE pooled `httpx.AsyncClient`, created on the worker loop the first time
it is needed. Because every call runs on that same loop, the pool stays valid across
calls and across caller threads: connections are reused instead of reopened.

The example starts its own upstream server on 127.0.0.1, so it runs anywhere:

    .venv/bin/python examples/async_client.py
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from sincpro_async_worker import fire_and_forget, sync_bridge


class Inventory:
    """A client for the inventory service: async inside, synchronous to its callers."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._http: httpx.AsyncClient | None = None

    async def _client(self) -> httpx.AsyncClient:
        # Created on the worker loop, so it is bound to the loop every later call uses.
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=10)
        return self._http

    @sync_bridge
    async def __enter__(self) -> Inventory:
        await self._client()
        return self

    @sync_bridge
    async def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @sync_bridge(timeout=10)
    async def item(self, sku: str) -> dict[str, Any]:
        response = await (await self._client()).get("/items", params={"sku": sku})
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    @sync_bridge(timeout=10)
    async def pages(self, count: int) -> AsyncIterator[dict[str, Any]]:
        client = await self._client()
        for page in range(count):
            response = await client.get("/items", params={"sku": f"page-{page}"})
            yield response.json()

    @fire_and_forget(timeout=10)
    async def touch(self, sku: str) -> int:
        response = await (await self._client()).get("/items", params={"sku": sku})
        return response.status_code


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

    def do_GET(self) -> None:
        sku = parse_qs(urlparse(self.path).query).get("sku", ["?"])[0]
        self.server.client_ports.add(self.client_address[1])  # type: ignore[attr-defined]
        body = json.dumps({"sku": sku, "stock": len(sku)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the example's output readable


@contextmanager
def upstream_server() -> Iterator[ThreadingHTTPServer]:
    """A tiny inventory service on a free loopback port; records the client ports it saw."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.client_ports = set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="upstream", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def main() -> None:
    with upstream_server() as server:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        with Inventory(base_url) as inventory:
            print("one item:       ", inventory.item("WIDGET-7"))

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(inventory.item, [f"SKU-{i}" for i in range(40)]))
            print(
                "40 items from 8 threads, all correct:",
                all(r["sku"] == f"SKU-{i}" for i, r in enumerate(results)),
            )

            print("pages:          ", [page["sku"] for page in inventory.pages(3)])

            pending: Future[int] = inventory.touch("GADGET")
            print("fire-and-forget:", pending.result(timeout=10))
        ports = server.client_ports  # type: ignore[attr-defined]
        print(f"connections opened for 45 requests: {len(ports)}")


if __name__ == "__main__":
    main()
