"""The ways of running a coroutine from synchronous code that the benchmarks compare.

Every contender answers the same three questions, so the scenarios never special-case one:

* `blocking(fn)`: a zero-argument callable that runs `fn()` once and returns its result;
* `spawner(fn)`: a zero-argument callable that submits `fn()` without waiting, and
  `wait_all(handles)` to wait for what it returned (its fire-and-forget mode, or the
  natural equivalent);
* `run_concurrently(fn, n, release)`: run `n` calls of `fn()` at the same time, from sync
  code, and `release()` once every one of them has been submitted.

Third-party imports happen in `start()`, inside the child process, so a contender's
process carries only its own modules and threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar, cast

from .config import (
    DECORATORS,
    DETECTOR,
    FLOOR,
    LIBRARY,
    LIBRARY_UVLOOP,
    LOOP_FLOOR,
    ONE_CALL,
    REFERENCE,
    SCENARIOS,
    TASK_FLOOR,
)

CoroutineFunction = Callable[[], Coroutine[Any, Any, Any]]
Call = Callable[[], object]

_ONLY_THE_DECORATORS = "compares @sync_bridge with run_async_task: the library's own cost"
_ONLY_THE_DETECTOR = "the library's detector on against off: see sincpro-detector"
_NO_FIRE_AND_FORGET = "no fire-and-forget mode: every call blocks until its own loop is torn down"


async def noop() -> int:
    """The trivial coroutine: all the time spent on it is the bridge's."""
    return 1


def held_napper(seconds: float) -> tuple[CoroutineFunction, CoroutineFunction]:
    """A coroutine function that sleeps `seconds` once released, and the one releasing it.

    A stand-in for waiting on I/O. Holding every nap until all have been submitted makes
    them all pending at once however slowly they are submitted, so the peak memory is
    that of `n` pending tasks, on a loaded machine too. The event binds to the loop that
    first waits on it (Python 3.10+), whichever contender's that is.
    """
    gate = asyncio.Event()

    async def nap() -> None:
        await gate.wait()
        await asyncio.sleep(seconds)

    async def release() -> None:
        gate.set()

    return nap, release


async def gather(fn: CoroutineFunction, n: int, release: CoroutineFunction) -> None:
    """`n` calls of `fn()` at once inside one loop, then `release()` (no submit mode)."""
    tasks = [asyncio.ensure_future(fn()) for _ in range(n)]
    await asyncio.sleep(0)  # one loop iteration: every task runs up to its first wait
    await release()
    await asyncio.gather(*tasks)


class Contender:
    """A way to run coroutines from sync code; subclasses fill in what they support."""

    name: ClassVar[str]
    #: Scenarios this contender cannot take part in, and why (shown in the report).
    not_applicable: ClassVar[Mapping[str, str]] = {
        "decorator_overhead": _ONLY_THE_DECORATORS,
        "detector_overhead": _ONLY_THE_DETECTOR,
    }

    def start(self) -> None:
        """Import and start what the contender needs (threads, loops) before measuring."""

    def stop(self) -> None:
        """Release what `start()` created."""

    def blocking(self, fn: CoroutineFunction) -> Call:
        raise NotImplementedError

    def spawner(self, fn: CoroutineFunction) -> Call:
        raise NotImplementedError(f"{self.name} has no fire-and-forget mode")

    def wait_all(self, handles: list[object]) -> None:
        for future in cast("list[concurrent.futures.Future[Any]]", handles):
            future.result()

    def run_concurrently(self, fn: CoroutineFunction, n: int, release: CoroutineFunction) -> None:
        spawn = self.spawner(fn)
        handles = [spawn() for _ in range(n)]
        self.blocking(release)()
        self.wait_all(handles)

    def undecorated(self, fn: CoroutineFunction) -> Call:
        """The same blocking call without the decorator (only the decorators contender)."""
        raise NotImplementedError

    def info(self) -> dict[str, str]:
        """Facts about the run worth reporting (the library's variants name their loop)."""
        return {}


