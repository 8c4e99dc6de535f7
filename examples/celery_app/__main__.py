"""Send tasks to a running worker (see the package docstring) and check what came back.

    python -m examples.celery_app [COUNT]          COUNT echo tasks; who answered
    python -m examples.celery_app orders [COUNT]   COUNT order tasks; the audit rows so far

Audit rows appear as the pool processes finish their writes; with
`--max-tasks-per-child=1` that is as each process exits, right after its task. Stop the
worker and run `orders 0` to count them all.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import uuid
from collections import Counter

from celery.result import AsyncResult

from examples.celery_app import AUDIT_DB, echo, place_order
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


def send_orders(count: int) -> dict[str, AsyncResult]:
    """Send `count` order tasks with fresh order ids; return each id's pending result."""
    order_ids = [f"order-{i}-{uuid.uuid4().hex[:8]}" for i in range(count)]
    return {order_id: place_order.delay(order_id) for order_id in order_ids}


def audited() -> dict[str, int]:
    """The audit table so far: each order id with the pid of the process that wrote it."""
    if not AUDIT_DB.exists():
        return {}
    # sqlite3's own context manager only commits; closing() really closes the connection.
    with contextlib.closing(sqlite3.connect(AUDIT_DB, timeout=30)) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit'").fetchone():
            return {}
        return dict(db.execute("SELECT order_id, pid FROM audit").fetchall())


def main(argv: list[str]) -> None:
    if argv[:1] == ["orders"]:
        count = int(argv[1]) if len(argv) > 1 else 10
        results = send_orders(count)
        pids = Counter(result.get(timeout=60, interval=0.05) for result in results.values())
        print(f"{count} orders placed by {len(pids)} pool processes")
        print(f"audit rows so far: {len(audited())}")
        return
    count = int(argv[0]) if argv else 10
    answers = send_and_collect(count)
    per_process = Counter(answer["pid"] for answer in answers)
    print(f"{count} tasks echoed correctly; tasks per pool process: {dict(per_process)}")


if __name__ == "__main__":
    main(sys.argv[1:])
