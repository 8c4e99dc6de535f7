"""SystemExit, KeyboardInterrupt and other BaseExceptions do not kill the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from sincpro_async_worker import run_async_task


class Custom(BaseException):
    pass


async def ok() -> str:
    await asyncio.sleep(0)
    return "still working"


def raising(exc: BaseException, suspend_first: bool) -> Coroutine[Any, Any, None]:
    async def coro() -> None:
        if suspend_first:
            await asyncio.sleep(0)
        raise exc

    return coro()


@pytest.mark.parametrize("suspend_first", [False, True], ids=["first-step", "later-step"])
@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt, Custom])
def test_base_exception_reaches_the_caller_and_the_next_call_works(
    exc_type: type[BaseException], suspend_first: bool
) -> None:
    with pytest.raises(exc_type):
        run_async_task(raising(exc_type(), suspend_first), timeout=10)
    assert run_async_task(ok(), timeout=10) == "still working"


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt, Custom])
def test_base_exception_in_fire_and_forget_lands_on_the_future(
    exc_type: type[BaseException],
) -> None:
    future = run_async_task(raising(exc_type(), True), fire_and_forget=True)
    with pytest.raises(exc_type):
        future.result(timeout=10)
    assert run_async_task(ok(), timeout=10) == "still working"
