"""Celery beyond one process: a real prefork worker whose pool processes call the bridge.

The broker and the result backend are folders under the test's tmp_path (kombu's
filesystem transport, Celery's file backend), so no broker server is needed; the
worker runs as a subprocess and finds them through SINCPRO_CELERY_DIR.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from examples.upstream import serve_upstream

from .support import one_client_and_loop_per_process, read_text, running


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
    argv = [
        *(sys.executable, "-m", "celery", "-A", "examples.celery_app", "worker"),
        *("--pool=prefork", "--concurrency=2", "--loglevel=INFO", "--hostname=test@%h"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    with serve_upstream() as upstream_url:
        env = {"UPSTREAM_URL": upstream_url}
        with running(argv, log=log, env=env, stop_timeout=30) as worker:
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
