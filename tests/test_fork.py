"""A forked child gets its own worker; the parent's tasks are never run twice."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sincpro_async_worker import run_async_task, stats, sync_bridge

from .conftest import ROOT

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


# Issue 9 item 7: a child forked while other threads of the parent are inside its futures'
# methods must never wait on a lock one of them held at the fork. The scenario runs in a
# fresh interpreter, so that a hang costs that process (killed at the timeout), not pytest.
FORK_UNDER_CHURN = """
import asyncio, concurrent.futures, os, signal, sys, threading, time, warnings

warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
from sincpro_async_worker import configure, run_async_task

if sys.argv[1] == "uvloop":
    import uvloop
    configure(loop_factory=uvloop.new_event_loop)
else:
    configure(loop_factory=asyncio.new_event_loop)

FORKS = 100
CHILD_DEADLINE = 5.0  # a child makes one call: a few milliseconds when nothing hangs
stop = threading.Event()
errors = []

async def pending_for_a_while(i):
    await asyncio.sleep(0.01)
    return i

def churn(k):
    # Fire-and-forget calls whose futures are cancelled, polled and waited on, while
    # they are pending: at any moment one of these threads may be inside a future's lock.
    i = k
    try:
        while not stop.is_set():
            i += 4
            future = run_async_task(pending_for_a_while(i), fire_and_forget=True)
            if i % 3 == 0:
                future.cancel()
            elif i % 3 == 1:
                while not future.done():
                    pass
            try:
                future.result(timeout=10)
            except concurrent.futures.CancelledError:
                pass
    except BaseException as exc:
        errors.append(repr(exc))

run_async_task(asyncio.sleep(0), timeout=10)  # the parent's worker runs before the forks
threads = [threading.Thread(target=churn, args=(k,)) for k in range(4)]
for thread in threads:
    thread.start()
forks = hung = failed = 0
try:
    while forks < FORKS and hung < 3:  # three hangs tell enough; stop within the budget
        forks += 1
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                answer = run_async_task(asyncio.sleep(0, "child"), timeout=CHILD_DEADLINE)
                code = 0 if answer == "child" else 1
            finally:
                os._exit(code)
        deadline = time.monotonic() + CHILD_DEADLINE
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                failed += os.waitstatus_to_exitcode(status) != 0
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                hung += 1
                break
            time.sleep(0.001)
finally:
    stop.set()
    for thread in threads:
        thread.join(10)
print(f"forks={forks} hung={hung} failed={failed} churn_errors={errors}")
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_children_forked_while_threads_use_futures_never_hang(loop: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORK_UNDER_CHURN, loop],
        capture_output=True,
        text=True,
        timeout=55,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "forks=100 hung=0 failed=0 churn_errors=[]", result.stderr


def run_script(script: str, *args: str) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    return result.stdout.strip(), result.stderr.strip()


# The child reports on stdout and leaves with os._exit(); the parent waits for it, bounded.
CHILD_WAIT = """
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child exit", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.005)
else:
    os.kill(pid, 9)
    print("child hung")
"""


# A fork while another thread's first call is starting the worker, on the default loop.
# Bug: uvloop was imported in the worker thread as its loop was made, and a fork in the
# middle of that import left the child a half-imported module and an import lock that no
# thread of the child would release: every call there failed, or hung in start().
FORK_DURING_FIRST_CALL = (
    """
import asyncio, os, sys, threading, time, warnings

warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
from sincpro_async_worker import run_async_task

delay = float(sys.argv[1])
first = threading.Thread(target=run_async_task, args=(asyncio.sleep(0),))
first.start()
time.sleep(delay)
pid = os.fork()
if pid == 0:
    code = 3
    try:
        loop = run_async_task(asyncio.sleep(0, "child"), timeout=5)
        code = 0 if loop == "child" else 1
    finally:
        os._exit(code)
first.join(10)
"""
    + CHILD_WAIT
)