class Sincpro(Contender):
    """This library on the stock asyncio loop, through `run_async_task`.

    Blocking calls, or `fire_and_forget=True`. The loop is chosen explicitly, so the
    figures do not move when the library's default loop changes.
    """

    name = LIBRARY
    not_applicable: ClassVar[Mapping[str, str]] = {
        "decorator_overhead": "the direct side of that comparison; see sincpro-decorators",
        "detector_overhead": _ONLY_THE_DETECTOR,
    }

    def settings(self) -> dict[str, Any]:
        """The `configure()` keywords this variant runs with."""
        return {"loop_factory": asyncio.new_event_loop}

    def start(self) -> None:
        from sincpro_async_worker import configure, run_async_task

        configure(**self.settings())
        # The worker starts lazily: not part of any measurement. Asking the worker which
        # loop it runs checks that the setting took effect.
        self._loop_type = run_async_task(_loop_type())

    def restart(self, **changes: Any) -> None:
        """Stop the worker and start a new one with `changes` over this variant's settings."""
        from sincpro_async_worker import configure, run_async_task, shutdown

        shutdown()  # configure() refuses to change a running worker
        configure(**{**self.settings(), **changes})
        self._loop_type = run_async_task(_loop_type())

    def stop(self) -> None:
        from sincpro_async_worker import shutdown

        shutdown()

    def info(self) -> dict[str, str]:
        return {"loop": self._loop_type}

    def blocking(self, fn: CoroutineFunction) -> Call:
        from sincpro_async_worker import run_async_task

        return lambda: run_async_task(fn())

    def spawner(self, fn: CoroutineFunction) -> Call:
        from sincpro_async_worker import run_async_task

        return lambda: run_async_task(fn(), fire_and_forget=True)


async def _loop_type() -> str:
    loop_class = type(asyncio.get_running_loop())
    return f"{loop_class.__module__}.{loop_class.__qualname__}"


def _only(scenarios: tuple[str, ...], reason: str) -> Mapping[str, str]:
    """`not_applicable` for a contender that takes part in `scenarios` only."""
    return {scenario: reason for scenario in SCENARIOS if scenario not in scenarios}


class SincproUvloop(Sincpro):
    """This library on uvloop: `configure(loop_factory=uvloop.new_event_loop)`."""

    name = LIBRARY_UVLOOP

    def settings(self) -> dict[str, Any]:
        import uvloop

        return {"loop_factory": uvloop.new_event_loop}


class SincproDetector(Sincpro):
    """This library on the stock loop, with the blocked-loop detector on and off in turn.

    `detector(on)` restarts the worker with the default `slow_task_threshold` or with
    `None`. Both sides run in one process, so the difference between them is not lost in
    the noise between two processes, which on a shared machine is larger than the cost.
    """

    name = DETECTOR
    not_applicable = _only(
        ("detector_overhead",), "the detector's cost only: on against off in one process"
    )

    def start(self) -> None:
        from sincpro_async_worker import configure

        # configure() with no argument changes nothing and returns the settings in force.
        self._default_threshold = configure().slow_task_threshold
        super().start()

    def detector(self, on: bool) -> None:
        self.restart(slow_task_threshold=self._default_threshold if on else None)


class SincproDecorators(Sincpro):
    """This library through `@sync_bridge`, against direct `run_async_task` calls."""

    name = DECORATORS
    not_applicable = _only(
        ("decorator_overhead",), "the same path as sincpro plus the decorator's own cost"
    )

    def blocking(self, fn: CoroutineFunction) -> Call:
        from sincpro_async_worker import sync_bridge

        return sync_bridge(fn)

    def undecorated(self, fn: CoroutineFunction) -> Call:
        return Sincpro.blocking(self, fn)


class SincproOneCall(Sincpro):
    """This library with one blocking call gathering every coroutine inside the loop.

    The like-for-like rival of `asyncio.run` and asgiref in the sleeps scenarios, which
    can only work that way; per-task submission is what `sincpro` measures.
    """

    name = ONE_CALL
    not_applicable = _only(
        ("sleeps_10k", "sleeps_100k"), "the same per-call path as sincpro; this one only gathers"
    )

    def run_concurrently(self, fn: CoroutineFunction, n: int, release: CoroutineFunction) -> None:
        from sincpro_async_worker import run_async_task

        run_async_task(gather(fn, n, release))


class _LoopThread(Contender):
    """A contender that runs its own event loop in a thread of its own, started by hand."""

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name=self.name)
        self._thread.start()
        ready.wait()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        self._loop.run_forever()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class Naive(_LoopThread):
    """The reference: a loop thread and `run_coroutine_threadsafe(...).result()`.

    What most people write by hand; every ratio in the report is relative to it.
    """

    name = REFERENCE

    def blocking(self, fn: CoroutineFunction) -> Call:
        loop, submit = self._loop, asyncio.run_coroutine_threadsafe
        return lambda: submit(fn(), loop).result()

    def spawner(self, fn: CoroutineFunction) -> Call:
        loop, submit = self._loop, asyncio.run_coroutine_threadsafe
        return lambda: submit(fn(), loop)


