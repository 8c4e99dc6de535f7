"""A minimal Django project (one settings module, no database) calling async code.

Try it: `python -m examples.django_app` runs every view once through Django's test
clients and prints the answers. Serve it: `python -m examples.django_app runserver
127.0.0.1:8000` (WSGI, sync views), or any ASGI server on `examples.django_app.asgi`.

What it shows (`views.py`):

- sync views call `@sync_bridge` functions like plain functions; Django sees those as
  synchronous (a decorated `async def` can even be a view itself);
- in an async view, a `@sync_bridge` call works (no deadlock: the view runs on the ASGI
  server's loop, not on the library's) but blocks that loop until the answer comes;
  async views should `await` instead, see `views.hello_future`.
"""

from __future__ import annotations

import os

__all__ = ["setup"]

SETTINGS_MODULE = "examples.django_app.settings"


def setup() -> None:
    """Configure Django with this project's settings, unless a project already is."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    django.setup()
