"""Starting, watching and stopping the servers these tests run, always on 127.0.0.1.

Every wait here polls a condition against a deadline: on a busy shared machine a fixed
sleep is either too short (flaky) or too long (slow).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..conftest import ROOT

__all__ = [
    "ROOT",
    "Deadline",
    "listening_socket",
    "one_client_and_loop_per_process",
    "read_text",
    "run_example_module",
    "running",
    "wait_for",
]

T = TypeVar("T")


class Deadline:
    """A point in time some seconds from now, for loops that must end."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self._end


def wait_for(
    condition: Callable[[], T | None], seconds: float, what: str, interval: float = 0.05
) -> T:
    """Poll `condition` until it returns something truthy, or fail the test saying `what`."""
    deadline = Deadline(seconds)
    while True:
        result = condition()
        if result:
            return result
        if deadline.expired():
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(interval)


def listening_socket() -> socket.socket:
    """A TCP socket already listening on a free loopback port, to hand to a server.

    Binding here (instead of picking a free port and letting the server bind it later)
    leaves no window in which another process on the machine could take the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def running(
    argv: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    pass_fds: tuple[int, ...] = (),
    stop_signal: signal.Signals = signal.SIGTERM,
    stop_timeout: float = 20.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` from the project root, output to `log`; stop it and its children after.

    The process leads its own session, so whatever it forks (gunicorn and Celery
    workers) can be killed as a group if the graceful stop does not finish in time.
    Output goes to a file, not a pipe: a pipe nobody reads fills up and blocks the server.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            _stop(proc, stop_signal, stop_timeout)


def _stop(proc: subprocess.Popen[bytes], stop_signal: signal.Signals, timeout: float) -> None:
    if proc.poll() is None:
        proc.send_signal(stop_signal)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # The leader may be gone while its children are not: kill the whole group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def read_text(log: Path) -> str:
    """The log so far, decoded leniently: a server may be writing to it right now."""
    return log.read_bytes().decode(errors="replace")


def one_client_and_loop_per_process(answers: Iterable[Mapping[str, Any]]) -> set[int]:
    """Check each answering process used one pooled client on one loop; return their pids."""
    clients: dict[int, set[int]] = defaultdict(set)
    loops: dict[int, set[int]] = defaultdict(set)
    for answer in answers:
        clients[answer["pid"]].add(answer["client_id"])
        loops[answer["pid"]].add(answer["loop_id"])
    assert all(len(ids) == 1 for ids in clients.values()), clients
    assert all(len(ids) == 1 for ids in loops.values()), loops
    return set(clients)


def run_example_module(module: str) -> subprocess.CompletedProcess[str]:
    """Run `python -W error -m <module>` from the repository root, as a user would."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
