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

from .conftest import interrupt_python, run_python

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
# the narrow places around the wait, which a signal only hits now and then, by raising
# KeyboardInterrupt from the public calls the library makes there: the stock loop's
# `call_soon_threadsafe` (how a submission wakes the loop, and how a timeout posts its
# cancellation).


def started_loop() -> asyncio.AbstractEventLoop:
    """The worker's loop, the stock one, whose methods a test may patch."""
    configure(loop_factory=asyncio.new_event_loop)  # uvloop's are read-only
    run_async_task(asyncio.sleep(0))
    worker = runtime.existing_worker()
    assert worker is not None
    return worker.loop


def interrupt_first_post(
    monkeypatch: pytest.MonkeyPatch,
    loop: asyncio.AbstractEventLoop,
    *,
    after_posting: bool,
    only: Callable[[Callable[..., object]], bool] = lambda callback: True,
    times: int = 1,
) -> list[bool]:
    """Make the first post (or `times` posts) to `loop` that `only` selects raise
    KeyboardInterrupt.

    Before the callback is posted, or `after_posting` it. Returns a list that gets one
    entry each time the interrupt has fired.
    """
    post = loop.call_soon_threadsafe
    fired: list[bool] = []

    def patched(callback: Callable[..., object], *args: Any, **kwargs: Any) -> Any:
        if len(fired) >= times or not only(callback) or threading.current_thread() is not main:
            return post(callback, *args, **kwargs)
        fired.append(True)
        if after_posting:
            post(callback, *args, **kwargs)
        raise KeyboardInterrupt

    main = threading.current_thread()
    monkeypatch.setattr(loop, "call_soon_threadsafe", patched)
    return fired


def test_an_interrupt_before_the_wake_up_is_posted_neither_runs_the_task_nor_wedges_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = started_loop()
    ran = threading.Event()

    async def work() -> None:
        ran.set()

    # The job is in the queue; the interrupt hits before the loop is told about it.
    fired = interrupt_first_post(monkeypatch, loop, after_posting=False)
    with pytest.raises(KeyboardInterrupt):
        run_async_task(work())
    assert fired == [True]
    assert run_async_task(asyncio.sleep(0, "next"), timeout=10) == "next"
    assert not ran.is_set()
    assert stats().cancelled == 1
    assert stats().running == 0


@pytest.mark.parametrize("fire_and_forget", [False, True])
def test_a_second_interrupt_while_the_first_is_handled_leaves_nothing_undone(
    monkeypatch: pytest.MonkeyPatch, fire_and_forget: bool
) -> None:
    # Ctrl-C pressed twice: the first lands before the wake-up is posted, the second in
    # the post that was to cancel the job and wake the loop. Bug: the job was left queued,
    # and with its wake-up never sent, the queue was wedged for every later call.
    loop = started_loop()
    ran = threading.Event()

    async def work() -> None:
        ran.set()

    fired = interrupt_first_post(monkeypatch, loop, after_posting=False, times=2)
    with pytest.raises(KeyboardInterrupt):
        run_async_task(work(), fire_and_forget=fire_and_forget)
    assert fired == [True, True]
    assert run_async_task(asyncio.sleep(0, "next"), timeout=10) == "next"
    if fire_and_forget:  # accepted: it runs, though its caller never got the future
        assert ran.is_set()
        assert stats().succeeded == 3  # with the call that started the loop, and "next"
    else:
        assert not ran.is_set()
        assert stats().cancelled == 1
    assert stats().running == 0


def test_an_interrupt_between_submitting_and_waiting_cancels_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = started_loop()
    started, cancelled = threading.Event(), threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # The wake-up is posted, and the interrupt lands before the caller starts waiting.
    fired = interrupt_first_post(monkeypatch, loop, after_posting=True)
    with pytest.raises(KeyboardInterrupt):
        run_async_task(work())
    assert fired == [True]
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
    loop = started_loop()
    ran = threading.Event()

    async def work() -> None:
        ran.set()  # must never run: its caller was interrupted before it could start

    coro = work()
    # The slot is taken and the job queued; the interrupt lands at the wake-up.
    fired = interrupt_first_post(monkeypatch, loop, after_posting=False)
    with pytest.raises(KeyboardInterrupt):
        run_async_task(coro)
    assert fired == [True]
    # With the one slot leaked, this call would wait for it until its timeout.
    assert run_async_task(asyncio.sleep(0, "next"), timeout=10) == "next"
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED, "left unclosed"
    assert not ran.is_set()
    assert stats().cancelled == 1
    assert stats().running == 0


