"""Misuse of issue 10's API that mypy --strict and pyright strict must both reject.

Pending: left out of both checkers until that API lands (`PENDING_AIO_API` in
tests/test_typing.py). Each line ending in an "expect" comment must produce exactly those
mypy error codes and at least one pyright error, and no other line may produce either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sincpro_async_worker import fire_and_forget, sync_bridge, sync_context, sync_iter


@sync_bridge
async def fetch(url: str) -> bytes:
    return url.encode()


@fire_and_forget
async def notify(user_id: int) -> None:
    return None


@sync_bridge
async def events() -> AsyncIterator[int]:
    yield 1


class Client:
    @sync_bridge
    async def get(self, path: str) -> int:
        return 1


async def misuse_from_async_code() -> None:
    await fetch.aio(42)  # expect: arg-type
    await Client().get.aio(1)  # expect: arg-type
    await fetch.aio()  # expect: call-arg
    await fetch("u")  # expect: misc
    await notify(1)  # expect: misc
    notify.aio(1).result()  # expect: attr-defined
    fetch.aio("u")  # expect: unused-coroutine
    for _ in events.aio():  # expect: attr-defined
        pass


sync_iter(1)  # expect: arg-type
sync_context(open("x"))  # noqa: SIM115  # expect: arg-type
sync_iter(events())  # expect: arg-type
