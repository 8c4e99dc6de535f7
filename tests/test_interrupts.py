"""Ctrl-C in a blocked caller cancels the task and re-raises (SPEC 2.4), wherever it lands."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sincpro_async_worker import configure, run_async_task, stats
from sincpro_async_worker.infrastructure import runtime
from sincpro_async_worker.infrastructure.worker import Worker, _BlockingJob

from .conftest import interrupt_python

SCRIPT = """
import asyncio, os
from sincpro_async_worker import run_async_task, stats

def say(line):  # one write(2) per line: two threads print, and must not interleave
    os.write(1, (line + "\\n").encode())

async def long_call():
    say("started")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        say("task cancelled")
        raise

try:
    run_async_task(long_call())
except KeyboardInterrupt:
    say("caller interrupted")
run_async_task(asyncio.sleep(0))  # the loop has handled the cancellation by now
say(f"running {stats().running}")
"""


def test_keyboard_interrupt_in_a_blocked_caller_cancels_the_task() -> None:
    returncode, out, err = interrupt_python(SCRIPT, ready="started")
    assert returncode == 0, err
    lines = out.splitlines()
    # The two first lines come from two threads, in either order.
    assert sorted(lines[:2]) == ["caller interrupted", "task cancelled"], out
    assert lines[2:] == ["running 0"], out


# -- an interrupt that lands at an unlucky moment -------------------------------------
# A real Ctrl-C lands wherever the main thread happens to be. These tests make it land at
# the narrow places around the wait (raising KeyboardInterrupt from a patched step), which
# a signal only hits now and then.


def interrupt_once(
    original: Callable[..., Any], *, after_original: bool = False
) -> Callable[..., Any]:
    """`original`, except that its first call raises KeyboardInterrupt, before or after it.

    A plain function, so that patched onto a class it still binds `self`.
    """
    fired = False

    def patched(*args: Any) -> Any:
        nonlocal fired
        if fired:
            return original(*args)
        fired = True
        if after_original:
            original(*args)
        raise KeyboardInterrupt

    return patched


def started_worker() -> Worker:
    run_async_task(asyncio.sleep(0))
    worker = runtime.existing_worker()
    assert worker is not None
    return worker


def test_an_interrupt_before_the_wake_up_is_posted_neither_runs_the_task_nor_wedges_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = started_worker()
    ran = threading.Event()

    async def work() -> None:
        ran.set()

    # The job is in the queue; the interrupt hits before the loop is told about it.
    monkeypatch.setattr(worker, "_call_on_loop", interrupt_once(worker._call_on_loop))
    with pytest.raises(KeyboardInterrupt):
        run_async_task(work())
    assert run_async_task(asyncio.sleep(0, "next"), timeout=10) == "next"
    assert not ran.is_set()
    assert stats().cancelled == 1
    assert stats().running == 0


def test_an_interrupt_between_submitting_and_waiting_cancels_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started_worker()
    started, cancelled = threading.Event(), threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(_BlockingJob, "wait", interrupt_once(_BlockingJob.wait))
    with pytest.raises(KeyboardInterrupt):
        run_async_task(work())
    # The loop handles the cancellation before this call: it was posted first.
    assert run_async_task(asyncio.sleep(0, "next"), timeout=10) == "next"
    # Either the task had started and was cancelled, or the cancellation reached it
    # while still queued and it never ran; it is not left running either way.
    assert started.is_set() == cancelled.is_set()
    assert stats().cancelled == 1
    assert stats().running == 0


def test_an_interrupt_after_taking_an_in_flight_slot_gives_the_slot_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(max_in_flight=1)
    worker = started_worker()
    ran = threading.Event()

    async def work() -> None:
        ran.set()  # must never run: the call was interrupted before it was queued

    coro = work()
    monkeypatch.setattr(
        worker, "_take_slot", interrupt_once(worker._take_slot, after_original=True)
    )
    with pytest.raises(KeyboardInterrupt):
        run_async_task(coro)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED, "left unclosed"
    # With the one slot leaked, this call would wait for it until its timeout.
    assert run_async_task(asyncio.sleep(0, "next"), timeout=10) == "next"
    assert not ran.is_set()
    assert stats().submitted == 2


def test_an_interrupt_while_the_timeout_posts_its_cancellation_still_cancels_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = started_worker()
    cancelled = threading.Event()

    async def endless() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    post = worker._call_on_loop

    def interrupt_the_first_cancellation(callback: Callable[[], object]) -> None:
        if getattr(callback, "__name__", "") == "_cancel" and not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        post(callback)

    interrupted: list[bool] = []
    monkeypatch.setattr(worker, "_call_on_loop", interrupt_the_first_cancellation)
    with pytest.raises(KeyboardInterrupt):
        run_async_task(endless(), timeout=0.05)
    assert interrupted == [True]
    assert cancelled.wait(10), "the task went on running for a caller that had gone"