def test_an_interrupt_while_the_timeout_posts_its_cancellation_still_cancels_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = started_loop()
    cancelled = threading.Event()

    async def endless() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # The timeout's own cancellation is the post that is cut off.
    fired = interrupt_first_post(
        monkeypatch,
        loop,
        after_posting=False,
        only=lambda callback: getattr(callback, "__name__", "") == "cancel",
    )
    with pytest.raises(KeyboardInterrupt):
        run_async_task(endless(), timeout=0.05)
    assert fired == [True]
    assert cancelled.wait(10), "the task went on running for a caller that had gone"


# -- an interrupt at every point in turn --------------------------------------------------
# A signal handler runs as a Python function is entered (or a loop turns): a trace function
# that raises KeyboardInterrupt at the n-th function entry of a call, for n = 1, 2, ... until
# the call makes no more, lands a Ctrl-C at each of those points in turn.

EVERYWHERE = """
import asyncio, sys, threading, time
from sincpro_async_worker import configure, run_async_task, shutdown, stats

if sys.argv[1] == "stock":
    configure(loop_factory=asyncio.new_event_loop)
what = sys.argv[2]

async def nap():
    await asyncio.sleep(0.002)

def workers():
    named = [t for t in threading.enumerate() if t.name == "sincpro-async-worker"]
    return len([t for t in named if t.is_alive()])

def act():
    if what == "shutdown":
        run_async_task(nap(), fire_and_forget=True)  # something for it to drain
        shutdown(timeout=5)
    elif what == "fire-and-forget":
        run_async_task(nap(), fire_and_forget=True)
    else:  # "first call", "blocking call"
        run_async_task(nap(), timeout=5)

points, failures = 0, []
while True:
    if what != "first call":
        run_async_task(asyncio.sleep(0))
    entries, landed = 0, []

    def tracer(frame, event, arg):
        global entries
        if event == "call":
            entries += 1
            if entries == points + 1:
                landed.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
                raise KeyboardInterrupt
        return None

    sys.settrace(tracer)
    try:
        act()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    if not landed:
        break  # the call made fewer entries than that: every point has been tried
    points += 1
    try:
        try:
            run_async_task(asyncio.sleep(0), timeout=5)
        except Exception as exc:  # refused while an interrupted shutdown() drains
            if what != "shutdown" or "shutting down" not in str(exc):
                raise
            shutdown(timeout=5)  # waits for that drain
        assert run_async_task(asyncio.sleep(0, "ok"), timeout=5) == "ok"
    except Exception as exc:
        failures.append(f"{landed[0]}: next call: {exc!r}")
        continue
    end = time.monotonic() + 5
    while (stats().running or workers() != 1) and time.monotonic() < end:
        time.sleep(0.002)
    if stats().running or workers() != 1:
        failures.append(f"{landed[0]}: {stats().running} running, {workers()} worker threads")
    if what == "first call":
        shutdown(timeout=5)
print(points)
print(failures)
"""


