"""The public surface: one module, an explicit `__all__`, typed."""

from __future__ import annotations

import importlib.resources
import logging

import sincpro_async_worker

from .conftest import run_python


def test_all_is_sorted_complete_and_every_name_exists() -> None:
    names = sincpro_async_worker.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert hasattr(sincpro_async_worker, name), name
    public = {
        name
        for name, value in vars(sincpro_async_worker).items()
        if not name.startswith("_") and not isinstance(value, type(logging))
    }
    assert public == set(names)


def test_package_ships_py_typed() -> None:
    assert importlib.resources.files("sincpro_async_worker").joinpath("py.typed").is_file()


def test_using_the_library_installs_no_logging_handlers() -> None:
    result = run_python(
        """
        import asyncio, logging
        from sincpro_async_worker import run_async_task, shutdown
        run_async_task(asyncio.sleep(0))
        shutdown()
        print(logging.getLogger("sincpro_async_worker").handlers, logging.getLogger().handlers)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"
    assert result.stderr == ""
