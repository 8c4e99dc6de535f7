"""The one worker of this process: settings, lazy start, shutdown, exit and fork.

All process-wide state lives here. The worker starts on first use under a lock (checked
twice: the fast path takes none), exit hooks drain it, and a forked child starts afresh.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import concurrent.futures.thread  # its exit hook must be registered before ours
import contextvars
import enum
import logging
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..exceptions import ConfigurationError, WorkerNotRunningError
from .checks import (
    check_loop_factory,
    check_max_in_flight,
    check_threshold,
    check_timeout,
    discard,
)
from .event_loop import LoopFactory, LoopState
from .monitor import DEFAULT_SLOW_TASK_THRESHOLD
from .worker import Worker, WorkerStats, snapshot

__all__ = [
    "Settings",
    "call",
    "configure",
    "current_worker",
    "existing_worker",
    "on_worker_thread",
    "settings",
    "shutdown",
    "spawn",
    "stats",
]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")
_RUNNING = LoopState.RUNNING

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """How the process-wide worker is built. See `configure()`."""

    exit_grace_period: float = 5.0
    loop_factory: LoopFactory | None = None
    max_in_flight: int | None = None
    slow_task_threshold: float | None = DEFAULT_SLOW_TASK_THRESHOLD


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET

# Which worker is the process's: starting and replacing it. Re-entrant, for a signal
# handler or a finalizer that calls in on a thread holding it (see `_refuse_reentry`).
_lock = threading.RLock()
_starting: tuple[int, Worker] | None = None  # the thread starting a worker, and the worker
_worker: Worker | None = None
_closing: Worker | None = None  # the worker shutdown() is draining, if any
# The process's counters, which each of its workers in turn writes: stats() counts from
# the start of the process (or the fork), as monitoring counters must, never backwards.
_counts: dict[str, int] = dict(WorkerStats())
_left_behind: list[Worker] = []  # former workers whose queue may still hold jobs
_exited = False  # the exit sequence has stopped the worker for good
_settings = Settings()
_forked_from: list[Worker] = []  # a child keeps the parent's workers, never finalised


def settings() -> Settings:
    """The settings the next worker is built with."""
    return _settings


def existing_worker() -> Worker | None:
    """The process's worker, if there is one, without starting one."""
    return _worker


def call(
    coro: Coroutine[Any, Any, T],
    timeout: float | None,
    context: contextvars.Context | None = None,
    *,
    bounded: bool = True,
) -> T:
    """Run a fresh coroutine on the process's worker and wait for its outcome (see
    `Worker.call`)."""
    worker = _worker
    if worker is None or worker.state is not _RUNNING:
        worker = _worker_for(coro)
    return worker.call(coro, timeout, context, bounded=bounded)


def spawn(
    coro: Coroutine[Any, Any, T], timeout: float | None, context: contextvars.Context | None = None
) -> concurrent.futures.Future[T]:
    """Schedule a fresh coroutine on the process's worker; its future at once."""
    worker = _worker
    if worker is None or worker.state is not _RUNNING:
        worker = _worker_for(coro)
    return worker.spawn(coro, timeout, context)


def on_worker_thread() -> bool:
    """Whether the caller runs on the worker loop's thread (draining or not)."""
    worker = _worker or _closing
    return worker is not None and worker.owns_current_thread()


def _worker_for(coro: object) -> Worker:
    try:
        return current_worker()
    except BaseException:
        discard(coro)  # it will never run: spare the "never awaited" warning
        raise