@pytest.mark.parametrize("what", ["first call", "blocking call", "fire-and-forget", "shutdown"])
@pytest.mark.parametrize("loop", ["stock", "default"])
def test_an_interrupt_at_any_point_of_a_call_leaves_nothing_running_or_wedged(
    loop: str, what: str
) -> None:
    # Bug: a Ctrl-C in shutdown() as it posted the drain left the loop running unowned for
    # ever, its thread alive; one in its wait, inside threading.Event's Python code, made
    # shutdown() raise "RuntimeError: release unlocked lock".
    result = run_python(EVERYWHERE, args=[loop, what], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    points, failures = result.stdout.splitlines()
    assert int(points) >= 8, "the trace function found too few points to interrupt"
    assert failures == "[]"


# -- Ctrl-C storms ----------------------------------------------------------------------
# SIGINT every 50-500 us for a few seconds, with the interpreter switching threads often:
# wherever the interrupts land, nothing may be left held, leaked or running.

STORM = """
import asyncio, random, signal, sys, threading, time
from sincpro_async_worker import configure, run_async_task, stats

if sys.argv[1] == "stock":
    configure(loop_factory=asyncio.new_event_loop)
{setup}
sys.setswitchinterval(1e-5)
main = threading.main_thread().ident
go, stop = threading.Event(), threading.Event()
# Ctrl-C raises only while a call of the library is `armed`: a KeyboardInterrupt in this
# script's own loops (at a `while` test, outside every `try`) would end it, not the library.
armed = False


def interrupt(signum, frame):
    if armed:
        raise KeyboardInterrupt


signal.signal(signal.SIGINT, interrupt)

def storm():
    go.wait()
    while not stop.is_set():
        signal.pthread_kill(main, signal.SIGINT)
        time.sleep(random.uniform(0.00005, 0.0005))

threading.Thread(target=storm, daemon=True).start()
deadline = time.monotonic() + 3
{body}
stop.set()
signal.signal(signal.SIGINT, signal.SIG_IGN)
{check}
"""

SLOT_STORM = {
    "setup": "configure(max_in_flight=2)",
    "body": """
async def work():
    await asyncio.sleep(0.001)

def submit(n):
    global armed
    while time.monotonic() < deadline:
        try:
            armed = True
            if n % 2:
                run_async_task(work(), timeout=1)
            else:
                run_async_task(work(), timeout=1, fire_and_forget=True)
        except (KeyboardInterrupt, TimeoutError):
            pass
        finally:
            armed = False
        n += 1

run_async_task(work())
go.set()
while time.monotonic() < deadline:
    try:
        submit(0)
    except BaseException:
        pass
""",
    "check": """
# A slot lost to an interrupt, or a semaphore lock left held, would stall these.
first = run_async_task(asyncio.sleep(0, "ok"), timeout=5)
print(first, run_async_task(asyncio.sleep(0, "ok"), timeout=5))
end = time.monotonic() + 10
while stats().running and time.monotonic() < end:
    time.sleep(0.05)
print("running", stats().running)
""",
}

START_STORM = {
    "setup": "from sincpro_async_worker import shutdown",
    "body": """
def workers():  # alive: a Ctrl-C can leave Thread.start() listing one never created
    named = [t for t in threading.enumerate() if t.name == "sincpro-async-worker"]
    return len([t for t in named if t.is_alive()])

go.set()
counts = []
for _ in range(200):
    while True:  # the first call, again and again until one gets through
        try:
            armed = True
            run_async_task(asyncio.sleep(0))
            break
        except BaseException:
            pass
        finally:
            armed = False
    counts.append(workers())
    shutdown(timeout=5)
    counts.append(workers())
""",
    "check": """
print(counts)
""",
}


def run_storm(parts: dict[str, str], loop: str) -> list[str]:
    script = f"import sys\nsys.argv[1:] = [{loop!r}]\n" + STORM.format(**parts)
    result = run_python(script, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


@pytest.mark.parametrize("loop", ["stock", "default"])
def test_a_ctrl_c_storm_with_an_in_flight_bound_leaks_no_slot_and_leaves_nothing_running(
    loop: str,
) -> None:
    # Bug: an interrupt inside threading.Semaphore's Python code left its lock held, and
    # every later call waited for a slot for ever, its timeout ignored.
    assert run_storm(SLOT_STORM, loop) == ["ok ok", "running 0"]


@pytest.mark.parametrize("loop", ["stock", "default"])
def test_a_ctrl_c_storm_during_the_first_call_leaves_one_worker_thread(loop: str) -> None:
    # Bug: an interrupt while the first call started the worker left that thread and its
    # loop running unowned; the next call started another (up to 6 threads seen).
    # Again: a Ctrl-C between the thread's start and its being recorded as the worker's
    # (in Thread.start(), in the wait for the loop, in the last assignments) left it
    # running unowned in about one first call in five, and shutdown() stopped only one.
    assert run_storm(START_STORM, loop) == [str([1, 0] * 200)]
