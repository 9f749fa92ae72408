"""Benchmark: planning sweeps of 10^6 tasks (target: under 10 s and 1 GiB).

Two sweeps over the loss-levels problem (Rosenbrock, 10^4 grid points), each 10^6 tasks:

* seeds:  10 widths x 2 bias settings x 5 activations = 100 groups of 10^4 seeds
* groups: 10 widths x 1000 init scales = 10^4 groups of 100 seeds

For each: the time to load, expand and validate the sweep (``plan``), to hash every task id
(``ids``) and to form the work units (``units``); the peak of Python allocations while planning
(tracemalloc, a second run) and the process's peak resident memory (imports included).
Usage: python benchmarks/planner.py [--quick]  (--quick: 10^5 tasks each)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

from landscape_hpc.sweep import plan_sweep

BASE = """\
fixed:
  problem:
    net: {input_dim: 2}
    target: {kind: rosenbrock}
    inputs: {kind: grid, n: 10000}
    loss: {maxnorm: 1000}
"""
SWEEPS = {
    "seeds": BASE + """\
grid:
  width: {range: [1, 11]}
  biases: [false, true]
  activation: [g, softplus, tanh, sigmoid, gelu]
  seed: {range: SEEDS}
""",
    "groups": BASE + """\
  problem.init.kind: normal
grid:
  width: {range: [1, 11]}
  init_scale: {expr: "SCALES"}
  seed: {range: SEEDS}
""",
}


def sweep_text(name: str, quick: bool) -> str:
    if name == "seeds":
        return SWEEPS[name].replace("SEEDS", "1000" if quick else "10000")
    scales = "[" + ", ".join(f"{0.001 * (k + 1):.3f}" for k in range(1000)) + "]"
    text = SWEEPS[name].replace("SEEDS", "10" if quick else "100")
    return text.replace('{expr: "SCALES"}', scales)


def plan_all(path: Path) -> tuple[int, int, int, dict[str, float]]:
    t0 = time.perf_counter()
    plan = plan_sweep(path)
    t1 = time.perf_counter()
    n_ids = sum(len(g.task_ids()) for g in plan.groups)
    t2 = time.perf_counter()
    n_units = len(plan.units())
    t3 = time.perf_counter()
    return plan.n_tasks, n_ids, n_units, {"plan": t1 - t0, "ids": t2 - t1, "units": t3 - t2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^5 tasks per sweep")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in SWEEPS:
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(textwrap.dedent(sweep_text(name, args.quick)))
            n, n_ids, n_units, times = plan_all(path)
            assert n == n_ids
            tracemalloc.start()
            plan_all(path)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
            total = sum(times.values())
            print(f"{name:6s} tasks {n:>8d}  units {n_units:>6d}  total {total:6.2f} s  "
                  f"(plan {times['plan']:.2f} s, ids {times['ids']:.2f} s, units "
                  f"{times['units']:.2f} s)  peak alloc {peak / 2**20:6.1f} MiB  "
                  f"max RSS {rss:6.0f} MiB")


if __name__ == "__main__":
    main()