def current_worker() -> Worker:
    """The running process-wide worker, started (or replaced, if its thread ended) now.

    `WorkerNotRunningError` while `shutdown()` drains (waiting could deadlock: the drain
    may be waiting for this very caller), and once the exit sequence has stopped it.
    """
    global _worker, _closing, _starting
    worker = _worker
    if worker is not None and (worker.is_running() or worker.owns_current_thread()):
        return worker
    closing = _closing
    if closing is not None and closing.owns_current_thread():
        return closing  # the loop thread may submit while its worker drains
    _refuse_reentry()
    with _lock:
        if _closing is not None and _closing.has_ended():  # a shutdown() cut short
            _let_go(_closing)
            _closing = None
        if _closing is not None:
            raise WorkerNotRunningError(
                "the worker is shutting down (a shutdown() is draining it) and takes no new "
                "work; call again once the drain is over (shutdown() waits for it, even "
                "after one was interrupted), and a fresh worker starts"
            )
        if _exited:
            raise WorkerNotRunningError(
                "the interpreter is exiting and the worker has been stopped; work "
                "started this late cannot run (do it before the program ends)"
            )
        worker = _worker
        if worker is not None and worker.is_running():
            return worker
        # The process's as soon as it exists: a start that a Ctrl-C cut short is finished
        # by the next call, on this same worker, not replaced by another one.
        if worker is None or worker.state is not LoopState.NEW:
            if worker is not None:
                logger.debug("The worker's thread has stopped; starting a new one")
                _let_go(worker)
            worker = _worker = Worker(
                _settings.loop_factory,
                max_in_flight=_settings.max_in_flight,
                slow_task_threshold=_settings.slow_task_threshold,
                counts=_counts,
            )
        try:
            _starting = threading.get_ident(), worker
            worker.start()
        finally:
            _starting = None
        logger.debug("Started the sincpro_async_worker event loop thread")
        return worker


def _refuse_reentry() -> None:
    """Refuse a call that would wait for the start of a worker that waits for it.

    Only a signal handler or a finalizer (`__del__`, a weakref callback run by a garbage
    collection) can make one: on the thread starting the worker, or on the worker's own
    thread before its loop runs. Waiting there, for `_lock` or the start, is for ever.
    """
    starting = _starting
    if starting is None:
        return
    me, (starter, worker) = threading.get_ident(), starting
    thread = worker.starting
    if me == starter or (thread is not None and thread.ident == me):
        raise WorkerNotRunningError(
            "the library was called from a signal handler or a finalizer that ran while the "
            "worker was starting, on a thread that start waits for; make the call outside "
            "the handler or finalizer, or once the first call has returned"
        )


def shutdown(
    timeout: float | None = 5.0, *, grace: float | None = None, exiting: bool = False
) -> None:
    """Stop the process-wide worker gracefully (see `EventLoop.shutdown`); the next call
    starts a fresh one. A second `shutdown()` waits for the first, within its timeout."""
    global _worker, _closing
    timeout = check_timeout(timeout)  # before anything stops: never fail half-way
    worker = _worker or _closing
    if worker is not None:
        worker.refuse_loop_thread("shutdown()")
    _refuse_reentry()
    with _lock:
        worker = _worker or _closing
        if worker is None:
            return
        first = _closing is None
        _closing, _worker = worker, None  # in this order: stats() always finds one
    waited = False
    try:
        # Not under the lock: work being drained may call into the library meanwhile.
        worker.shutdown(timeout, grace=grace, exiting=exiting)
        waited = True
        logger.debug("Stopped the sincpro_async_worker event loop thread")
    finally:
        # Cut short (Ctrl-C, or a SIGTERM handler's SystemExit), a first shutdown leaves the
        # drain it began to finish as the process's, for the exit hook (or a next
        # shutdown()) to wait for; one that never began it gives the worker back.
        with _lock:
            if _closing is worker:
                if worker.state is LoopState.NEW:  # never ran: nothing of it to wait for
                    _closing = None
                elif worker.state is LoopState.RUNNING:
                    _worker, _closing = worker, None
                elif (first and waited) or worker.state is LoopState.STOPPED:
                    _let_go(worker)
                    _closing = None


def stats() -> WorkerStats:
    """The counters of every task this process has run (since it started, or forked)."""
    workers = dict.fromkeys(w for w in (_worker, _closing, *_left_behind) if w is not None)
    return snapshot(_counts, [worker.backlog for worker in workers])


def _let_go(worker: Worker) -> None:
    """Under `_lock`: a worker no longer the process's; stats() counts what it has queued
    until its thread has ended and failed those jobs (a shutdown may leave it behind)."""
    _left_behind[:] = [w for w in _left_behind if not w.has_ended()]
    if not worker.has_ended():
        _left_behind.append(worker)


