"""Django: sync views call `@sync_bridge` functions; async views must await instead.

Views are exercised with Django's own test clients: `Client` goes through the WSGI
handler in this thread, `AsyncClient` through the ASGI handler on a loop of its own.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import asgiref.sync
import pytest
from django.test import AsyncClient, Client

from examples.django_app import setup, views
from examples.django_app.services import greeting, lookup_greeting

from .support import run_example_module

WORKER_THREAD = "sincpro-async-worker"


@pytest.fixture(scope="module", autouse=True)
def _django_settings() -> None:
    """Configure Django once, with the example project's settings (no database)."""
    setup()


def _get_async(url: str) -> dict[str, Any]:
    """GET `url` through Django's ASGI handler, on a fresh loop, within a deadline.

    `wait_for` bounds a view that awaits forever; one that blocks the loop itself would
    never let it fire, so those tests also carry a `timeout` mark (pytest-timeout
    interrupts the blocked thread).
    """

    async def get() -> dict[str, Any]:
        response = await AsyncClient().get(url)
        assert response.status_code == 200, response.content
        answer: dict[str, Any] = response.json()
        return answer

    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(get(), 20)

    return asyncio.run(bounded())


@pytest.mark.parametrize("helper", [greeting, views.status], ids=["helper", "view"])
def test_django_sees_decorated_callables_as_synchronous(helper: object) -> None:
    assert not asgiref.sync.iscoroutinefunction(helper)
    assert not inspect.iscoroutinefunction(helper)


def test_the_undecorated_coroutine_function_stays_reachable() -> None:
    assert inspect.unwrap(greeting) is lookup_greeting


def test_a_sync_view_calls_the_bridge_and_the_coroutine_runs_on_the_worker_loop() -> None:
    response = Client().get("/hello/", {"name": "Ada"})
    assert response.status_code == 200
    assert response.json() == {
        "greeting": "Hello, Ada!",
        "ran_in_thread": WORKER_THREAD,
        "view_thread": "MainThread",
    }


def test_a_decorated_async_def_serves_as_a_sync_view() -> None:
    response = Client().get("/status/")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "ran_in_thread": WORKER_THREAD}


@pytest.mark.timeout(30)
def test_a_bridge_call_in_an_async_view_works_but_blocks_the_view_loop() -> None:
    answer = _get_async("/async/blocking/?name=Ada")
    assert answer["greeting"] == "Hello, Ada!"
    assert answer["ran_in_thread"] == WORKER_THREAD
    assert answer["view_loop_was_free"] is False


@pytest.mark.timeout(30)
def test_an_async_view_awaiting_the_future_leaves_its_loop_free() -> None:
    answer = _get_async("/async/future/?name=Ada")
    assert answer["greeting"] == "Hello, Ada!"
    assert answer["ran_in_thread"] == WORKER_THREAD
    assert answer["view_loop_was_free"] is True


@pytest.mark.timeout(30)
def test_an_async_view_awaiting_the_coroutine_runs_it_on_the_view_loop() -> None:
    answer = _get_async("/async/awaited/?name=Ada")
    assert answer["greeting"] == "Hello, Ada!"
    assert answer["ran_in_thread"] != WORKER_THREAD
    assert answer["view_loop_was_free"] is True


def test_the_example_runs_as_a_script() -> None:
    result = run_example_module("examples.django_app")
    assert result.returncode == 0, result.stderr
    assert "'view_loop_was_free': False" in result.stdout  # the blocking view
    assert result.stdout.count("'view_loop_was_free': True") == 2
    assert result.stdout.count("Hello, Ada!") == 4
