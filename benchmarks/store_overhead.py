"""Benchmark: store and scheduling overhead of `landscape-hpc run`, and `status` on a large store.

1. Overhead.  Sweeps of small tasks (~10 ms of compute each: width-2 networks, 100 samples,
   800 gradient-descent steps, no polish, units of 64) are run twice: by the bare engine in a loop
   (one process, one unit batch after another, nothing written) and by `landscape-hpc run` with
   2 worker processes into a fresh store (planning, store creation, process start-up, writes).
   Overhead = T_run / (T_bare / 2) - 1, against perfect use of both cores; run at two sweep sizes,
   the difference separates the fixed start-up cost from the cost per task.
2. status.  A store of 10^5 pending tasks is created from a plan, and `status` (in Python, and the
   CLI end to end) is timed on it.

Usage: python benchmarks/store_overhead.py [--tasks 2048] [--status-tasks 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from landscape_hpc.dynamics.engine import integrate
from landscape_hpc.dynamics.spec import DynamicsSpec
from landscape_hpc.problem import build_problem
from landscape_hpc.run import status
from landscape_hpc.store import Store
from landscape_hpc.sweep import plan_sweep

SWEEP = """
name: overhead
fixed:
  problem:
    net: {{input_dim: 2, widths: [2], activation: tanh}}
    target: {{kind: rosenbrock}}
    inputs: {{kind: grid, n: 100}}
  dynamics:
    method: gd
    eta: 0.01
    stop: {{maxsteps: {steps}, maxtime: 1.0e6, min_gradnorm: 0}}
    polish: null
    snapshots: {{per_decade: 2, decades: 4}}
grid:
  seed: {{range: {tasks}}}
units: {{size: 64}}
"""


def bare(sweep: Path, part: int = 0, parts: int = 1) -> float:
    """Seconds for the bare engine to integrate every ``parts``-th unit of the sweep."""
    plan = plan_sweep(sweep)
    torch.set_num_threads(1)
    start = time.perf_counter()
    for g in plan.groups:
        problem = build_problem(g.config["problem"])
        spec = DynamicsSpec.model_validate(g.config["dynamics"])
        for u in g.units(plan.sweep.unit_size)[part::parts]:
            seeds = u.seeds.tolist()
            theta0 = torch.stack([problem.initial_theta(s) for s in seeds])
            integrate(problem, theta0, spec, seeds=seeds)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--status-tasks", type=int, default=100_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for n in args.tasks:
            sweep = tmp / f"overhead{n}.yaml"
            sweep.write_text(SWEEP.format(tasks=n, steps=args.steps))
            t_bare = bare(sweep)
            with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as ex:
                t_bare2 = max(ex.map(bare, [sweep, sweep], [0, 1], [2, 2]))
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "landscape_hpc.cli", "run", str(sweep),
                            "--store", str(tmp / f"o{n}.zarr"), "--workers", "2", "-q",
                            "--checkpoint-every", "1e9"], check=True, capture_output=True)
            t_run = time.perf_counter() - start
            rows.append((n, t_bare2, t_run))
            print(f"| {n} tasks, {1e3 * t_bare / n:.1f} ms compute each | bare engine: "
                  f"{t_bare:.1f} s in 1 process, {t_bare2:.1f} s in 2 processes (compute only) "
                  f"| landscape-hpc run {t_run:.1f} s (2 workers, end to end) "
                  f"| vs T_bare / 2: {100 * (t_run / (t_bare / 2) - 1):+.0f}%, vs 2 bare "
                  f"processes: {100 * (t_run / t_bare2 - 1):+.0f}% |", flush=True)
        if len(rows) >= 2:
            (n1, b1, r1), (n2, b2, r2) = rows[0], rows[-1]
            per_task = (r2 - r1) / (n2 - n1)
            ideal = (b2 - b1) / (n2 - n1)
            print(f"| marginal (between the sizes) | 2 bare processes {1e3 * ideal:.2f} ms per "
                  f"task | landscape-hpc run {1e3 * per_task:.2f} ms per task | overhead per task "
                  f"{100 * (per_task / ideal - 1):+.0f}% | fixed start-up {r1 - b1:.1f} s |")

        big = tmp / "big.yaml"
        big.write_text(SWEEP.format(tasks=args.status_tasks, steps=10).replace("64}", "1024}"))
        start = time.perf_counter()
        store, added = Store.create_or_extend(tmp / "big.zarr", plan_sweep(big))
        t_create = time.perf_counter() - start
        start = time.perf_counter()
        s = status(store, by=["seed"] if args.status_tasks <= 1000 else None)
        t_status = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "landscape_hpc.cli", "status", str(tmp / "big.zarr")],
                       check=True, capture_output=True)
        t_cli = time.perf_counter() - start
        print(f"| status on {added} tasks | store created in {t_create:.1f} s | status() "
              f"{t_status:.2f} s | `landscape-hpc status` end to end {t_cli:.2f} s "
              f"| counts {s.counts} |")


if __name__ == "__main__":
    main()