def configure(
    *,
    exit_grace_period: float | _Unset = UNSET,
    loop_factory: LoopFactory | _Unset | None = UNSET,
    max_in_flight: int | _Unset | None = UNSET,
    slow_task_threshold: float | _Unset | None = UNSET,
) -> Settings:
    """Change how the next worker is built; arguments left out keep their value."""
    global _settings, _worker
    changes: dict[str, object] = {}
    if exit_grace_period is not UNSET:
        changes["exit_grace_period"] = check_timeout(
            exit_grace_period, name="exit_grace_period", finite=True, none=False
        )
    if slow_task_threshold is not UNSET:
        changes["slow_task_threshold"] = check_threshold(slow_task_threshold)
    if loop_factory is not UNSET:
        changes["loop_factory"] = check_loop_factory(loop_factory)
    if max_in_flight is not UNSET:
        changes["max_in_flight"] = check_max_in_flight(max_in_flight)
    with _lock:
        if _worker is not None and _worker.is_running():
            raise ConfigurationError(
                "configure() was called while the worker is running; call it before the "
                "first task, or call shutdown() first (the next task starts a worker with "
                "the new settings)"
            )
        _settings = replace(_settings, **changes)  # type: ignore[arg-type]  # validated above
        # One that never came up (its start failed, or was cut short) is built anew with these.
        unstarted, _worker = _worker, None
    if unstarted is not None:
        unstarted.shutdown()  # a thread a cut-short start launched stops too
    return _settings


# How much of the exit grace period the first exit hook spent waiting: the last hook gets
# the rest, so the two together take no longer than the one grace period configured. (The
# time Python spends between them joining the application's threads is not ours to count:
# work those threads submit then gets what is left.)
_grace_spent = 0.0
# The grace period the exit grants: the one configured, unless an interrupt cut the wait
# short, which makes it what had passed by then.
_exit_grace: float | None = None
#: What an exit hook takes for "stop waiting, cancel and name what is left now": Ctrl-C, or
#: the SystemExit of a SIGTERM handler.
_HURRY = (KeyboardInterrupt, SystemExit)


def _settle_at_exit() -> None:
    """First exit hook: let pending work finish while threads and thread pools still work
    (the worker keeps running for the application's `atexit` handlers)."""
    global _grace_spent, _exit_grace
    worker = _worker
    if worker is not None and worker.is_running():
        started = time.monotonic()
        try:
            worker.wait_idle(_settings.exit_grace_period)
        except _HURRY:  # not raised on: Python would skip the exit steps after this hook
            _exit_grace = round(time.monotonic() - started, 1)
        finally:  # a Ctrl-C that cuts the wait short has spent what it waited
            _grace_spent = time.monotonic() - started


def _shutdown_at_exit() -> None:
    """Last exit hook: stop the worker, giving what is left the rest of the grace period."""
    global _exited
    grace = _settings.exit_grace_period if _exit_grace is None else _exit_grace
    started = time.monotonic()
    try:
        try:
            shutdown(max(grace - _grace_spent, 0.0), grace=grace, exiting=True)
        except _HURRY:  # cancel and name what is left now; a further interrupt gives up
            waited = round(min(_grace_spent + time.monotonic() - started, grace), 1)
            shutdown(0.0, grace=waited, exiting=True)
    finally:
        _exited = True


def _reset_in_child() -> None:
    """After fork: forget the parent's worker (its thread is gone, its tasks are the
    parent's) without touching its loop or locks; then the jobs the child inherited fail,
    and their callbacks, run now, find a child ready to start its own worker."""
    global _lock, _worker, _closing, _counts, _left_behind, _starting, _exited, _exit_grace
    _lock, _starting = threading.RLock(), None
    _left_behind = []
    _counts = dict(WorkerStats())  # the child's own counts, from zero
    parents = [worker for worker in (_worker, _closing) if worker is not None]
    _worker = _closing = None
    _exited, _exit_grace = False, None  # forked by an exit handler, the child is not exiting
    _forked_from.extend(parents)
    for worker in parents:
        worker.forget_after_fork()


def _register_exit_handlers() -> None:
    """Let pending work finish at exit, early enough that it still can.

    Python joins non-daemon threads and shuts thread pools down (the loop's default
    executor too) *before* `atexit` handlers run, so the waiting is hooked where
    `concurrent.futures` hooks its own exit, after it, to run first (last in, first out).
    The `atexit` handler, registered at import and so run after the application's own,
    stops the worker. Without the private early hook, only the `atexit` one remains.
    """
    register_early = getattr(threading, "_register_atexit", None)
    if register_early is not None:
        register_early(_settle_at_exit)
    atexit.register(_shutdown_at_exit)


_register_exit_handlers()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
