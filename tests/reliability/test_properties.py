"""Property-based tests: whatever the sequence of calls, the bridge stays usable and
no result is lost.

Hypothesis draws programs of submit / fire-and-forget / cancel / timeout / raise /
shutdown steps; the test runs each program and checks every outcome against a model.
Examples are kept few and small so the suite stays fast; the model, not the timing,
decides what is right (no step depends on how fast the machine is).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sincpro_async_worker import WorkerNotRunningError, run_async_task, shutdown, stats

from .support import wait_until_idle

FAST = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI never sees a new one
    suppress_health_check=[HealthCheck.too_slow],
)


class OwnError(Exception):
    pass


async def echo(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def fail(value: int) -> int:
    await asyncio.sleep(0)
    raise OwnError(value)


async def hang() -> None:
    await asyncio.sleep(3600)


async def wait_for_gate(gate: threading.Event, value: int) -> int:
    while not gate.is_set():  # polls, so it works on whichever loop runs it
        await asyncio.sleep(0.002)
    return value


STEPS = st.one_of(
    st.tuples(st.just("call"), st.integers()),
    st.tuples(st.just("raise"), st.integers()),
    st.tuples(st.just("fire"), st.integers()),
    st.tuples(st.just("fire_gated"), st.integers()),
    st.tuples(st.just("cancel"), st.integers(min_value=0)),
    st.tuples(st.just("timeout"), st.booleans()),
    st.tuples(st.just("shutdown"), st.sampled_from([0.0, 5.0])),
)


@pytest.mark.library_logs  # a shutdown without grace logs each task it cancels
@FAST
@given(program=st.lists(STEPS, max_size=14))
def test_any_sequence_of_calls_cancels_timeouts_and_shutdowns_loses_no_result(
    program: list[tuple[str, Any]],
) -> None:
    gate = threading.Event()
    # future, the value it must deliver, and whether a shutdown without grace (or its
    # owner) may have cancelled it instead
    futures: list[tuple[concurrent.futures.Future[Any], object, bool]] = []
    try:
        for step, arg in program:
            if step == "call":
                assert run_async_task(echo(arg), timeout=30) == arg
            elif step == "raise":
                with pytest.raises(OwnError) as raised:
                    run_async_task(fail(arg), timeout=30)
                assert raised.value.args == (arg,)
            elif step == "fire":
                futures.append((run_async_task(echo(arg), fire_and_forget=True), arg, False))
            elif step == "fire_gated":
                future = run_async_task(wait_for_gate(gate, arg), fire_and_forget=True)
                futures.append((future, arg, False))
            elif step == "cancel" and futures:
                index = arg % len(futures)
                future, value, _ = futures[index]
                if future.cancel():
                    futures[index] = (future, value, True)
            elif step == "timeout":
                if arg:
                    with pytest.raises(TimeoutError):
                        run_async_task(hang(), timeout=0.01)
                else:
                    expiring = run_async_task(hang(), timeout=0.01, fire_and_forget=True)
                    with pytest.raises(TimeoutError):
                        expiring.result(30)
            elif step == "shutdown":
                if arg:  # a graceful shutdown: open the gate so everything can finish
                    gate.set()
                shutdown(timeout=arg)
                futures = [(f, v, may_cancel or not arg) for f, v, may_cancel in futures]
                assert all(f.done() for f, _, _ in futures), "shutdown left a future pending"
                gate.clear()
        gate.set()
        for future, value, may_be_cancelled in futures:
            try:
                assert future.result(timeout=30) == value
            except concurrent.futures.CancelledError:
                assert may_be_cancelled, "a result was lost to a cancellation nobody asked for"
            except WorkerNotRunningError:
                assert may_be_cancelled, "a result was lost to a shutdown with a grace period"
        assert run_async_task(echo(1), timeout=30) == 1, "the bridge is no longer usable"
        assert wait_until_idle()
        snapshot = stats()
        assert snapshot.submitted == (
            snapshot.succeeded + snapshot.failed + snapshot.cancelled + snapshot.timed_out
        )
    finally:
        gate.set()
        shutdown(timeout=5)


@FAST
@given(timeout=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_a_timeout_is_accepted_exactly_when_it_is_none_or_a_number_of_seconds_ge_0(
    timeout: float | None,
) -> None:
    run_async_task(asyncio.sleep(0))
    before = stats().submitted
    valid = timeout is None or timeout >= 0  # NaN compares False; +inf means no limit
    future: concurrent.futures.Future[int] | None = None
    try:
        future = run_async_task(echo(3), timeout=timeout, fire_and_forget=True)
    except ValueError:
        assert not valid
        assert stats().submitted == before
    else:
        assert valid
        try:
            assert future.result(30) == 3
        except TimeoutError:
            assert timeout is not None
            assert timeout < 0.1  # only a tiny timeout may win the race


@FAST
@given(
    task=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=3),
        st.builds(object),
        st.just(echo),
        st.just(print),
    )
)
def test_anything_that_is_not_awaitable_is_refused_and_nothing_is_scheduled(task: Any) -> None:
    run_async_task(asyncio.sleep(0))
    before = stats().submitted
    for fire in (False, True):
        with pytest.raises(TypeError, match="expects a coroutine"):
            run_async_task(task, fire_and_forget=fire)
    assert stats().submitted == before
