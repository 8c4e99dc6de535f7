"""Which event loop the worker runs: uvloop's when it can be imported, else asyncio's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["LoopFactory", "default_loop_factory"]

logger: logging.Logger = logging.getLogger("sincpro_async_worker")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def default_loop_factory() -> asyncio.AbstractEventLoop:
    """uvloop's loop when uvloop is importable, else asyncio's (uvicorn's `--loop auto`)."""
    return asyncio.new_event_loop() if _new_uvloop is None else _new_uvloop()


def _find_uvloop() -> LoopFactory | None:
    try:
        from uvloop import new_event_loop  # an optional extra
    except Exception as exc:  # not installed, or broken: the stock loop, as without it
        if not (isinstance(exc, ModuleNotFoundError) and exc.name == "uvloop"):
            logger.warning(
                "uvloop is installed but failed to import (%r); using asyncio's loop", exc
            )
        return None
    return new_event_loop


# Looked for now, not in the worker thread when its loop is made: a fork in the middle of an
# import leaves the child a half-imported module, and an import lock nobody will release.
_new_uvloop = _find_uvloop()
