"""Celery beyond one process: a real prefork worker whose pool processes call the bridge.

The broker and the result backend are folders under the test's tmp_path (kombu's
filesystem transport, Celery's file backend), so no broker server is needed; the
worker runs as a subprocess and finds them through SINCPRO_CELERY_DIR. So does the
SQLite file the order tasks write their audit rows to.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from examples.upstream import serve_upstream

from .support import (
    Deadline,
    one_client_and_loop_per_process,
    read_text,
    running,
    wait_for,
)

WORKER = [
    *(sys.executable, "-m", "celery", "-A", "examples.celery_app", "worker"),
    *("--pool=prefork", "--loglevel=INFO", "--hostname=test@%h"),
    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
]


@pytest.fixture
def celery_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the example app at fresh folders under tmp_path, for this test only.

    The app reads SINCPRO_CELERY_DIR when imported, so it is (re)imported only once the
    variable is set, and unloaded after the test so that no other test sees these folders.
    """
    monkeypatch.setenv("SINCPRO_CELERY_DIR", str(tmp_path / "celery"))
    _unload()
    try:
        yield
    finally:
        app = sys.modules.get("examples.celery_app")
        if app is not None:
            app.app.close()  # the producer's connection pool
        _unload()


def _unload() -> None:
    for name in [name for name in sys.modules if name.startswith("examples.celery_app")]:
        del sys.modules[name]


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("celery_folders")
def test_prefork_pool_processes_each_run_their_own_loop(
    tmp_path: Path,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "celery.log"
    with serve_upstream() as upstream_url:
        env = {"UPSTREAM_URL": upstream_url}
        with running([*WORKER, "--concurrency=2"], log=log, env=env, stop_timeout=30) as worker:
            # No need to wait for the worker to be ready: the tasks wait in the queue folder.
            from examples.celery_app.__main__ import main, send_and_collect

            answers = send_and_collect(100, timeout=60)
            main(["4"])  # what `python -m examples.celery_app 4` does
            assert "4 tasks echoed correctly" in capsys.readouterr().out
            assert worker.poll() is None, read_text(log)

    # Every pool process built one client on one loop and reused both for all its tasks.
    clients = one_client_and_loop_per_process(answers)
    # Which pool processes answered (usually both; one alone would not be a failure).
    assert worker.pid not in clients, "tasks must run in the pool processes"
    assert 1 <= len(clients) <= 2, clients
    record_property("tasks_per_pool_process", dict(Counter(a["pid"] for a in answers)))
    output = read_text(log)
    assert "attached to a different loop" not in output
    assert "Traceback" not in output, output


POOL_PROCESSES = 2
ORDERS = 6


@pytest.mark.timeout(90)
@pytest.mark.usefixtures("celery_folders")
def test_fire_and_forget_writes_pending_when_a_pool_process_exits_all_reach_the_database(
    tmp_path: Path,
) -> None:
    # What a pool process leaves behind when it ends depends on the recipe's
    # worker_process_shutdown receiver alone: billiard ends it with os._exit(), and a
    # process recycled after each task ends while its last write may still be running.
    from examples.celery_app import AUDIT_DB
    from examples.celery_app.__main__ import audited, send_orders

    log = tmp_path / "celery.log"
    argv = [*WORKER, f"--concurrency={POOL_PROCESSES}", "--max-tasks-per-child=1"]
    # The test holds an exclusive lock on the database while the first tasks run, so no
    # audit write can commit before the test lets go: the first pool processes to finish
    # a task reach their exit with their write certainly pending, however fast the machine.
    with contextlib.closing(sqlite3.connect(AUDIT_DB, isolation_level=None)) as lock:
        lock.execute("BEGIN EXCLUSIVE")
        with running(argv, log=log, stop_timeout=30) as worker:
            results = send_orders(ORDERS)
            wait_for(
                lambda: sum(result.ready() for result in results.values()) >= POOL_PROCESSES,
                60,
                f"{POOL_PROCESSES} order tasks to return",
            )
            lock.execute("ROLLBACK")  # let the pending writes through
            deadline = Deadline(60)
            pids = {
                order_id: result.get(timeout=deadline.remaining(), interval=0.05)
                for order_id, result in results.items()
            }
            worker.send_signal(signal.SIGTERM)  # a warm shutdown, as a deployment does
            assert worker.wait(30) == 0, read_text(log)

    # Every write made by a task is in the database, written by the process that ran it.
    rows = audited()
    lost = sorted(set(pids) - set(rows))
    assert not lost, f"{len(lost)} of {ORDERS} audit writes lost: {lost}\n{read_text(log)}"
    assert rows == pids
    # Each task ran in a pool process of its own, which ended right after it.
    assert len(set(pids.values())) == ORDERS
    output = read_text(log)
    assert "Cancelled" not in output, output  # nothing needed cancelling at the drain
    assert "Traceback" not in output, output
