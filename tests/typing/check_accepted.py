"""What mypy --strict must accept, and the exact types it must infer.

Checked by the main `mypy` run (this folder is part of `files`); never executed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from concurrent.futures import Future

from typing_extensions import assert_type

from sincpro_async_worker import fire_and_forget, run_async_task, sync_bridge


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
async def events(name: str) -> AsyncIterator[str]:
    yield name


@sync_bridge(timeout=1)
async def numbers() -> AsyncIterator[int]:
    yield 1


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

    @staticmethod
    @sync_bridge
    async def version() -> tuple[int, int]:
        return (1, 0)

    @sync_bridge
    @staticmethod
    async def version_inner(major: int) -> int:
        return major

    @classmethod
    @fire_and_forget
    async def warm_up(cls, size: int) -> int:
        return size

    @fire_and_forget
    @classmethod
    async def warm_up_inner(cls, size: int) -> int:
        return size

    @staticmethod
    @fire_and_forget
    async def ping() -> bool:
        return True

    @fire_and_forget
    @staticmethod
    async def ping_inner(payload: bytes) -> int:
        return len(payload)

    @sync_bridge
    async def __enter__(self) -> Client:
        return self

    @sync_bridge
    async def __exit__(self, *exc: object) -> None:
        return None


async def plain(x: int) -> str:
    return str(x)


def check() -> None:
    assert_type(fetch("u"), bytes)
    assert_type(fetch("u", retries=1), bytes)
    assert_type(slow(1), list[int])
    assert_type(notify(1), Future[None])
    assert_type(compute(1.0), Future[float])
    assert_type(events("x"), Generator[str, None, None])
    assert_type(numbers(), Generator[int, None, None])

    client = Client()
    assert_type(client.get("/"), dict[str, int])
    assert_type(client.post("/"), Future[int])
    assert_type(client.stream("/"), Generator[bytes, None, None])
    assert_type(Client.build("n"), str)
    assert_type(client.build("n"), str)
    assert_type(Client.build_inner("n"), str)
    assert_type(Client.version(), tuple[int, int])
    assert_type(Client.version_inner(3), int)  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert_type(Client.warm_up(1), Future[int])
    assert_type(client.warm_up(1), Future[int])
    assert_type(Client.warm_up_inner(1), Future[int])
    assert_type(Client.ping(), Future[bool])
    assert_type(client.ping(), Future[bool])
    assert_type(Client.ping_inner(b"x"), Future[int])  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    with Client() as entered:
        assert_type(entered, Client)

    assert_type(run_async_task(plain(1)), str)
    assert_type(run_async_task(plain(1), 5.0), str)
    assert_type(run_async_task(plain(1), timeout=None, fire_and_forget=False), str)
    assert_type(run_async_task(plain(1), fire_and_forget=True), Future[str])
    assert_type(run_async_task(plain(1), 1.0, True), Future[str])
    flag: bool = bool(len("x"))
    assert_type(run_async_task(plain(1), fire_and_forget=flag), str | Future[str])
