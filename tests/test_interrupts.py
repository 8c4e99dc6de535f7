"""Ctrl-C in a blocked caller cancels the task and re-raises (SPEC 2.4)."""

from __future__ import annotations

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
