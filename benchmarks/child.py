"""One measurement in a fresh interpreter: `python -m benchmarks.child '<json request>'`.

The request names a contender, the scenarios to run on it, the CPUs to run on and the
sizes. The CPU affinity is set before anything else, in particular before any thread
starts, because threads inherit it when they are created and never afterwards. The
metrics go to stdout as one JSON object, keyed by scenario; a scenario that raises is
reported as `{"error": ...}` so one failure does not hide the other results.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def main(argv: list[str]) -> int:
    request: dict[str, Any] = json.loads(argv[1])
    os.sched_setaffinity(0, set(request["cpus"]))

    from .config import Sizes
    from .contenders import create
    from .scenarios import SCENARIOS

    sizes = Sizes(**request["sizes"])
    contender = create(request["contender"])
    contender.start()
    results: dict[str, Any] = {}
    try:
        for scenario in request["scenarios"]:
            try:
                results[scenario] = SCENARIOS[scenario](contender, sizes)
            except Exception:
                results[scenario] = {"error": traceback.format_exc(limit=8)}
    finally:
        contender.stop()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
