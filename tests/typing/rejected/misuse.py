"""What mypy --strict must reject.

Each line ending in an "expect" comment must produce exactly that error code, and no other
line may produce one (see tests/test_typing.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sincpro_async_worker import fire_and_forget, run_async_task, sync_bridge


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

    @classmethod
    @sync_bridge
    async def build(cls, name: str) -> str:
        return name


async def plain() -> int:
    return 1


def plain_sync() -> int:
    return 1


fetch(42)  # expect: arg-type
fetch()  # expect: call-arg
fetch("u", "extra")  # expect: call-arg
notify("not an int")  # expect: arg-type
text: str = fetch("u")  # expect: assignment
number: int = notify(1)  # expect: assignment
result: int = events()  # expect: assignment
Client().get(1)  # expect: arg-type
Client.build(2)  # expect: arg-type
run_async_task(plain)  # expect: call-overload
run_async_task(plain(), timeout="5")  # expect: call-overload
wrong: str = run_async_task(plain())  # expect: assignment
sync_bridge(plain_sync)  # expect: arg-type
fire_and_forget(plain_sync)  # expect: arg-type
