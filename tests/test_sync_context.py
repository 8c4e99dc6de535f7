"""Async context managers and async iterables from sync code, and their `.aio` twins.

Streaming is shown for real: `httpx.AsyncClient.stream(...)` and `response.aiter_bytes()`
against a chunked response from a local server, entered, stepped and closed on the
worker loop. Then `@sync_bridge` over `@asynccontextmanager` functions: what the body
raises reaches the exit, which may suppress it; a failing enter raises; an exit past the
timeout raises `TimeoutError` (issue 10, "Must show" 2).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import MagicMock

import httpx
import pytest

from sincpro_async_worker import (
    WorkerNotRunningError,
    configure,
    run_async_task,
    shutdown,
    stats,
    sync_bridge,
    sync_context,
    sync_iter,
)
from sincpro_async_worker.infrastructure import runtime

from .conftest import hold_the_loop

WORKER_THREAD = "sincpro-async-worker"
CHUNK = b"0123456789abcdef" * 64  # 1 KiB per chunk of the chunked encoding
CHUNKS = 8


@pytest.fixture(autouse=True)
def tolerant_detector() -> None:
    """A blocked-loop threshold for a shared, loaded machine, not for production.

    A new `httpx.AsyncClient` loads TLS certificates on the loop: about 30 ms of CPU, which
    a busy machine can stretch past the default 0.25 s. Only a real stall is reported here.
    """
    configure(slow_task_threshold=2.0)


class _StreamHandler(BaseHTTPRequestHandler):
    """`/chunks`: CHUNKS chunks, then the end. `/endless`: chunks until the client leaves."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.path == "/chunks":
            for _ in range(CHUNKS):
                self._chunk(CHUNK)
            self._chunk(b"")
            return
        # Write until the peer is gone: once the client stops reading and closes the
        # connection, a write fails (at the latest when the socket buffers are full).
        try:
            for _ in range(1_000_000):
                self._chunk(CHUNK)
        except OSError:
            self.server.client_left.set()  # type: ignore[attr-defined]
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StreamHandler)
    server.daemon_threads = True
    server.client_left = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="stream-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


async def _new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10)


@pytest.fixture
def client() -> Iterator[httpx.AsyncClient]:
    client = run_async_task(_new_client(), 10)  # created on the worker loop
    try:
        yield client
    finally:
        run_async_task(client.aclose(), 10)


async def _is_closed(response: httpx.Response) -> bool:
    return response.is_closed


def _fail_on_first_chunk(response: httpx.Response) -> None:
    for _chunk in sync_iter(response.aiter_bytes(), timeout=10):
        raise LookupError("not this one")


def explode(error: BaseException) -> None:
    """Raise `error`; typed as returning, so the checker keeps the code after a call."""
    raise error


# -- streaming with httpx -----------------------------------------------------------------


def test_a_streamed_response_is_read_chunk_by_chunk_from_sync_code(
    client: httpx.AsyncClient, url: str
) -> None:
    with sync_context(client.stream("GET", f"{url}/chunks"), timeout=10) as response:
        assert response.status_code == 200
        chunks = list(sync_iter(response.aiter_bytes(len(CHUNK)), timeout=10))
    assert chunks == [CHUNK] * CHUNKS
    assert run_async_task(_is_closed(response), 10)


def test_breaking_out_of_a_stream_early_closes_it_on_the_loop(
    client: httpx.AsyncClient, url: str, server: ThreadingHTTPServer
) -> None:
    read = []
    with sync_context(client.stream("GET", f"{url}/endless"), timeout=10) as response:
        for chunk in sync_iter(response.aiter_bytes(len(CHUNK)), timeout=10):
            read.append(chunk)
            if len(read) == 3:
                break
    assert read == [CHUNK] * 3
    assert run_async_task(_is_closed(response), 10)
    # The unread body cannot be reused: the connection is closed, and the server sees it.
    assert server.client_left.wait(10), "the server never saw the connection close"  # type: ignore[attr-defined]


