"""One measurement in a fresh interpreter: `python -m benchmarks.child '<json request>'`.

The request names a contender, the scenarios to run on it, the CPUs to run on and the
sizes. The CPU affinity is set before anything else, in particular before any thread
starts, because threads inherit it when they are created and never afterwards. The
answer goes to stdout as one JSON object: `results` keyed by scenario (the metrics, or
`{"error": ...}` for a scenario that raised, so one failure does not hide the others),
`seconds` (how long each scenario took, to balance the suite) and `info` (what the
contender reports about itself, such as the loop it ran on).
"""

from __future__ import annotations

import json
import os
import sys
import time
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
    seconds: dict[str, float] = {}
    try:
        for scenario in request["scenarios"]:
            began = time.perf_counter()
            try:
                results[scenario] = SCENARIOS[scenario](contender, sizes)
            except Exception:
                results[scenario] = {"error": traceback.format_exc(limit=8)}
            seconds[scenario] = round(time.perf_counter() - began, 3)
    finally:
        contender.stop()
    print(json.dumps({"results": results, "seconds": seconds, "info": contender.info()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