class AsyncioRun(Contender):
    """A fresh event loop per call: `asyncio.run(fn())`."""

    name = "asyncio.run"
    not_applicable: ClassVar[Mapping[str, str]] = {
        **Contender.not_applicable,
        "fire_and_forget": _NO_FIRE_AND_FORGET,
    }

    def blocking(self, fn: CoroutineFunction) -> Call:
        return lambda: asyncio.run(fn())

    def run_concurrently(self, fn: CoroutineFunction, n: int, release: CoroutineFunction) -> None:
        asyncio.run(gather(fn, n, release))


class Asgiref(Contender):
    """`asgiref.sync.async_to_sync`, as Django uses it outside a request."""

    name = "asgiref"
    not_applicable: ClassVar[Mapping[str, str]] = {
        **Contender.not_applicable,
        "fire_and_forget": "no fire-and-forget mode: async_to_sync always blocks",
    }

    def blocking(self, fn: CoroutineFunction) -> Call:
        from asgiref.sync import async_to_sync

        return async_to_sync(fn)

    def run_concurrently(self, fn: CoroutineFunction, n: int, release: CoroutineFunction) -> None:
        from asgiref.sync import async_to_sync

        async_to_sync(gather)(fn, n, release)


# Its portal takes two to four times the naive bridge's time at 100,000 tasks: about 20 s
# per run on an idle machine, over a minute on a loaded one, for what 10,000 sleeps show.
_TOO_SLOW_FOR_100K = "left out at 100,000 tasks to keep make bench short; see 10,000 sleeps"


class Anyio(Contender):
    """An anyio blocking portal, opened once and kept open (asyncio backend)."""

    name = "anyio"
    not_applicable: ClassVar[Mapping[str, str]] = {
        **Contender.not_applicable,
        "fire_and_forget": _TOO_SLOW_FOR_100K,
        "sleeps_100k": _TOO_SLOW_FOR_100K,
    }

    def start(self) -> None:
        from anyio.from_thread import start_blocking_portal

        self._exit = contextlib.ExitStack()
        self._portal = self._exit.enter_context(start_blocking_portal())

    def stop(self) -> None:
        self._exit.close()

    def blocking(self, fn: CoroutineFunction) -> Call:
        call = self._portal.call
        return lambda: call(fn)

    def spawner(self, fn: CoroutineFunction) -> Call:
        start_soon = self._portal.start_task_soon
        return lambda: start_soon(fn)


_Request = tuple[Coroutine[Any, Any, Any], "threading.Lock | None", "list[object] | None"]


class Floor(Contender):
    """Not asyncio at all: a thread fed by a `SimpleQueue`, answering through a lock.

    The worker drives the (never suspending) coroutine by hand with `send(None)`, and a
    blocking caller sleeps on a lock it acquired before submitting, which the worker
    releases. What is left is the cost of crossing threads in CPython: no bridge built
    on an event loop can go below it.
    """

    name = FLOOR
    not_applicable: ClassVar[Mapping[str, str]] = {
        **Contender.not_applicable,
        "sleeps_10k": "no event loop: concurrent sleeps would need a thread each",
        "sleeps_100k": "no event loop: concurrent sleeps would need a thread each",
    }

    def start(self) -> None:
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="floor-worker")
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        get = self._queue.get
        while (request := get()) is not None:
            coro, done, box = request
            try:
                coro.send(None)
            except StopIteration as finished:
                if done is not None and box is not None:
                    box.append(finished.value)
                    done.release()
            else:
                coro.close()
                raise RuntimeError("the floor runs only coroutines that never suspend")

    def blocking(self, fn: CoroutineFunction) -> Call:
        put, new_lock = self._queue.put, threading.Lock

        def call() -> object:
            done = new_lock()
            done.acquire()
            box: list[object] = []
            put((fn(), done, box))
            done.acquire()
            return box[0]

        return call

    def spawner(self, fn: CoroutineFunction) -> Call:
        put = self._queue.put
        return lambda: put((fn(), None, None))

    def wait_all(self, handles: list[object]) -> None:
        # The queue is FIFO and has one consumer: once a blocking call behind the
        # submissions returns, they have all run.
        self.blocking(noop)()