def test_an_error_in_the_with_body_closes_the_stream_and_propagates(
    client: httpx.AsyncClient, url: str, server: ThreadingHTTPServer
) -> None:
    stream = client.stream("GET", f"{url}/endless")
    with pytest.raises(LookupError, match="not this one"), sync_context(stream) as response:
        _fail_on_first_chunk(response)
    assert run_async_task(_is_closed(response), 10)
    assert server.client_left.wait(10), "the server never saw the connection close"  # type: ignore[attr-defined]


# -- @sync_bridge over @asynccontextmanager ---------------------------------------------


class Journal:
    """What the context managers below saw, and on which thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.threads: set[str] = set()

    def note(self, event: str, detail: Any = None) -> None:
        self.events.append((event, detail))
        self.threads.add(threading.current_thread().name)


journal = Journal()


@pytest.fixture(autouse=True)
def fresh_journal() -> None:
    journal.events.clear()
    journal.threads.clear()


@sync_bridge
@asynccontextmanager
async def resource(name: str, *, suppress: bool = False) -> AsyncIterator[str]:
    journal.note("enter", name)
    try:
        yield name.upper()
    except ValueError as exc:
        journal.note("body raised", exc)
        if not suppress:
            raise
    finally:
        journal.note("exit", name)


@sync_bridge
@asynccontextmanager
async def refuses() -> AsyncIterator[str]:
    journal.note("enter")
    explode(PermissionError("no entry today"))
    yield "never"  # pragma: no cover


@sync_bridge(timeout=0.2)
@asynccontextmanager
async def slow_exit() -> AsyncIterator[str]:
    yield "inside"
    journal.note("exiting")
    try:
        await asyncio.Event().wait()  # never set: the exit cannot finish
    except asyncio.CancelledError:
        journal.note("exit cancelled")
        raise


@sync_bridge
async def countdown(start: int) -> AsyncIterator[int]:
    journal.note("started", start)
    try:
        for n in range(start, 0, -1):
            yield n
    finally:
        journal.note("closed", start)


def test_a_bridged_context_manager_enters_and_exits_on_the_worker_loop() -> None:
    with resource("a") as value:
        assert value == "A"
        assert journal.events == [("enter", "a")]
    assert journal.events == [("enter", "a"), ("exit", "a")]
    assert journal.threads == {WORKER_THREAD}


def test_an_exception_in_the_body_reaches_the_exit_and_propagates() -> None:
    error = ValueError("boom")
    with pytest.raises(ValueError, match="boom") as info, resource("b"):
        raise error
    assert info.value is error
    assert journal.events == [("enter", "b"), ("body raised", error), ("exit", "b")]


def test_a_suppressing_exit_suppresses_the_exception() -> None:
    after_raise = []
    with resource("c", suppress=True):
        explode(ValueError("swallowed"))
        after_raise.append(True)  # pragma: no cover
    assert after_raise == []
    assert [event for event, _ in journal.events] == ["enter", "body raised", "exit"]


def test_an_exception_the_exit_does_not_handle_is_not_suppressed() -> None:
    with pytest.raises(KeyError), resource("d", suppress=True):
        raise KeyError("not a ValueError")
    assert [event for event, _ in journal.events] == ["enter", "exit"]


def test_an_enter_that_fails_raises_its_error_and_runs_no_body() -> None:
    body_ran = []
    with pytest.raises(PermissionError, match="no entry today"), refuses():
        body_ran.append(True)  # pragma: no cover
    assert body_ran == []
    assert journal.events == [("enter", None)]


def test_an_exit_past_the_timeout_raises_timeout_error_and_is_cancelled() -> None:
    with pytest.raises(TimeoutError), slow_exit() as value:
        assert value == "inside"
    assert journal.events[0] == ("exiting", None)
    # The timed-out exit was cancelled on the loop, not left running there.
    run_async_task(asyncio.sleep(0), 10)
    assert journal.events == [("exiting", None), ("exit cancelled", None)]


# -- the .aio twins from asyncio.run ----------------------------------------------------


def test_async_with_aio_enters_and_exits_on_the_worker_loop() -> None:
    async def main() -> tuple[str, str]:
        async with resource.aio("e") as value:
            inside = journal.events.copy()
        assert inside == [("enter", "e")]
        return value, threading.current_thread().name

    value, caller = asyncio.run(main())
    assert value == "E"
    assert caller == threading.main_thread().name
    assert journal.events == [("enter", "e"), ("exit", "e")]
    assert journal.threads == {WORKER_THREAD}


def test_async_with_aio_passes_the_body_exception_to_the_exit() -> None:
    async def main() -> None:
        async with resource.aio("f", suppress=True):
            explode(ValueError("seen and swallowed"))
        async with resource.aio("g"):
            raise ValueError("seen and raised")

    with pytest.raises(ValueError, match="seen and raised"):
        asyncio.run(main())
    assert [event for event, _ in journal.events] == ["enter", "body raised", "exit"] * 2


def test_async_for_over_aio_steps_the_generator_on_the_worker_loop() -> None:
    async def main() -> list[int]:
        return [n async for n in countdown.aio(4)]

    assert asyncio.run(main()) == [4, 3, 2, 1]
    assert journal.events == [("started", 4), ("closed", 4)]
    assert journal.threads == {WORKER_THREAD}


def test_leaving_async_for_over_aio_early_closes_the_generator_on_the_worker_loop() -> None:
    async def main() -> list[int]:
        taken = []
        async for n in countdown.aio(10):
            taken.append(n)
            if n == 8:
                break
        return taken

    # asyncio.run finalises the abandoned async iterator before it returns.
    assert asyncio.run(main()) == [10, 9, 8]
    assert journal.events == [("started", 10), ("closed", 10)]
    assert journal.threads == {WORKER_THREAD}


def test_cancelling_async_for_over_aio_mid_step_cancels_it_and_closes_the_generator() -> None:
    # Bug: the close could reach the loop before the step's cancellation did, and the caller
    # got RuntimeError("aclose(): asynchronous generator is already running").
    waiting = threading.Event()
    closed: list[str] = []

    @sync_bridge
    async def stream() -> AsyncIterator[int]:
        try:
            yield 1
            waiting.set()
            await asyncio.Event().wait()  # never set: the step waits until it is cancelled
            yield 2
        finally:
            closed.append("closed")

    async def consume() -> None:
        async for _ in stream.aio():
            pass

    async def noop() -> None:
        pass

    async def main() -> None:
        consumer = asyncio.create_task(consume())
        assert await asyncio.to_thread(waiting.wait, 10)  # the second step is on the loop
        hold = await asyncio.to_thread(hold_the_loop)
        try:
            run_async_task(noop(), fire_and_forget=True)  # a wake-up of the loop is pending
            queued = stats().submitted
            consumer.cancel()  # its cancellation of the step is posted behind that wake-up
            deadline = asyncio.get_running_loop().time() + 10
            while stats().submitted == queued:  # until the consumer has queued the close
                assert asyncio.get_running_loop().time() < deadline, "no close was queued"
                await asyncio.sleep(0.001)
        finally:
            hold.set()
        with pytest.raises(asyncio.CancelledError):
            await consumer

    asyncio.run(main())
    assert closed == ["closed"]
    assert stats().running == 0


def test_an_exit_never_waits_for_an_in_flight_slot_it_would_free() -> None:
    # Bug: with max_in_flight=1, a call waiting for the lock the `with` block holds took
    # the only slot, and the exit that would release the lock waited for that slot.
    configure(max_in_flight=1)
    lock = asyncio.Lock()  # a pool of one connection, say

    @sync_bridge(timeout=5)
    @asynccontextmanager
    async def connection() -> AsyncIterator[str]:
        async with lock:
            yield "connection"

    async def wants_the_connection() -> str:
        async with lock:
            return "got it after the exit"

    with connection():
        waiting = run_async_task(wants_the_connection(), fire_and_forget=True)  # the slot
    assert waiting.result(10) == "got it after the exit"


async def not_a_context_manager() -> int:
    return 1


@asynccontextmanager
async def plain_session() -> AsyncIterator[str]:
    yield "session"


def test_sync_context_refuses_a_function_bridged_or_not_and_says_to_call_it() -> None:
    # Bug: a bridged function passed wrapt's proxy __aenter__ check, and failed later.
    for function in (plain_session, resource):
        with pytest.raises(TypeError, match=r"must be called: sync_context\(cm\(\)\)"):
            sync_context(function)  # type: ignore[arg-type]  # the mistake under test


def test_a_coroutine_given_to_sync_context_is_refused_and_closed() -> None:
    coro = not_a_context_manager()
    with pytest.raises(TypeError, match="expects an async context manager"):
        sync_context(coro)  # type: ignore[arg-type]  # the mistake under test
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    with sync_context(plain_session()) as value:  # and a real one still works
        assert value == "session"


def test_the_enter_and_exit_tasks_are_named_after_the_context_manager() -> None:
    @asynccontextmanager
    async def named_session() -> AsyncIterator[str]:
        task = asyncio.current_task()
        assert task is not None
        names.append(task.get_name())
        yield "in"
        task = asyncio.current_task()
        assert task is not None
        names.append(task.get_name())

    names: list[str] = []
    with sync_context(named_session()):
        pass
    qualname = named_session.__qualname__
    assert names == [f"{qualname}.__aenter__", f"{qualname}.__aexit__"]


def test_sync_context_takes_any_async_context_manager_a_mock_included() -> None:
    # Bug: anything with an `aio` attribute was taken for a bridged function, and refused.
    manager = MagicMock()
    manager.__aenter__.return_value = "entered"
    with sync_context(manager) as value:
        assert value == "entered"
    manager.__aexit__.assert_awaited_once_with(None, None, None)


def test_what_sync_context_and_sync_iter_refuse_is_left_open_for_its_owner() -> None:
    # Bug: a refused object's close() was called, closing a file or a client it was given.
    with tempfile.TemporaryFile() as file:
        with pytest.raises(TypeError, match="sync context manager: use `with` on it directly"):
            sync_context(file)  # type: ignore[arg-type]  # the mistake under test
        assert not file.closed
    numbers = (n for n in range(3))
    with pytest.raises(TypeError, match="a sync iterable needs no bridge"):
        sync_iter(numbers)  # type: ignore[arg-type]  # the mistake under test
    assert list(numbers) == [0, 1, 2]


def test_one_sync_context_serves_every_with_block_its_manager_allows() -> None:
    # Bug: the second `with` on the same sync_context() object failed with
    # "AttributeError: ... has no attribute 'args'", a reusable manager included.
    class Reusable:
        def __init__(self) -> None:
            self.entered = self.exited = 0

        async def __aenter__(self) -> int:
            self.entered += 1
            return self.entered

        async def __aexit__(self, *exc_info: object) -> None:
            self.exited += 1

    manager = Reusable()
    bridge = sync_context(manager, timeout=5)
    with bridge as first, bridge as second:  # nested: each block exits in its own context
        assert (first, second) == (1, 2)
    with bridge as third:
        assert third == 3
    assert manager.exited == 3


def test_a_with_block_shares_one_context_between_enter_and_exit() -> None:
    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")

    class Tagging:
        async def __aenter__(self) -> None:
            seen.set("set by __aenter__")

        async def __aexit__(self, *exc_info: object) -> None:
            exits.append(seen.get())

    exits: list[str] = []
    bridge = sync_context(Tagging())
    for _ in range(2):
        with bridge:
            pass
    assert exits == ["set by __aenter__"] * 2
    assert seen.get() == "unset"  # and nothing came back to the caller


def test_a_with_block_the_worker_shut_down_under_says_so_rather_than_exit_cleanly() -> None:
    # Bug: shutdown() finalised the generator (its except branch ran: a rollback), and the
    # exit then found nothing to resume and reported a clean exit, on a worker it started.
    events: list[str] = []

    @sync_bridge(timeout=5)
    @asynccontextmanager
    async def transaction() -> AsyncIterator[None]:
        events.append("begin")
        try:
            yield
        except BaseException as exc:
            events.append(f"rollback ({type(exc).__name__})")
            raise
        events.append("commit")

    closed = pytest.raises(WorkerNotRunningError, match=r"transaction was closed when the worker")
    with closed, transaction():
        shutdown(5)
    assert events == ["begin", "rollback (GeneratorExit)"]
    assert runtime.existing_worker() is None  # the exit started no worker to report on
