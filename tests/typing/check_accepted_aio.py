"""The types of issue 10's API: `.aio` twins, context managers, `sync_context`, `sync_iter`.

Pending: this file is left out of both checkers until that API lands (the switch is
`PENDING_AIO_API` in tests/test_typing.py, and the matching mypy `exclude` in
pyproject.toml). Checked by the main `mypy` run and by pyright strict once enabled; never
executed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
)
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from typing_extensions import ParamSpec, assert_type

from sincpro_async_worker import fire_and_forget, sync_bridge, sync_context, sync_iter

P = ParamSpec("P")
R = TypeVar("R")


# -- .aio on functions ---------------------------------------------------------------------


@sync_bridge
async def fetch(url: str, retries: int = 3) -> bytes:
    return url.encode()


@sync_bridge(timeout=5)
async def slow(n: int) -> list[int]:
    return [n]


@fire_and_forget
async def notify(user_id: int) -> None:
    return None


@fire_and_forget(timeout=2.5)
async def compute(x: float) -> float:
    return x


@sync_bridge
async def query(table: str, /, *, limit: int = 10) -> list[str]:
    return [table][:limit]


# -- .aio on methods, with self and cls bound ------------------------------------------------


class Client:
    @sync_bridge
    async def get(self, path: str) -> dict[str, int]:
        return {path: 1}

    @fire_and_forget
    async def post(self, path: str) -> int:
        return 201

    @sync_bridge
    async def stream(self, path: str) -> AsyncIterator[bytes]:
        yield path.encode()

    @classmethod
    @sync_bridge
    async def build(cls, name: str) -> str:
        return name

    @sync_bridge
    @classmethod
    async def build_inner(cls, name: str) -> str:
        return name

    @classmethod
    @fire_and_forget
    async def warm_up(cls, size: int) -> int:
        return size

    @staticmethod
    @sync_bridge
    async def version(major: int) -> int:
        return major

    @sync_bridge
    @staticmethod
    async def version_inner(major: int) -> int:
        return major

    @staticmethod
    @fire_and_forget
    async def ping() -> bool:
        return True

    @sync_bridge
    @contextlib.asynccontextmanager
    async def session(self, user: str) -> AsyncGenerator[Session, None]:
        yield Session(user)


class Session:
    def __init__(self, user: str) -> None:
        self.user = user


# -- async generators, however annotated, become generators -----------------------------------


@sync_bridge
async def ticks(n: int) -> AsyncIterator[int]:
    yield n


@sync_bridge
async def ticks_iterable(n: int) -> AsyncIterable[int]:
    yield n


@sync_bridge
async def ticks_generator(n: int) -> AsyncGenerator[int, None]:
    yield n


@sync_bridge(timeout=1)
async def ticks_timed() -> AsyncIterator[int]:
    yield 1


# -- async context managers ----------------------------------------------------------------------


@sync_bridge
@contextlib.asynccontextmanager
async def connect(dsn: str) -> AsyncGenerator[Session, None]:
    yield Session(dsn)


class Pool:
    """Any object with `__aenter__` / `__aexit__`, as `sync_context` takes them."""

    async def __aenter__(self) -> Session:
        return Session("pool")

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class Body:
    """Any async iterable, as `sync_iter` takes them."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"chunk"


async def numbers() -> AsyncIterator[int]:
    yield 1


# -- anything returning an awaitable, as typed async decorators do -------------------------------


def traced(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(func)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        return await func(*args, **kwargs)

    return inner


@sync_bridge
@traced
async def traced_fetch(url: str) -> bytes:
    return url.encode()


@fire_and_forget
@traced
async def traced_notify(user_id: int) -> bool:
    return True


def check_sync_calls() -> None:
    assert_type(fetch("u"), bytes)
    assert_type(notify(1), Future[None])
    assert_type(ticks(1), Generator[int, None, None])
    assert_type(ticks_iterable(1), Generator[int, None, None])
    assert_type(ticks_generator(1), Generator[int, None, None])
    assert_type(ticks_timed(), Generator[int, None, None])
    assert_type(Client().stream("/"), Generator[bytes, None, None])
    # A generator bridge is a generator: it can be closed, and annotated as one.
    ticks(1).close()
    with contextlib.closing(ticks(1)) as closing_ticks:
        assert_type(next(closing_ticks), int)
    annotated: Generator[int, None, None] = ticks_iterable(1)
    assert_type(annotated, Generator[int, None, None])

    assert_type(connect("db"), AbstractContextManager[Session])
    with connect("db") as session:
        assert_type(session, Session)
    with Client().session("me") as client_session:
        assert_type(client_session, Session)

    assert_type(sync_context(Pool()), AbstractContextManager[Session])
    with sync_context(Pool(), timeout=2.0) as pooled:
        assert_type(pooled, Session)
    assert_type(sync_iter(numbers()), Generator[int, None, None])
    for chunk in sync_iter(Body(), timeout=1.0):
        assert_type(chunk, bytes)

    assert_type(traced_fetch("u"), bytes)
    assert_type(traced_notify(1), Future[bool])


async def plain_fetch(url: str) -> bytes:
    return url.encode()


def check_the_functional_form_and_the_metadata() -> None:
    timed_fetch = sync_bridge(plain_fetch, timeout=1)
    assert_type(timed_fetch("u"), bytes)
    assert_type(fire_and_forget(plain_fetch, timeout=1)("u"), Future[bytes])
    assert_type(fetch.__name__, str)
    assert_type(fetch.__qualname__, str)
    assert_type(fetch.__wrapped__, Callable[..., Any])


async def check_aio() -> None:
    pending = assert_type(fetch.aio("u"), Coroutine[Any, Any, bytes])
    assert_type(await pending, bytes)
    assert_type(await fetch.aio("u", retries=1), bytes)
    assert_type(await slow.aio(1), list[int])
    pending_notify = assert_type(notify.aio(1), Coroutine[Any, Any, None])
    assert_type(await pending_notify, None)
    assert_type(await compute.aio(1.0), float)
    assert_type(await query.aio("users", limit=1), list[str])
    twin: Callable[[str], Coroutine[Any, Any, bytes]] = fetch.aio
    assert_type(await twin("u"), bytes)

    client = Client()
    assert_type(await client.get.aio("/"), dict[str, int])
    assert_type(await client.post.aio("/"), int)
    assert_type(await Client.build.aio("n"), str)
    assert_type(await client.build.aio("n"), str)
    assert_type(await Client.build_inner.aio("n"), str)
    assert_type(await Client.warm_up.aio(1), int)
    assert_type(await Client.version.aio(3), int)  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert_type(await client.version.aio(3), int)  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert_type(await Client.version_inner.aio(3), int)  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert_type(await Client.ping.aio(), bool)
    method_twin: Callable[[str], Coroutine[Any, Any, dict[str, int]]] = client.get.aio
    assert_type(await method_twin("/"), dict[str, int])

    assert_type(ticks.aio(1), AsyncGenerator[int, None])
    async with contextlib.aclosing(ticks.aio(1)) as closing_ticks:
        async for tick in closing_ticks:
            assert_type(tick, int)
    async for tick in ticks.aio(1):
        assert_type(tick, int)
    async for tick in ticks_iterable.aio(1):
        assert_type(tick, int)
    async for tick in ticks_generator.aio(1):
        assert_type(tick, int)
    async for piece in client.stream.aio("/"):
        assert_type(piece, bytes)

    assert_type(await traced_fetch.aio("u"), bytes)
    assert_type(await traced_notify.aio(1), bool)
