"""Celery tasks calling async code: each prefork pool process runs its own worker loop.

By hand, in three terminals from the project root (the worker and the client find the
broker and result folders through SINCPRO_CELERY_DIR, by default a folder in the system
temporary directory, so no broker server is needed):

    python -m examples.upstream --port 8001
    UPSTREAM_URL=http://127.0.0.1:8001 celery -A examples.celery_app worker \\
        --pool=prefork --concurrency=2 --loglevel=INFO
    python -m examples.celery_app 20

Celery's prefork pool forks its processes from the worker's main process. Each task
calls `EchoClient.echo` synchronously; the first task in a pool process starts that
process's loop and pooled httpx client, and every later task there reuses both. With
`asyncio.run()` per task instead, the second task would fail: the pooled client's
connections belong to the first task's loop, closed by then.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from examples.upstream import EchoClient, Echoed

__all__ = ["app", "client", "echo", "folders"]


def folders() -> dict[str, Path]:
    """The broker's and the result backend's folders, created if missing."""
    root = Path(
        os.environ.get("SINCPRO_CELERY_DIR", Path(tempfile.gettempdir()) / "sincpro-celery")
    )
    paths = {name: root / name for name in ("queue", "processed", "results", "control")}
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    return paths


_folders = folders()
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


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]  # celery is untyped
def _close_client(**_: Any) -> None:
    # Pool processes may end with os._exit(), which skips atexit: close the pooled
    # connections here, while this process's worker loop still runs.
    client.close()
