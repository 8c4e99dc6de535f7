"""@sync_bridge and @fire_and_forget on every kind of callable (SPEC 2.2)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import gc
import inspect
import logging
import math
import pickle
import threading
import time
import typing
from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest

from sincpro_async_worker import fire_and_forget, run_async_task, stats, sync_bridge


async def scale(x: int, factor: int = 2) -> int:
    """Multiply on the worker loop."""
    await asyncio.sleep(0)
    return x * factor


def on_worker_thread() -> bool:
    return threading.current_thread().name == "sincpro-async-worker"


class Client:
    def __init__(self, base: int) -> None:
        self.base = base

    @sync_bridge
    async def add(self, x: int) -> int:
        assert on_worker_thread()
        return self.base + x

    @sync_bridge(timeout=5)
    async def add_with_timeout(self, x: int) -> int:
        return self.base + x

    @fire_and_forget
    async def add_later(self, x: int) -> int:
        return self.base + x

    @classmethod
    @sync_bridge
    async def name_outer(cls) -> str:
        return cls.__name__

    @sync_bridge
    @classmethod
    async def name_inner(cls) -> str:
        return cls.__name__

    @classmethod
    @fire_and_forget
    async def name_later(cls) -> str:
        return cls.__name__

    @staticmethod
    @sync_bridge
    async def static_outer(x: int) -> int:
        return x + 1

    @sync_bridge
    @staticmethod
    async def static_inner(x: int) -> int:
        return x + 2

    @fire_and_forget(timeout=5)
    @staticmethod
    async def static_later(x: int) -> int:
        return x + 3


class SubClient(Client):
    pass


def test_bare_sync_bridge_runs_on_the_worker_and_returns_the_result() -> None:
    bridged = sync_bridge(scale)
    assert bridged(21) == 42
    assert bridged(2, factor=5) == 10


def test_sync_bridge_with_timeout_cancels_slow_calls() -> None:
    @sync_bridge(timeout=0.05)
    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        slow()
    assert stats().timed_out == 1


def test_bare_fire_and_forget_returns_a_future_at_once() -> None:
    started = threading.Event()
    release = threading.Event()

    @fire_and_forget
    async def wait_for_release() -> str:
        started.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 5)
        return "released"

    future = wait_for_release()
    assert isinstance(future, concurrent.futures.Future)
    assert started.wait(5)
    assert not future.done()
    release.set()
    assert future.result(5) == "released"


def test_fire_and_forget_with_timeout_fails_the_future() -> None:
    @fire_and_forget(timeout=0.05)
    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        slow().result(5)


def test_instance_methods_bind_self() -> None:
    client = Client(10)
    assert client.add(1) == 11
    assert client.add_with_timeout(2) == 12
    assert client.add_later(3).result(5) == 13


@pytest.mark.parametrize("cls", [Client, SubClient])
def test_classmethods_bind_cls_in_both_decorator_orders(cls: type[Client]) -> None:
    assert cls.name_outer() == cls.__name__
    assert cls.name_inner() == cls.__name__
    assert cls(0).name_inner() == cls.__name__
    assert cls.name_later().result(5) == cls.__name__


def test_staticmethods_work_in_both_decorator_orders() -> None:
    assert Client.static_outer(1) == 2  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert Client.static_inner(1) == 3  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert Client(0).static_inner(1) == 3  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge
    assert Client.static_later(1).result(5) == 4  # type: ignore[call-arg]  # mypy limit: @staticmethod over a bridge


def test_exceptions_propagate_with_their_type() -> None:
    @sync_bridge
    async def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        fail()


def test_decorators_use_the_same_loop_as_run_async_task() -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    assert sync_bridge(loop_id)() == run_async_task(loop_id())
    assert fire_and_forget(loop_id)().result(5) == run_async_task(loop_id())


# -- looking like the original function ---------------------------------------------


@pytest.mark.parametrize("decorator", [sync_bridge, fire_and_forget, sync_bridge(timeout=1)])
def test_metadata_matches_the_async_function(decorator: Any) -> None:
    wrapped = decorator(scale)
    assert inspect.signature(wrapped).parameters == inspect.signature(scale).parameters
    assert wrapped.__name__ == "scale"
    assert wrapped.__qualname__ == "scale"
    assert wrapped.__doc__ == "Multiply on the worker loop."
    assert wrapped.__module__ == __name__
    assert wrapped.__wrapped__ is scale


@pytest.mark.parametrize("decorator", [sync_bridge, fire_and_forget, sync_bridge(timeout=1)])
def test_the_aio_twin_has_the_async_functions_signature_name_and_docstring(
    decorator: Any,
) -> None:
    # Bug: `.aio` was a functools.partial: (*args, **kwargs), partial's docstring, no name.
    twin = decorator(scale).aio
    assert inspect.signature(twin) == inspect.signature(scale)
    assert inspect.iscoroutinefunction(twin)
    assert twin.__name__ == "scale"
    assert twin.__doc__ == "Multiply on the worker loop."
    assert list(inspect.signature(Client(0).add.aio).parameters) == ["x"]


def test_the_signature_and_type_hints_say_what_a_call_returns() -> None:
    assert inspect.signature(sync_bridge(scale)) == inspect.signature(scale)
    fired = fire_and_forget(scale)
    assert inspect.signature(fired).return_annotation == concurrent.futures.Future[int]
    assert typing.get_type_hints(fired)["return"] == concurrent.futures.Future[int]

    async def ticks() -> AsyncIterator[int]:
        yield 1

    generator = sync_bridge(ticks)
    assert inspect.signature(generator).return_annotation == Generator[int, None, None]
    assert typing.get_type_hints(generator)["return"] == Generator[int, None, None]


def test_method_signature_drops_self_when_bound() -> None:
    assert list(inspect.signature(Client(0).add).parameters) == ["x"]
    assert Client.add.__qualname__ == "Client.add"


@pytest.mark.parametrize(
    "target",
    [
        sync_bridge(scale),
        fire_and_forget(scale),
        Client(0).add,
        Client.add,
        Client.name_outer,
        Client.name_inner,
        Client.static_outer,
        Client.static_inner,
        Client(0).add_later,
    ],
    ids=lambda t: getattr(t, "__qualname__", repr(t)),
)
def test_decorated_callables_are_not_coroutine_functions(target: Any) -> None:
    # Django, pytest and FastAPI await anything these checks call a coroutine function.
    assert not inspect.iscoroutinefunction(target)
    assert not asyncio.iscoroutinefunction(target)  # noqa: RUF100 - deprecated in 3.14 only
    assert not inspect.isasyncgenfunction(target)


# -- decoration-time errors ----------------------------------------------------------


def plain(x: int) -> int:
    return x


def gen() -> Any:
    yield 1


async def agen() -> Any:
    yield 1


@pytest.mark.parametrize("decorator", [sync_bridge, fire_and_forget])
@pytest.mark.parametrize("target", [plain, gen, len, 42, "scale"], ids=repr)
def test_decorating_something_that_is_not_async_is_a_type_error_naming_it(
    decorator: Any, target: Any
) -> None:
    name = getattr(target, "__qualname__", repr(target))
    with pytest.raises(TypeError, match=rf"@{decorator.__name__} expects an async def.*{name}"):
        decorator(target)


def test_a_number_passed_as_the_decorator_argument_gets_a_timeout_hint() -> None:
    with pytest.raises(TypeError, match=r"@sync_bridge\(timeout=5\)"):
        sync_bridge(5)  # type: ignore[call-overload]  # the point of the test


def test_fire_and_forget_refuses_async_generators() -> None:
    with pytest.raises(TypeError, match="async generator function agen"):
        fire_and_forget(agen)


@pytest.mark.parametrize("decorator", [sync_bridge, fire_and_forget])
@pytest.mark.parametrize("timeout", [-1, math.nan, "5", [5]], ids=repr)
def test_a_bad_timeout_is_a_value_error_at_decoration_time(decorator: Any, timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout must be"):
        decorator(timeout=timeout)


def test_an_infinite_timeout_means_no_limit() -> None:
    @sync_bridge(timeout=math.inf)
    async def answer() -> int:
        return 42

    @fire_and_forget(timeout=math.inf)
    async def answer_later() -> int:
        return 42

    assert answer() == 42
    assert answer_later().result(10) == 42


def test_a_functools_partial_is_refused_at_decoration_time() -> None:
    with pytest.raises(TypeError, match=r"functools\.partial"):
        sync_bridge(functools.partial(scale, 2))


@sync_bridge
async def scaled(x: int) -> int:
    return await scale(x)


@fire_and_forget
async def scaled_later(x: int) -> int:
    return await scale(x)


def test_decorated_functions_pickle_and_copy_like_plain_functions() -> None:
    # By reference, as a plain function: what multiprocessing and process pools rely on.
    assert pickle.loads(pickle.dumps(scaled)) is scaled
    assert pickle.loads(pickle.dumps(scaled_later)) is scaled_later
    assert copy.copy(scaled) is scaled
    assert copy.deepcopy(scaled_later) is scaled_later
    assert pickle.loads(pickle.dumps(scaled))(3) == 6


def test_bound_decorated_methods_pickle_and_copy_like_bound_methods() -> None:
    method = pickle.loads(pickle.dumps(Client(10).add))
    assert method(5) == 15
    from_the_class = pickle.loads(pickle.dumps(Client.add))  # for pool.map(Client.add, ...)
    assert from_the_class(Client(1), 2) == 3
    assert copy.copy(Client.add)(Client(2), 2) == copy.deepcopy(Client.add)(Client(2), 2) == 4  # type: ignore[call-arg, arg-type]  # mypy limit: unbound access through the class
    assert copy.copy(Client(1).add_later)(1).result(5) == 2
    assert copy.deepcopy(Client(2).add)(2) == 4


def test_an_aio_call_cancelled_as_its_task_fails_logs_no_unretrieved_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Bug: the failure reached the future just before the caller's cancellation, nobody
    # read it (asyncio.wrap_future does not, for a cancelled caller), and the library
    # logged it at ERROR as a fire-and-forget failure never retrieved.
    @sync_bridge
    async def lookup() -> None:
        await asyncio.sleep(0)
        raise ValueError("upstream failed")

    async def main() -> None:
        call = asyncio.create_task(lookup.aio())
        await asyncio.sleep(0)  # the call is now waiting for the worker
        deadline = time.monotonic() + 10
        while stats().failed == 0:  # this loop held (on purpose) until the task failed
            assert time.monotonic() < deadline, "the task did not fail"
            time.sleep(0.001)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    caplog.set_level(logging.DEBUG, logger="sincpro_async_worker")
    asyncio.run(main())
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert stats().failed == 1
