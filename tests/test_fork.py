"""A forked child gets its own worker; the parent's tasks are never run twice."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from sincpro_async_worker import run_async_task, stats, sync_bridge

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX-only")


async def pid_of_loop_thread() -> tuple[int, int]:
    await asyncio.sleep(0)
    return os.getpid(), threading.get_ident()


def child_call(_: int) -> int:
    pid, _thread = run_async_task(pid_of_loop_thread(), timeout=10)
    return pid


@sync_bridge
async def loop_pid_and_square(x: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return os.getpid(), x * x


def wait_for_child(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_starts_its_own_worker() -> None:
    parent_pid, parent_loop_thread = run_async_task(pid_of_loop_thread())
    pid = os.fork()
    if pid == 0:  # child: report through the exit code, never return into pytest
        try:
            counted_before = stats().submitted  # the child counts its own work, from zero
            child_pid, _child_loop_thread = run_async_task(pid_of_loop_thread(), timeout=10)
            ok = child_pid == os.getpid() != parent_pid
            ok = ok and counted_before == 0 and stats().submitted == 1
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    assert wait_for_child(pid) == 0
    assert run_async_task(pid_of_loop_thread()) == (parent_pid, parent_loop_thread)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_the_parents_pending_tasks_do_not_run_in_the_child(tmp_path: Path) -> None:
    log = tmp_path / "runs.txt"
    release = threading.Event()

    async def parent_task() -> None:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        with log.open("a") as out:
            out.write(f"{os.getpid()}\n")

    future = run_async_task(parent_task(), fire_and_forget=True)
    pid = os.fork()
    if pid == 0:
        try:
            # The child's copy of the future fails instead of hanging.
            exc = future.exception(timeout=10)
            healthy = run_async_task(asyncio.sleep(0, "ok"), timeout=10) == "ok"
            os._exit(0 if healthy and exc is not None else 1)
        except BaseException:
            os._exit(2)
    assert wait_for_child(pid) == 0
    release.set()
    future.result(timeout=10)
    assert log.read_text().split() == [str(os.getpid())]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_multiprocessing_fork_pool_works() -> None:
    run_async_task(asyncio.sleep(0))  # the parent's worker exists before the fork
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pids = pool.map(child_call, range(8), chunksize=1)
    assert os.getpid() not in pids
    assert len(set(pids)) <= 2


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_decorated_function_is_sent_to_a_fork_pool_like_a_plain_function() -> None:
    # Pool.map pickles the function itself, by reference, as it does a plain function.
    run_async_task(asyncio.sleep(0))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(loop_pid_and_square, range(6), chunksize=1)
    assert [square for _, square in results] == [0, 1, 4, 9, 16, 25]
    assert os.getpid() not in {pid for pid, _ in results}
