"""Cost estimate of a plan from timing a few of its tasks (``landscape-hpc plan --calibrate N``).

Up to ``max_groups`` groups, spread evenly over the plan, each integrate their first N seeds in
one batch as a worker would (same engine, one torch thread, nothing written).  The mean time per
task over the calibrated groups, times the number of tasks, estimates the CPU time of the sweep.
It is a rough figure: trajectory times vary with where they end (channels take longest), and
groups not calibrated may differ from those that were.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .dynamics.engine import integrate
from .dynamics.spec import DynamicsSpec
from .problem import build_problem
from .sweep import Plan


@dataclass
class Calibration:
    groups: list[dict]          # per calibrated group: id, settings, tasks timed, seconds per task
    seconds_per_task: float
    cpu_hours: float

    def to_dict(self) -> dict:
        return {"groups": self.groups, "seconds_per_task": self.seconds_per_task,
                "cpu_hours": self.cpu_hours}


def calibrate(plan: Plan, n: int, max_groups: int = 5) -> Calibration:
    """Time ``n`` tasks of up to ``max_groups`` groups of ``plan``."""
    if plan.sweep.source is not None:
        raise ValueError("--calibrate: not available for sweeps that start from a store")
    torch.set_num_threads(1)
    picks = np.unique(np.linspace(0, len(plan.groups) - 1, min(max_groups, len(plan.groups)))
                      .round().astype(int))
    rows = []
    for g in (plan.groups[i] for i in picks):
        problem = build_problem(g.config["problem"])
        spec = DynamicsSpec.model_validate(g.config["dynamics"])
        seeds = g.seeds[:n].tolist()
        start = time.perf_counter()
        integrate(problem, torch.stack([problem.initial_theta(s) for s in seeds]), spec,
                  seeds=seeds)
        rows.append({"group": g.id, "settings": g.settings, "tasks": len(seeds),
                     "seconds_per_task": (time.perf_counter() - start) / len(seeds)})
    per_task = float(np.mean([r["seconds_per_task"] for r in rows]))
    return Calibration(rows, per_task, per_task * plan.n_tasks / 3600)
