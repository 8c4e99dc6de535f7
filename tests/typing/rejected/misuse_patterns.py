"""Misuse of today's decorators that mypy --strict and pyright strict must both reject.

Each line ending in an "expect" comment must produce exactly those mypy error codes and at
least one pyright error, and no other line may produce either (see tests/test_typing.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sincpro_async_worker import fire_and_forget, sync_bridge


@sync_bridge
async def fetch(url: str) -> bytes:
    return url.encode()


@fire_and_forget
async def notify(user_id: int) -> None:
    return None


@sync_bridge
async def events() -> AsyncIterator[int]:
    yield 1


@sync_bridge
async def query(table: str, /, *, limit: int = 10) -> list[str]:
    return [table][:limit]


class Session:
    @sync_bridge
    async def refreshed(self) -> Session:
        return self


# A bridged call is synchronous: nothing to await, no Future to ask.
async def awaits_a_bridged_result() -> None:
    await fetch("u")  # expect: misc


fetch("u").result()  # expect: attr-defined
notify(1).result().upper()  # expect: attr-defined


# A generator bridge is a plain iterator.
async def iterates_a_generator_bridge_asynchronously() -> None:
    async for _ in events():  # expect: attr-defined
        pass


# Parameter kinds survive the decoration.
query(table="users")  # expect: call-arg
query("users", 5)  # expect: call-arg


# A timeout is a keyword; a number in the decorator's place is not a function.
@sync_bridge(5)  # expect: call-overload, untyped-decorator
async def timed() -> None:
    return None


# An async generator has no single result for a Future.
@fire_and_forget  # expect: arg-type
async def stream() -> AsyncIterator[int]:
    yield 1
