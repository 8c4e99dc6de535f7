"""Flask under real gunicorn: pre-fork sync workers, `--preload`, and a reload (SIGHUP).

The app module warms the bridge in the master, so every worker is forked from a process
whose loop thread is already running. Each worker must start its own loop and build its
own pooled httpx client on it, before the reload and after it.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.upstream import serve_upstream

from .support import (
    listening_socket,
    one_client_and_loop_per_process,
    read_text,
    run_example_module,
    running,
    wait_for,
)

WORKERS = 3
BOOTED = re.compile(r"Booting worker with pid: (\d+)")
EXITED = re.compile(r"Worker exiting \(pid: (\d+)\)")


def _send(base_url: str, count: int, threads: int = 8) -> list[dict[str, Any]]:
    """Send `count` echo requests from `threads` threads; check and return every answer."""
    local = threading.local()

    def one(i: int) -> dict[str, Any]:
        value = f"req {i} {uuid.uuid4().hex} é&="  # needs URL quoting both ways
        response = local.http.get("/echo", params={"value": value})
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["value"] == value
        assert answer["pid"] == answer["view_pid"], "the loop ran in another process"
        return answer

    clients: list[httpx.Client] = []

    def init() -> None:
        local.http = httpx.Client(base_url=base_url, timeout=20)
        clients.append(local.http)

    try:
        with ThreadPoolExecutor(threads, initializer=init) as pool:
            return list(pool.map(one, range(count)))
    finally:
        for http in clients:
            http.close()


@pytest.mark.timeout(90)
def test_preloaded_gunicorn_workers_and_their_reloads_each_run_their_own_loop(
    tmp_path: Path,
) -> None:
    log = tmp_path / "gunicorn.log"
    sock = listening_socket()
    port = sock.getsockname()[1]
    argv = [
        *(sys.executable, "-m", "gunicorn", "examples.flask_app:app"),
        *("--preload", "--workers", str(WORKERS), "--worker-class", "sync"),
        *("--bind", f"fd://{sock.fileno()}", "--timeout", "30", "--graceful-timeout", "15"),
        # gunicorn's control socket defaults to one path in $HOME: shared by every run.
        "--no-control-socket",
    ]
    with serve_upstream() as upstream_url, sock:
        env = {"UPSTREAM_URL": upstream_url}
        with running(argv, log=log, env=env, pass_fds=(sock.fileno(),)) as master:
            base_url = f"http://127.0.0.1:{port}"

            def booted() -> set[int]:
                return {int(pid) for pid in BOOTED.findall(read_text(log))}

            def all_booted() -> set[int] | None:
                pids = booted()
                return pids if len(pids) >= WORKERS else None

            first = wait_for(all_booted, 45, "the workers to boot")
            answers = _send(base_url, 300)
            assert one_client_and_loop_per_process(answers) <= first

            master.send_signal(signal.SIGHUP)  # reload: new workers forked, old ones stopped

            def reloaded() -> bool:
                exited = {int(pid) for pid in EXITED.findall(read_text(log))}
                return len(booted()) >= 2 * WORKERS and first <= exited

            wait_for(reloaded, 45, "the reload to replace every worker")
            second = booted() - first
            answers = _send(base_url, 90)
            assert one_client_and_loop_per_process(answers) <= second
            assert master.poll() is None, "the gunicorn master died"

    output = read_text(log)
    assert "attached to a different loop" not in output
    assert "Traceback" not in output, output
    assert "[ERROR]" not in output, output


def test_the_flask_example_runs_as_a_script() -> None:
    result = run_example_module("examples.flask_app")
    assert result.returncode == 0, result.stderr
    for word in ("hello", "bonjour", "hola"):
        assert f"{word} -> {word} (worker loop in pid" in result.stdout
