"""CPU instructions per call, counted by valgrind: a figure this noisy machine cannot move.

Wall-clock figures here swing by tens of percent between runs; an instruction count does
not. Each case runs in a fresh interpreter under `valgrind --tool=cachegrind`, once with
`N` calls and once with none, and the difference divided by `N` is what one call costs,
on both threads (valgrind runs them one at a time, so hand-offs and the garbage collector
are counted but not the time spent waiting for another thread or in the kernel).

    python -m benchmarks.instructions [--calls N]

Needs valgrind on PATH; not part of `make bench`. Stock loop only (uvloop's C code is
counted the same way, but compares the loops, not the bridges).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap

CASES = {
    "blocking": ("run_async_task(noop())", "submit(noop(), loop).result()"),
    "fire-and-forget": (
        "futures.append(run_async_task(noop(), fire_and_forget=True))",
        "futures.append(submit(noop(), loop))",
    ),
    "@sync_bridge": ("bridged()", None),
}

VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")

SCRIPT = """
import asyncio, sys, threading
async def noop():
    return 1
futures = []
if sys.argv[1] == "library":
    from sincpro_async_worker import configure, run_async_task, sync_bridge
    configure(loop_factory=asyncio.new_event_loop)
    bridged = sync_bridge(noop)
    run_async_task(noop())
else:
    loop, ready = asyncio.new_event_loop(), threading.Event()
    def serve():
        loop.call_soon(ready.set)
        loop.run_forever()
    threading.Thread(target=serve, daemon=True).start()
    ready.wait()
    submit = asyncio.run_coroutine_threadsafe
    submit(noop(), loop).result()
for _ in range(int(sys.argv[2])):
    {call}
for future in futures:
    future.result()
"""


def instructions(code: str, who: str, calls: int) -> int:
    out = subprocess.run(
        [*VALGRIND, sys.executable, "-c", code, who, str(calls)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    ).stderr
    found = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out}")
    return int(found.group(1).replace(",", ""))


def per_call(call: str, who: str, calls: int) -> float:
    code = textwrap.dedent(SCRIPT).replace("{call}", call)
    return (instructions(code, who, calls) - instructions(code, who, 0)) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not on PATH; install it to count instructions")
    print(f"Python {sys.version.split()[0]}, stock loop, {calls:,} calls; instructions per call")
    library_blocking = 0.0
    for case, (library, naive) in CASES.items():
        ours = per_call(library, "library", calls)
        if naive is None:
            print(f"{case:16} {ours:9,.0f}  ({ours - library_blocking:+,.0f} over blocking)")
            continue
        reference = per_call(naive, "naive", calls)
        print(f"{case:16} {ours:9,.0f}  naive bridge {reference:9,.0f}  {ours / reference:.2f}x")
        if case == "blocking":
            library_blocking = ours


if __name__ == "__main__":
    main()
