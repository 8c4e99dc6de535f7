"""Griffe extension: signatures as a caller of the public API sees them.

Griffe reads `@sync_bridge async def fetch(url) -> bytes` from the source and labels it
`async`, with the coroutine's signature; but what a caller gets is a plain function that
blocks and returns `bytes` (and with `@fire_and_forget`, one that returns a
`concurrent.futures.Future[bytes]` at once). For every function decorated with either,
bare or with `timeout=`, this extension drops the `async` label and rewrites the return
annotation to what a call returns: `R` for `sync_bridge`, `Iterator[Y]` for a bridged
async generator, `Future[R]` for `fire_and_forget`.

It also drops private names from union annotations (`float | _Unset` reads `float`): a
private sentinel type says nothing to a reader, who passes a float or nothing at all.

Used by mkdocstrings (see `extensions:` in mkdocs.yml); tests/test_docs.py checks it on a
small module.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

# The decorators, wherever the user imported them from.
SYNC_BRIDGE = "sync_bridge"
FIRE_AND_FORGET = "fire_and_forget"
_ASYNC_ITERATOR = re.compile(
    r"^(?:[\w.]*\.)?Async(?:Iterator|Iterable|Generator)\[(?P<args>.*)\]$", re.S
)


def _bridge_kind(func: griffe.Function) -> str | None:
    for decorator in func.decorators:
        leaf = decorator.callable_path.rsplit(".", 1)[-1]
        if leaf in (SYNC_BRIDGE, FIRE_AND_FORGET):
            return leaf
    return None


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside brackets: `"A[x, y], B"` -> `["A[x, y]", "B"]`."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    return [*parts, text[start:].strip()]


def public_annotation(annotation: str) -> str:
    """`float | _Unset | None` -> `float | None`: the union without its private members."""
    members = _split_top_level(annotation, "|")
    public = [member for member in members if not member.startswith("_")]
    return " | ".join(public) if public and len(public) < len(members) else annotation


def sync_return(kind: str, returns: str | None) -> str | None:
    """What a call of the decorated function returns, given the `async def`'s annotation."""
    if returns is None:
        return None
    if kind == FIRE_AND_FORGET:
        return f"concurrent.futures.Future[{returns}]"
    iterator = _ASYNC_ITERATOR.match(returns)
    if iterator is not None:
        return f"Iterator[{_split_top_level(iterator['args'], ',')[0]}]"
    return returns


class PublicSignatures(griffe.Extension):
    """Bridged functions as sync callables; no private types in annotations."""

    def on_function_instance(
        self, *, node: ast.AST | griffe.ObjectNode, func: griffe.Function, **kwargs: Any
    ) -> None:
        for parameter in func.parameters:
            if parameter.annotation is not None:
                annotation = str(parameter.annotation)
                if public_annotation(annotation) != annotation:
                    parameter.annotation = public_annotation(annotation)
        kind = _bridge_kind(func)
        if kind is None or "async" not in func.labels:
            return
        func.labels.discard("async")
        returns = sync_return(kind, None if func.returns is None else str(func.returns))
        if returns is not None:
            func.returns = returns
