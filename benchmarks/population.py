"""relu-population at K = M (default 20): one batch of trajectories on one worker, as the worker
runs a unit (one torch thread, published settings of ``sweeps/relu_population.yaml``).

Prints seconds per trajectory (the batch's wall time over its size), the end points and the
integrator counts.  To compare engines, run it from two trees in alternating processes, each with
its own sweep file (issue 13: the previous commit's ``flow`` against this tree's ``flow_auto``)::

    python benchmarks/population.py --M 20 --batch 32
    PYTHONPATH=/tmp/ref python benchmarks/population.py --sweep /tmp/ref/sweeps/relu_population.yaml
"""

from __future__ import annotations

import argparse
import collections
import time

import torch

from landscape_hpc.dynamics import DynamicsSpec, integrate
from landscape_hpc.problem import build_problem
from landscape_hpc.sweep import plan_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="sweeps/relu_population.yaml")
    ap.add_argument("--M", type=int, default=20, help="teacher width")
    ap.add_argument("--K", type=int, help="student width (default M)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--method", help="override the sweep's dynamics method")
    a = ap.parse_args()
    torch.set_num_threads(1)
    K = a.K or a.M
    plan = plan_sweep(a.sweep)
    group = next(g for g in plan.groups
                 if g.settings.get("teacher_width") == a.M and g.settings.get("width") == K)
    problem = build_problem(group.config["problem"])
    dyn = dict(group.config["dynamics"], **({"method": a.method} if a.method else {}))
    spec = DynamicsSpec.model_validate(dyn)
    seeds = [int(s) for s in group.seeds[:a.batch]]
    theta0 = torch.stack([problem.initial_theta(s) for s in seeds])
    start = time.perf_counter()
    records = integrate(problem, theta0, spec, seeds=seeds).records
    wall = time.perf_counter() - start
    steps = sorted(r.steps for r in records)
    print(f"K={K} M={a.M} P={problem.objective.num_params} batch={len(seeds)} {spec.method}: "
          f"{wall / len(seeds):.3f} s per trajectory; median steps {steps[len(steps) // 2]}; "
          f"{dict(collections.Counter(r.stopped_by for r in records))}; "
          f"max gradnorm {max(r.gradnorm for r in records):.1e}")
    print("losses", " ".join(f"{r.loss:.8f}" for r in records))


if __name__ == "__main__":
    main()
