#!/usr/bin/env python3
"""Baseline for tests/bench/bench_planner.cpp: the same DAGs scheduled with Python asyncio, as a
Python agent framework runs a plan — one coroutine per task awaiting its dependencies' futures,
the tool an async function.

- Scheduling overhead: a 1,000-task DAG (task i needs up to two of the tasks before it, chosen
  by the same rule as the C++ benchmark) of no-op tools; the whole run divided by 1,000.
- Width 100, depth 10: each tool sleeps 50 ms; the wall time against the 500 ms critical path.

Prints "python, scheduling overhead per task: p50 U us" and "python, width 100 depth 10: W ms".
"""

import asyncio
import statistics
import time


def dependencies(i):
    # The C++ benchmark's rule: i needs (i * 7919) % i and (i * 104729) % i when i > 0.
    if i == 0:
        return []
    deps = {(i * 7919) % i, (i * 104729) % i}
    return sorted(deps)


async def run_dag(n, deps_of, tool):
    futures = [asyncio.get_running_loop().create_future() for _ in range(n)]

    async def task(i):
        for d in deps_of(i):
            await futures[d]
        futures[i].set_result(await tool(i))

    await asyncio.gather(*(task(i) for i in range(n)))


async def noop(i):
    return {"ok": i}


def main():
    samples = []
    for _ in range(20):
        start = time.perf_counter()
        asyncio.run(run_dag(1000, dependencies, noop))
        samples.append((time.perf_counter() - start) * 1e6 / 1000)
    print(f"python, scheduling overhead per task: p50 {statistics.median(samples):.2f} us")

    def layered(i):
        return [] if i < 100 else [i - 100]

    async def sleep50(i):
        await asyncio.sleep(0.05)
        return i

    walls = []
    for _ in range(3):
        start = time.perf_counter()
        asyncio.run(run_dag(1000, layered, sleep50))
        walls.append((time.perf_counter() - start) * 1e3)
    print(f"python, width 100 depth 10: {statistics.median(walls):.1f} ms")


if __name__ == "__main__":
    main()