@pytest.mark.timeout(120)
def test_a_child_forked_while_the_first_call_starts_the_worker_can_call() -> None:
    outcomes = []
    for delay in [0, 0, 0, 0, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005] * 2:
        outcomes.append(run_script(FORK_DURING_FIRST_CALL, str(delay)))
    assert outcomes == [("child exit 0", "")] * 20


CALLBACK_IN_CHILD = (
    """
import asyncio, os, sys, time, warnings
warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
from sincpro_async_worker import configure, run_async_task
if sys.argv[1] == "asyncio":
    configure(loop_factory=asyncio.new_event_loop)
parent = os.getpid()

def callback(future):
    if os.getpid() != parent:  # the child's copy of the future fails: this runs in the child
        print("callback got", type(future.exception()).__name__, flush=True)
        print("callback call", run_async_task(asyncio.sleep(0, "ok"), timeout=5), flush=True)

future = run_async_task(asyncio.sleep(1), fire_and_forget=True)
future.add_done_callback(callback)
pid = os.fork()
if pid == 0:
    print("fork returned", flush=True)
    os._exit(0)
"""
    + CHILD_WAIT
)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_done_callback_that_the_fork_fails_in_the_child_can_call_the_library(
    loop: str,
) -> None:
    # Bug: the child failed the futures it inherited while the parent's dead worker was
    # still the process's, inside os.fork(): a blocking call from a done-callback waited
    # for that dead loop for ever, and fork() never returned in the child.
    assert run_script(CALLBACK_IN_CHILD, loop) == (
        "callback got WorkerNotRunningError\ncallback call ok\nfork returned\nchild exit 0",
        "",
    )


FORK_FROM_A_SIGNAL_HANDLER = (
    """
import asyncio, os, signal, sys, time, warnings
warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
from sincpro_async_worker import configure, sync_bridge
if sys.argv[1] == "asyncio":
    configure(loop_factory=asyncio.new_event_loop)
timeout = None if sys.argv[2] == "none" else float(sys.argv[2])

@sync_bridge(timeout=timeout)
async def slow():
    await asyncio.sleep(1)
    return "parent's result"

forked = []
signal.signal(signal.SIGALRM, lambda signum, frame: forked.append(os.fork()))
signal.setitimer(signal.ITIMER_REAL, 0.1)
started = time.monotonic()
try:
    outcome = slow()
except Exception as exc:
    outcome = type(exc).__name__
if forked == [0]:
    print(outcome, "at once" if time.monotonic() - started < 0.5 else "late", flush=True)
    os._exit(0)
pid = forked[0]
print(outcome)
"""
    + CHILD_WAIT
)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
@pytest.mark.parametrize("timeout", ["none", "3"])
def test_a_child_forked_during_a_blocking_call_gets_an_error_at_once(
    loop: str, timeout: str
) -> None:
    # Bug: forked by a signal handler while its thread waited for a blocking call, the
    # child went back to waiting for a loop it does not have: for ever, or, with a
    # timeout, until a TimeoutError that said the task had been cancelled.
    assert run_script(FORK_FROM_A_SIGNAL_HANDLER, loop, timeout) == (
        "WorkerNotRunningError at once\nparent's result\nchild exit 0",
        "",
    )


FORK_FROM_AN_EXIT_HANDLER = """
import asyncio, atexit, os, sys, warnings
warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)

def fork_at_exit():
    pid = os.fork()
    if pid == 0:
        try:
            print(run_async_task(asyncio.sleep(0, "child ok"), timeout=5), flush=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)

atexit.register(fork_at_exit)  # before the import: runs after the library's exit hook
from sincpro_async_worker import run_async_task
print(run_async_task(asyncio.sleep(0, "parent ok")), flush=True)
"""


@pytest.mark.skipif(sys.version_info[:2] == (3, 12), reason="3.12 refuses os.fork() at exit")
def test_a_child_forked_by_an_exit_handler_starts_its_own_worker() -> None:
    # Bug: the parent's "the interpreter is exiting" carried over, and the child, which
    # was not exiting, had every call refused.
    assert run_script(FORK_FROM_AN_EXIT_HANDLER) == ("parent ok\nchild ok", "")
