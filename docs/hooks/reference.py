"""MkDocs hook: build the API reference from `sincpro_async_worker.__all__`.

docs/reference.md holds the page's prose and one marker line; at build time this hook
replaces the marker with a mkdocstrings directive (`::: sincpro_async_worker.NAME`) for
every name in `__all__`, grouped by topic. A name added to `__all__` therefore appears in
the reference without anyone editing the page, and a name removed disappears from it.

Grouping: exceptions and warnings are recognised by type; the original library's classes
and the lifecycle names are listed below; any other name (a new decorator, say) lands in
"Calling async code". Add a name to `LIFECYCLE` or `ORDER` to place it elsewhere or
earlier; nothing else needs to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mkdocs.exceptions import PluginError

import sincpro_async_worker

PAGE = "reference.md"
MARKER = "<!-- public API: generated from __all__ by docs/hooks/reference.py -->"
PACKAGE = sincpro_async_worker.__name__

# The classes the original `run_async_task` library exported, with the methods code
# written against it calls (SPEC §3). Their other methods serve the library itself, so
# the reference leaves them out.
COMPAT_METHODS = {
    "Dispatcher": ("execute", "execute_async"),
    "DispatcherInterface": ("execute", "execute_async"),
    "Worker": ("start", "run_coroutine", "shutdown", "is_running"),
    "WorkerInterface": ("start", "run_coroutine", "shutdown", "is_running"),
    "EventLoop": ("start", "get_loop", "run_coroutine", "shutdown", "is_running"),
}
LIFECYCLE = frozenset({"configure", "Settings", "shutdown", "stats", "WorkerStats"})
# Reading order of the names known today; names not listed follow, in `__all__` order.
ORDER = (
    "run_async_task",
    "sync_bridge",
    "fire_and_forget",
    "configure",
    "Settings",
    "shutdown",
    "stats",
    "WorkerStats",
    "Dispatcher",
    "DispatcherInterface",
    "Worker",
    "WorkerInterface",
    "EventLoop",
)


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    holds: Callable[[str, Any], bool]


def _is_error(name: str, obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseException)


SECTIONS = (
    Section(
        "Compatibility with the original library",
        "The classes behind the functions above, kept for code written against the "
        "original `run_async_task` library; only the methods that library had are "
        "listed. New code needs none of them.",
        lambda name, obj: name in COMPAT_METHODS,
    ),
    Section("Errors and warnings", "", _is_error),
    Section("Lifecycle, configuration and counters", "", lambda name, obj: name in LIFECYCLE),
    Section("Calling async code", "", lambda name, obj: True),
)
# The order the sections appear in on the page (SECTIONS is the order they claim names).
PAGE_ORDER = (
    "Calling async code",
    "Lifecycle, configuration and counters",
    "Errors and warnings",
    "Compatibility with the original library",
)


def public_names() -> list[str]:
    """`__all__`, in reading order."""
    names = list(sincpro_async_worker.__all__)
    known = [name for name in ORDER if name in names]
    return known + [name for name in names if name not in known]


def directive(name: str) -> str:
    lines = [f"::: {PACKAGE}.{name}"]
    methods = COMPAT_METHODS.get(name)
    if methods is not None:
        cls = getattr(sincpro_async_worker, name)
        present = [method for method in methods if callable(getattr(cls, method, None))]
        lines += ["    options:", "      members:", *(f"        - {m}" for m in present)]
    return "\n".join(lines)


def render() -> str:
    """The Markdown that replaces the marker: one `:::` directive per public name."""
    grouped: dict[str, list[str]] = {section.title: [] for section in SECTIONS}
    for name in public_names():
        obj = getattr(sincpro_async_worker, name)  # a name in __all__ must exist
        section = next(s for s in SECTIONS if s.holds(name, obj))
        grouped[section.title].append(name)
    intros = {section.title: section.intro for section in SECTIONS}
    parts: list[str] = []
    for title in PAGE_ORDER:
        if not grouped[title]:
            continue
        parts.append(f"## {title}")
        if intros[title]:
            parts.append(intros[title])
        parts += [directive(name) for name in grouped[title]]
    return "\n\n".join(parts) + "\n"


def on_page_markdown(markdown: str, *, page: Any, **_: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if markdown.count(MARKER) != 1:
        raise PluginError(f"docs/{PAGE} must contain this line exactly once: {MARKER}")
    return markdown.replace(MARKER, render())
