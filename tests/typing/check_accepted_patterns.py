"""The shapes real code decorates, and the types both checkers must infer for them.

Beyond the basics in check_accepted.py: `Self` returns, generics, every parameter kind,
properties, overloads and stacking with other decorators. Checked by the main `mypy` run
and by pyright strict (tests/test_typing.py); never executed.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Generic, TypeVar, overload

from typing_extensions import ParamSpec, Self, assert_type

from sincpro_async_worker import fire_and_forget, sync_bridge

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
U = TypeVar("U")


# -- methods returning Self --------------------------------------------------------------


class Session:
    @sync_bridge
    async def refreshed(self) -> Self:
        return self

    @fire_and_forget
    async def refreshed_later(self) -> Self:
        return self

    @classmethod
    @sync_bridge
    async def open(cls) -> Self:
        return cls()

    @sync_bridge
    async def sessions(self) -> AsyncIterator[Self]:
        yield self


class AdminSession(Session):
    pass


# -- generic functions and Generic classes ------------------------------------------------


@sync_bridge
async def first(items: list[T]) -> T:
    return items[0]


@fire_and_forget
async def first_later(items: list[T]) -> T:
    return items[0]


@sync_bridge
async def each(items: list[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


class Repository(Generic[T]):
    def __init__(self, item: T) -> None:
        self.item = item

    @sync_bridge
    async def get(self, key: str) -> T:
        return self.item

    @fire_and_forget
    async def save(self, item: T) -> T:
        return item

    @sync_bridge
    async def scan(self) -> AsyncIterator[T]:
        yield self.item

    @sync_bridge
    async def convert(self, to: Callable[[T], U]) -> U:
        return to(self.item)


# -- every kind of parameter -------------------------------------------------------------


@sync_bridge
async def query(table: str, /, columns: list[str], *, limit: int = 10) -> list[str]:
    return columns[:limit]


@fire_and_forget
async def publish(topic: str, /, *, retain: bool = False) -> int:
    return len(topic)


@sync_bridge
async def collect(*values: int, **labels: str) -> dict[str, int]:
    return {label: sum(values) for label in labels}


@sync_bridge
async def prefixed(prefix: str, /, *parts: str, sep: str = "/") -> str:
    return prefix + sep.join(parts)


class Mailer:
    @sync_bridge
    async def send(self, to: str, /, *cc: str, subject: str, **headers: str) -> int:
        return 1 + len(cc)


# -- properties over bridges --------------------------------------------------------------


class Account:
    @sync_bridge
    async def _load_balance(self) -> int:
        return 0

    @property
    def balance(self) -> int:
        return self._load_balance()

    @functools.cached_property
    def owner(self) -> str:
        return self._load_owner()

    @sync_bridge
    async def _load_owner(self) -> str:
        return "me"

    @property
    @sync_bridge
    async def limit(self) -> int:
        return 100

    @functools.cached_property
    @sync_bridge
    async def currency(self) -> str:
        return "EUR"


# -- overloads: plain `def` signatures over one decorated implementation -----------------


@overload
def lookup(key: str) -> str: ...
@overload
def lookup(key: str, default: int) -> str | int: ...
@sync_bridge
async def lookup(key: str, default: int | None = None) -> str | int:
    return key if default is None else default


@overload
def lookup_later(key: str) -> Future[str]: ...
@overload
def lookup_later(key: int) -> Future[int]: ...
@fire_and_forget
async def lookup_later(key: str | int) -> Any:  # Future is invariant: see docs/decorators.md
    return key


class Cache:
    @overload
    def get(self, key: str) -> bytes: ...
    @overload
    def get(self, key: str, default: T) -> bytes | T: ...
    @sync_bridge
    async def get(self, key: str, default: object = None) -> object:
        return default


# -- stacking with other decorators --------------------------------------------------------


def logged(func: Callable[P, R]) -> Callable[P, R]:
    """A typical typed synchronous decorator, the `functools.wraps` way."""

    @functools.wraps(func)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        return func(*args, **kwargs)

    return inner


def retried(
    func: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """A typical typed async decorator, applied before bridging."""

    @functools.wraps(func)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        return await func(*args, **kwargs)

    return inner


@logged
@sync_bridge
async def logged_fetch(url: str) -> bytes:
    return url.encode()


@sync_bridge
@retried
async def retried_fetch(url: str, *, attempts: int = 3) -> bytes:
    return url.encode()


@fire_and_forget
@retried
async def retried_notify(user_id: int) -> None:
    return None


@functools.cache
@sync_bridge
async def settings(name: str) -> dict[str, str]:
    return {"name": name}


@functools.lru_cache(maxsize=32)
@sync_bridge
async def region(name: str) -> str:
    return name


class Service:
    @logged
    @sync_bridge
    async def ping(self, payload: bytes) -> int:
        return len(payload)

    @sync_bridge
    @retried
    async def pong(self, payload: bytes) -> int:
        return len(payload)


def check() -> None:
    assert_type(Session().refreshed(), Session)  # type: ignore[assert-type]  # mypy limit: Self in a bridged method
    assert_type(AdminSession().refreshed(), AdminSession)  # type: ignore[assert-type]  # mypy limit: Self in a bridged method
    assert_type(AdminSession().refreshed_later(), Future[AdminSession])  # type: ignore[assert-type]  # mypy limit: Self in a bridged method
    assert_type(AdminSession.open(), AdminSession)  # type: ignore[assert-type]  # mypy limit: Self in a bridged method
    # Generator bridges: the item types here; the generator's own type is in check_accepted.py.
    assert_type(next(AdminSession().sessions()), AdminSession)  # type: ignore[assert-type]  # mypy limit: Self in a bridged method

    assert_type(first([1, 2]), int)
    assert_type(first(["a"]), str)
    assert_type(first_later([1.5]), Future[float])
    assert_type(next(each([b"x"])), bytes)
    repository = Repository(3)
    assert_type(repository.get("k"), int)
    assert_type(repository.save(4), Future[int])
    assert_type(next(repository.scan()), int)
    assert_type(repository.convert(str), str)
    assert_type(Repository[str]("s").get("k"), str)

    assert_type(query("users", ["id"]), list[str])
    assert_type(query("users", columns=["id"], limit=1), list[str])
    assert_type(publish("t"), Future[int])
    assert_type(publish("t", retain=True), Future[int])
    assert_type(collect(), dict[str, int])
    assert_type(collect(1, 2, a="x"), dict[str, int])
    assert_type(prefixed("p"), str)
    assert_type(prefixed("p", "a", "b", sep="."), str)
    assert_type(Mailer().send("to", "cc1", "cc2", subject="s", reply_to="r"), int)

    account = Account()
    assert_type(account.balance, int)
    assert_type(account.owner, str)
    assert_type(account.limit, int)
    assert_type(account.currency, str)

    assert_type(lookup("k"), str)
    assert_type(lookup("k", 1), str | int)
    assert_type(lookup_later("k"), Future[str])
    assert_type(lookup_later(1), Future[int])
    assert_type(Cache().get("k"), bytes)
    assert_type(Cache().get("k", 0.5), bytes | float)

    assert_type(logged_fetch("u"), bytes)
    assert_type(retried_fetch("u", attempts=1), bytes)
    assert_type(retried_notify(1), Future[None])
    assert_type(settings("x"), dict[str, str])
    assert_type(region("x"), str)
    service = Service()
    assert_type(service.ping(b"x"), int)
    assert_type(service.pong(b"x"), int)
    assert_type(functools.partial(first, [1])(), int)
