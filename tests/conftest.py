"""Shared fixtures: a clean worker per test, and a guard on the library's logging."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sincpro_async_worker as saw
from sincpro_async_worker.infrastructure import runtime

LOGGER = "sincpro_async_worker"
ROOT = Path(__file__).resolve().parent.parent
#: `SINCPRO_TEST_LOOP=asyncio` runs the in-process tests on the stock loop; by default
#: they run on the library's default, uvloop when it is installed (as it is here).
STOCK_LOOP = os.environ.get("SINCPRO_TEST_LOOP") == "asyncio"


def default_settings() -> None:
    """The settings a test starts with: the defaults, on the loop this run is for."""
    runtime.configure(**vars(runtime.Settings()))
    if STOCK_LOOP:
        runtime.configure(loop_factory=asyncio.new_event_loop)


def pytest_configure(config: pytest.Config) -> None:
    # A shell that starts a job in the background (as CI may) hands it SIGINT ignored,
    # and a Python started that way keeps ignoring it, as does every process it starts.
    # The tests that press Ctrl-C on a child need the disposition a terminal gives.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers", "library_logs: the test expects the library to log above DEBUG"
    )


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def clean_worker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with default settings and no worker, and leaves none behind.

    It also fails any test during which the library logged above DEBUG, unless the test
    is marked `library_logs`: in normal operation the library must stay quiet.
    """
    runtime.shutdown(5)
    default_settings()
    # stats() counts for the whole process; each test starts where a fresh process does.
    runtime._counts.update(saw.WorkerStats())
    logger = logging.getLogger(LOGGER)
    assert logger.handlers == [], "the library must not install logging handlers"
    records = _Records()
    logger.addHandler(records)
    try:
        yield
        runtime.shutdown(5)
        default_settings()
    finally:
        logger.removeHandler(records)
    if request.node.get_closest_marker("library_logs") is None:
        loud = [r for r in records.records if r.levelno > logging.DEBUG]
        assert not loud, f"unexpected library log records: {[r.getMessage() for r in loud]}"


def wait_for_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The library's records, once there are any (at most 10 s).

    The loop thread may still hold the future for a moment after it is done, so the
    report of a failure nobody retrieved can come a little after the caller lets go.
    """
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        records = [r for r in caplog.records if r.name == LOGGER]
        if records or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def hold_the_loop() -> threading.Event:
    """Start the worker and block its loop in a callback until the returned event is set.

    Submissions made meanwhile queue up behind it. The block ends by itself after 10 s.
    """
    saw.run_async_task(asyncio.sleep(0))
    worker = runtime.existing_worker()
    assert worker is not None
    hold, held = threading.Event(), threading.Event()

    def block_the_loop() -> None:
        held.set()
        hold.wait(10)

    worker.loop.call_soon_threadsafe(block_the_loop)
    assert held.wait(10)
    return hold


def run_python(
    code: str,
    *,
    args: list[str] | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (this venv's), with the library importable;
    `args` are its `sys.argv[1:]`."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *(args or [])],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def interrupt_python(code: str, ready: str, *, timeout: float = 30) -> tuple[int, str, str]:
    """Start `code` in a fresh interpreter, send SIGINT once it prints `ready`, and wait.

    Returns the exit code, stdout (after the ready line) and stderr.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == ready
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, out, err


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    """Run `examples/<name>` as a user would, from the repository root."""
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


__all__ = ["LOGGER", "ROOT", "interrupt_python", "run_example", "run_python", "saw"]
