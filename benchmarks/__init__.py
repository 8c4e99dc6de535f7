"""Benchmarks for sincpro_async_worker against the other ways to call async code from sync code.

Run the full suite with `make bench` (or `python -m benchmarks.run`); `--smoke` runs every
contender and scenario with tiny sizes, to check that the suite itself works. Each
measurement runs in a fresh subprocess (`benchmarks.child`), so that no contender inherits
another's threads, loop or memory.
"""
