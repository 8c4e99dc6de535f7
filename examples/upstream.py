"""A tiny echo service on 127.0.0.1 and the async client the framework examples share.

The examples need something real to call over HTTP, with answers a test can check: the
service answers `GET /echo?value=X` with `{"value": X}`. `EchoClient` is what an
application would write around an async SDK: its methods are `async def`, decorated with
`@sync_bridge`, so views and tasks call them like plain functions.

Run the service by hand (Ctrl+C stops it):

    python -m examples.upstream --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypedDict
from urllib.parse import parse_qs, urlsplit

import httpx

from sincpro_async_worker import sync_bridge

__all__ = ["EchoClient", "Echoed", "serve_upstream"]


class _EchoHandler(BaseHTTPRequestHandler):
    # Keep-alive, so the clients' connection pools are really reused between calls.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every request on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/echo":
            self._reply(404, {"error": f"no route {url.path}"})
            return
        value = parse_qs(url.query).get("value", [""])[0]
        self._reply(200, {"value": value})

    def _reply(self, status: int, payload: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: hundreds of requests per test would bury any useful output."""


@contextmanager
def serve_upstream(port: int = 0) -> Iterator[str]:
    """Serve the echo service on 127.0.0.1 in a daemon thread; yield its base URL.

    `port=0` lets the OS pick a free port, so parallel test runs never collide. The
    server stops (and its listening socket closes) when the block exits.
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, name="echo-upstream", daemon=True)
    thread.start()
    try:
        host, bound_port = server.server_address[:2]
        yield f"http://{host!s}:{bound_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Echoed(TypedDict):
    """What `EchoClient.echo` returns: the echoed value and who did the work."""

    value: str
    pid: int  # the process whose worker loop ran the request
    client_id: int  # identifies the pooled httpx client: one per process
    loop_id: int  # identifies the event loop: one per process


class EchoClient:
    """An async HTTP client for the echo service, callable from synchronous code.

    The one pooled `httpx.AsyncClient` is created lazily, for the worker loop, by the
    first call in each process. Its connections are bound to that loop, which is why
    every call must run on the same loop: the library's one worker loop per process
    guarantees it, where `asyncio.run()` per call fails on the second call. Creating it
    lazily (never at import time) matters under pre-fork servers: a client used in the
    master before the fork would share its sockets with every worker. A client built for
    another loop (before a fork, or before `shutdown()`) is replaced, never reused.

    Not for use from coroutines on the worker loop itself: there, await the undecorated
    methods (`inspect.unwrap(EchoClient.echo)`), since a blocking call would deadlock.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: asyncio.Future[httpx.AsyncClient] | None = None

    @sync_bridge
    async def echo(self, value: str) -> Echoed:
        """Ask the service to echo `value`; raise `httpx.HTTPStatusError` on a bad status."""
        client = await self._http()
        response = await client.get("/echo", params={"value": value})
        response.raise_for_status()
        return {
            "value": str(response.json()["value"]),
            "pid": os.getpid(),
            "client_id": id(client),
            "loop_id": id(asyncio.get_running_loop()),
        }

    def close(self) -> None:
        """Close this process's pooled connections, if any were opened. Idempotent.

        Call it before the library's worker stops (tests, scripts); left open, the
        sockets are only reclaimed when the process exits.
        """
        if self._client is not None:
            self._aclose()

    @sync_bridge
    async def _aclose(self) -> None:
        building, self._client = self._client, None
        if building is not None and self._loop is asyncio.get_running_loop():
            await (await building).aclose()

    async def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or _failed(self._client):
            # Building a client loads CA certificates and imports httpx's network stack:
            # around 0.1 s of blocking work, which on the loop would stall every other
            # caller (and the library would report it). So it runs in a thread, once per
            # loop; concurrent first calls share the one build. No lock is needed: this
            # check-and-set runs on the loop, with no await in between.
            self._loop = loop
            self._client = asyncio.ensure_future(asyncio.to_thread(self._build))
        # shield: a caller that times out must not cancel the build the others await.
        return await asyncio.shield(self._client)

    def _build(self) -> httpx.AsyncClient:
        # The first request would import anyio's asyncio backend on the loop; do it here.
        importlib.import_module("anyio._backends._asyncio")
        return httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout)


def _failed(future: asyncio.Future[httpx.AsyncClient]) -> bool:
    # A failed build is retried by the next call instead of being cached forever.
    return future.done() and (future.cancelled() or future.exception() is not None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the echo service on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    port = parser.parse_args(argv).port
    with serve_upstream(port) as url:
        print(f"echo service on {url}/echo?value=hello (Ctrl+C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
