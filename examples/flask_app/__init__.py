"""Flask views calling an async HTTP client, served by gunicorn's pre-fork sync workers.

Serve it (with the echo service from `python -m examples.upstream` running):

    UPSTREAM_URL=http://127.0.0.1:8001 gunicorn --preload --workers 3 \\
        --bind 127.0.0.1:8000 examples.flask_app:app
    curl 'http://127.0.0.1:8000/echo?value=hello'

or try it in one process, upstream included: `python -m examples.flask_app`.

`--preload` imports this module once, in the gunicorn master, and forks the workers
from it. The module warms the bridge at import time (its worker thread and loop start
in the master), which is the hard case: a thread does not survive `fork()`, so each
worker must start its own loop on its first call instead of waiting on the master's
forever. The library does that; the pooled httpx client is never created in the master
(see `EchoClient`), so each worker also builds its own on its own loop.
"""

from __future__ import annotations

import asyncio
import atexit
import os

from flask import Flask, Response, jsonify, request

from examples.upstream import EchoClient
from sincpro_async_worker import sync_bridge

__all__ = ["app", "client", "create_app", "warm_up"]

client = EchoClient(os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001"))
# Close the pooled connections at exit: atexit runs handlers last-in first-out, so this
# runs before the library's own graceful shutdown, while the worker loop still runs.
atexit.register(client.close)


@sync_bridge
async def warm_up() -> int:
    """Start the bridge now instead of on the first request; return the loop's pid."""
    await asyncio.sleep(0)
    return os.getpid()


def create_app(upstream: EchoClient) -> Flask:
    """The Flask app. Views are plain sync functions; the bridge hides the async I/O."""
    flask_app = Flask(__name__)

    @flask_app.get("/echo")
    def echo() -> Response:
        answer = upstream.echo(request.args.get("value", ""))
        return jsonify({**answer, "view_pid": os.getpid()})

    @flask_app.get("/health")
    def health() -> Response:
        return jsonify({"pid": os.getpid()})

    return flask_app


app = create_app(client)
warm_up()
