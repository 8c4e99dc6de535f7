"""`python -m examples.django_app [command ...]`.

Without arguments: call every view once through Django's test clients (the async views
through the ASGI handler, on a loop of their own) and print the answers. With
arguments: run that Django management command, e.g. `runserver 127.0.0.1:8000`.
"""

from __future__ import annotations

import asyncio
import sys

from examples.django_app import setup


def demo() -> None:
    from django.test import AsyncClient, Client

    for url in ("/hello/?name=Ada", "/status/"):
        print(url, "->", Client().get(url).json())

    async def async_views() -> None:
        client = AsyncClient()
        for kind in ("blocking", "future", "awaited"):
            url = f"/async/{kind}/?name=Ada"
            print(url, "->", (await client.get(url)).json())

    asyncio.run(async_views())


def main(argv: list[str]) -> None:
    setup()
    if argv:
        from django.core.management import execute_from_command_line

        execute_from_command_line([sys.argv[0], *argv])
    else:
        demo()


if __name__ == "__main__":
    main(sys.argv[1:])
