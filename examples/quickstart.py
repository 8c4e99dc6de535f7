"""The five-minute tour: run async code from plain synchronous code.

Run it with `make demo`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator

from sincpro_async_worker import fire_and_forget, run_async_task, stats, sync_bridge

request_id = contextvars.ContextVar("request_id", default="-")


@sync_bridge
async def fetch_price(symbol: str) -> float:
    """Pretend to ask a remote service for a price."""
    await asyncio.sleep(0.05)
    return {"ACME": 12.5, "INITECH": 7.25}.get(symbol, 0.0)


@sync_bridge(timeout=0.2)
async def too_slow() -> None:
    await asyncio.sleep(10)


@fire_and_forget
async def audit(event: str) -> str:
    await asyncio.sleep(0.01)
    return f"audited {event} for request {request_id.get()}"


@sync_bridge
async def countdown(start: int) -> AsyncIterator[int]:
    for n in range(start, 0, -1):
        await asyncio.sleep(0.01)
        yield n


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def main() -> None:
    request_id.set("req-42")

    print("1. decorated call:        ACME =", fetch_price("ACME"))

    started = time.perf_counter()
    prices = [fetch_price(s) for s in ("ACME", "INITECH")]
    print(f"2. two calls in {time.perf_counter() - started:.2f} s: {prices}")

    print("3. run_async_task:        1 + 2 =", run_async_task(add(1, 2)))

    future = audit("login")
    print("4. fire-and-forget:      ", future.result(timeout=5))

    try:
        too_slow()
    except TimeoutError as exc:
        print("5. timeout:               TimeoutError:", exc)

    print("6. async generator:       countdown =", list(countdown(3)))

    snapshot = stats()
    print(
        f"7. stats:                 {snapshot.submitted} submitted, "
        f"{snapshot.succeeded} succeeded, {snapshot.timed_out} timed out, "
        f"{snapshot.running} running"
    )


if __name__ == "__main__":
    main()
