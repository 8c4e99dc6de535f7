"""`python -m examples.celery_app [COUNT]`: send COUNT echo tasks and print who answered.

Needs a running worker (see the package docstring).
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter

from celery.result import AsyncResult

from examples.celery_app import echo
from examples.upstream import Echoed


def send_and_collect(count: int, timeout: float = 60.0) -> list[Echoed]:
    """Send `count` tasks, wait for every result and check each echoes what was sent."""
    values = [f"task {i} {uuid.uuid4().hex}" for i in range(count)]
    pending: list[AsyncResult] = [echo.delay(value) for value in values]
    answers: list[Echoed] = [result.get(timeout=timeout, interval=0.05) for result in pending]
    for value, answer in zip(values, answers, strict=True):
        if answer["value"] != value:
            raise AssertionError(f"sent {value!r}, got {answer['value']!r} back")
    return answers


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 10
    answers = send_and_collect(count)
    per_process = Counter(answer["pid"] for answer in answers)
    print(f"{count} tasks echoed correctly; tasks per pool process: {dict(per_process)}")


if __name__ == "__main__":
    main(sys.argv[1:])