_BOUND_OF_TRIVIAL_CALLS = "a lower bound for calls of a coroutine that returns at once"


class TaskFloor(_LoopThread):
    """The least a bridge that runs every call as a real `asyncio.Task` can do.

    Submissions join a deque, and only the one that finds no wake-up pending writes to
    the loop's self-pipe; the loop makes each a Task. A blocking call's Task awaits the
    coroutine and releases the lock its caller sleeps on; a fire-and-forget one gets no
    future at all (waiting for them is a blocking call queued behind them). No timeouts,
    counters, loop-thread guard, error delivery or detector: what the library does on
    top of this is the price of those.
    """

    name = TASK_FLOOR
    not_applicable: ClassVar[Mapping[str, str]] = {
        **Contender.not_applicable,
        "sleeps_10k": _BOUND_OF_TRIVIAL_CALLS,
        "sleeps_100k": _BOUND_OF_TRIVIAL_CALLS,
    }

    def start(self) -> None:
        self._queue: deque[Coroutine[Any, Any, Any]] = deque()
        self._waking = False
        super().start()

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._queue.append(coro)
        if not self._waking:
            self._waking = True
            self._loop.call_soon_threadsafe(self._run_queued)

    def _run_queued(self) -> None:
        self._waking = False  # first: a submission from now on posts a wake-up of its own
        queue, loop, task = self._queue, self._loop, asyncio.Task
        while queue:
            task(queue.popleft(), loop=loop)

    def blocking(self, fn: CoroutineFunction) -> Call:
        submit, new_lock = self._submit, threading.Lock

        async def run(
            coro: Coroutine[Any, Any, Any], done: threading.Lock, box: list[object]
        ) -> None:
            box.append(await coro)
            done.release()

        def call() -> object:
            done = new_lock()
            done.acquire()
            box: list[object] = []
            submit(run(fn(), done, box))
            done.acquire()
            return box[0]

        return call

    def spawner(self, fn: CoroutineFunction) -> Call:
        submit = self._submit
        return lambda: submit(fn())

    def wait_all(self, handles: list[object]) -> None:
        # Tasks take their first step in the order they were made, and a trivial one
        # finishes in it: once a blocking call behind them returns, they have all run.
        self.blocking(noop)()


_BLOCKING_ONLY = "a lower bound for blocking calls of a coroutine that never suspends"


class LoopFloor(_LoopThread):
    """The least an asyncio loop thread can do for a blocking call: no Task, no future.

    One `call_soon_threadsafe` wakes the loop, a callback drives the (never suspending)
    coroutine by hand and releases a lock the caller sleeps on. What a bridge adds on
    top (a Task, so the coroutine may suspend; timeouts; results and errors delivered)
    is the difference between this column and the bridges'.
    """

    name = LOOP_FLOOR
    not_applicable: ClassVar[Mapping[str, str]] = {
        **Contender.not_applicable,
        "fire_and_forget": _BLOCKING_ONLY,
        "sleeps_10k": _BLOCKING_ONLY,
        "sleeps_100k": _BLOCKING_ONLY,
    }

    def blocking(self, fn: CoroutineFunction) -> Call:
        post, new_lock = self._loop.call_soon_threadsafe, threading.Lock

        def step(coro: Coroutine[Any, Any, Any], done: threading.Lock, box: list[object]) -> None:
            try:
                coro.send(None)
            except StopIteration as finished:
                box.append(finished.value)
            done.release()

        def call() -> object:
            done = new_lock()
            done.acquire()
            box: list[object] = []
            post(step, fn(), done, box)
            done.acquire()
            return box[0]

        return call


REGISTRY: Mapping[str, type[Contender]] = {
    cls.name: cls
    for cls in (
        Sincpro,
        SincproUvloop,
        SincproDetector,
        SincproDecorators,
        SincproOneCall,
        Naive,
        AsyncioRun,
        Asgiref,
        Anyio,
        TaskFloor,
        LoopFloor,
        Floor,
    )
}


def create(name: str) -> Contender:
    return REGISTRY[name]()


def reason_not_applicable(contender: str, scenario: str) -> str | None:
    """Why `contender` sits out `scenario`, or None if it takes part."""
    return REGISTRY[contender].not_applicable.get(scenario)
