"""Celery tasks calling async code: each prefork pool process runs its own worker loop.

By hand, in three terminals from the project root (the worker and the client find the
broker and result folders through SINCPRO_CELERY_DIR, by default a folder in the system
temporary directory, so no broker server is needed):

    python -m examples.upstream --port 8001
    UPSTREAM_URL=http://127.0.0.1:8001 celery -A examples.celery_app worker \\
        --pool=prefork --concurrency=2 --loglevel=INFO
    python -m examples.celery_app 20          # echo tasks: a blocking bridge call each
    python -m examples.celery_app orders 20   # order tasks: a fire-and-forget write each

Celery's prefork pool forks its processes from the worker's main process. Each echo
task calls `EchoClient.echo` synchronously; the first task in a pool process starts that
process's loop and pooled httpx client, and every later task there reuses both. With
`asyncio.run()` per task instead, the second task would fail: the pooled client's
connections belong to the first task's loop, closed by then.

Each order task records an audit row in SQLite (aiosqlite) and returns without waiting
for the write, which may still be pending when the pool process ends: at the worker's
shutdown, or after every task with `--max-tasks-per-child=1`. The
`worker_process_shutdown` receiver at the bottom is what lets such writes finish.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import aiosqlite
from celery import Celery
from celery.signals import worker_process_shutdown

from examples.upstream import EchoClient, Echoed
from sincpro_async_worker import fire_and_forget, shutdown

__all__ = ["AUDIT_DB", "app", "audit", "client", "echo", "folders", "place_order"]


def folders() -> dict[str, Path]:
    """The broker's, the result backend's and the audit database's folders, made if missing."""
    root = Path(
        os.environ.get("SINCPRO_CELERY_DIR", Path(tempfile.gettempdir()) / "sincpro-celery")
    )
    paths = {name: root / name for name in ("queue", "processed", "results", "control", "audit")}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    return paths


_folders = folders()
AUDIT_DB = _folders["audit"] / "audit.db"
app = Celery("examples.celery_app")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        # One folder both ways: producers and workers share the queue.
        "data_folder_in": str(_folders["queue"]),
        "data_folder_out": str(_folders["queue"]),
        "processed_folder": str(_folders["processed"]),
        # Broadcast/pidbox state; by default kombu puts it in ./control of the cwd.
        "control_folder": str(_folders["control"]),
        "polling_interval": 0.1,  # the default 1 s makes every idle wait slow
    },
    broker_connection_retry_on_startup=True,
    result_backend=f"file://{_folders['results']}",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)

client = EchoClient(os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001"))


@app.task(name="examples.celery_app.echo")  # type: ignore[untyped-decorator]  # celery is untyped
def echo(value: str) -> Echoed:
    """A plain sync task; the bridge runs the HTTP call on this process's worker loop."""
    return client.echo(value)


@fire_and_forget
async def audit(order_id: str) -> None:
    """Append an audit row on the worker loop; the caller gets a future and moves on.

    One connection per write keeps the example short; aiosqlite runs each connection in
    its own thread, and the 30 s busy timeout lets pool processes take turns writing.
    """
    async with aiosqlite.connect(AUDIT_DB, timeout=30) as db:
        await db.execute("CREATE TABLE IF NOT EXISTS audit (order_id TEXT PRIMARY KEY, pid INT)")
        await db.execute("INSERT INTO audit VALUES (?, ?)", (order_id, os.getpid()))
        await db.commit()


@app.task(name="examples.celery_app.place_order")  # type: ignore[untyped-decorator]
def place_order(order_id: str) -> int:
    """Do the task's own work (none here), fire the audit write, and return at once."""
    audit(order_id)
    return os.getpid()


# --8<-- [start:drain]
@worker_process_shutdown.connect  # type: ignore[untyped-decorator]  # celery is untyped
def _finish_pending_work(**_: Any) -> None:
    # billiard ends a pool process with os._exit() right after this signal, so neither
    # atexit handlers nor the library's exit drain run: without the shutdown() below,
    # audit writes still pending when the last task returned would vanish, unreported.
    client.close()  # no pending work needs the pooled client: close it on its loop
    shutdown(timeout=10)  # pending work gets 10 s; whatever is left is cancelled and logged


# --8<-- [end:drain]
