"""Cost estimate of a plan from timing a stratified sample of its tasks (``plan --calibrate N``).

* **Sample**: N tasks in all (every task if the plan has fewer), allocated over the groups in
  proportion to their task counts (:func:`allocate`); a group's timed seeds are spread evenly over
  its seeds.  Deterministic: the same plan and N time the same tasks.
* **Timing**: a group's timed tasks run as the worker runs a unit, one batch (of at most
  ``units.size``) through :func:`~.dynamics.engine.integrate`, one torch thread, nothing written.
  The cap is a budget per timed task: a batch of k tasks gets ``stop.maxtime = min(k * cap, their
  own maxtime)``, as the engine's maxtime clock is the batch's (each running trajectory counts
  every step of the batch).  Batches run in a fixed shuffled order, so the ETA is not skewed by
  the order of the plan.
* **Estimate** (wall clock): the stratified sum over groups of mean seconds per task x tasks,
  plus building each group's problem once (the upper bound: once per work unit, a fresh process
  per unit).  A group not sampled (N < groups) takes the times of the nearest sampled group
  (:func:`nearest`).  A task stopped by the cap has an unknown cost, at most its maxtime: the
  estimate is then a lower bound, and the upper bound counts each capped task at its full
  maxtime.  The maxtime clock counts step time only, so a capped task's remaining maxtime is
  scaled by its batch's wall time per second of that clock (the bookkeeping between steps and the
  polish come on top of the steps).  Hours on C cores assume one work unit per core:
  core-hours / min(C, units).

Per-task times come from batches of the sample's size; the worker batches whole units (up to
``units.size`` tasks), which for the flow is faster per task, so there the estimate leans high.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import read_yaml
from .dynamics.engine import integrate
from .dynamics.record import Stop
from .dynamics.spec import DynamicsSpec
from .problem import Problem, build_problem
from .run.progress import Progress
from .sweep import Plan
from .sweep.tasks import Group, show

DEFAULT_CAP = 60.0
FROM_STORE = ("--calibrate: not available for sweeps that start from a store (from_store): their "
              "initial points are the source store's results; calibrate the source sweep, or "
              "time the smoke profile with 'run'")
NEAREST = ("the times of the nearest sampled group: fewest differing settings, then the "
           "closest numeric values, then the nearest in plan order")


@dataclass
class GroupCost:
    """One group's share of the estimate."""

    id: str
    settings: dict[str, Any]
    tasks: int
    units: int
    maxtime: float                    # the group's own stop.maxtime
    build: float = math.nan           # seconds to build its problem (once per worker process)
    seeds: list[int] = field(default_factory=list)  # the timed seeds
    seconds: float = 0.0              # wall time of their batches
    capped: int = 0                   # timed tasks stopped by the cap (not by their maxtime)
    beyond: float = 0.0               # upper bound on what the capped tasks have left, seconds
    mean: float = math.nan            # seconds per task
    upper: float = math.nan           # ... with capped tasks at their full maxtime
    estimated_from: str | None = None  # for a group not sampled: the group it copies

    @property
    def timed(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict:
        return {"id": self.id, "settings": self.settings, "tasks": self.tasks,
                "units": self.units, "maxtime": _finite(self.maxtime), "build_s": self.build,
                "timed": self.timed, "seeds": self.seeds, "seconds": self.seconds,
                "beyond_cap_s": _finite(self.beyond), "mean_s_per_task": self.mean,
                "upper_s_per_task": _finite(self.upper), "capped": self.capped,
                "estimated_from": self.estimated_from}


@dataclass
class Calibration:
    requested: int
    cap: float
    groups: list[GroupCost]
    n_units: int
    elapsed: float

    @property
    def n_tasks(self) -> int:
        return sum(g.tasks for g in self.groups)

    @property
    def timed(self) -> int:
        return sum(g.timed for g in self.groups)

    @property
    def capped(self) -> int:
        return sum(g.capped for g in self.groups)

    @property
    def unsampled(self) -> list[GroupCost]:
        return [g for g in self.groups if not g.timed]

    @property
    def core_hours(self) -> float:
        return sum(g.mean * g.tasks + g.build for g in self.groups) / 3600

    @property
    def core_hours_upper(self) -> float:
        return sum(g.upper * g.tasks + g.build * g.units for g in self.groups) / 3600

    def hours(self, cores: int, upper: bool = False) -> float:
        """Wall-clock hours on ``cores`` cores, one work unit per core."""
        return (self.core_hours_upper if upper else self.core_hours) / min(cores, self.n_units)

    def to_dict(self, cores: int | None = None) -> dict:
        here = os.cpu_count() or 1
        return {"requested": self.requested, "timed": self.timed, "cap": _finite(self.cap),
                "capped": self.capped, "capped_share": self.capped / self.timed,
                "lower_bound": self.capped > 0, "n_tasks": self.n_tasks,
                "n_groups": len(self.groups), "n_units": self.n_units,
                "unsampled": {"groups": [g.id for g in self.unsampled],
                              "tasks": sum(g.tasks for g in self.unsampled),
                              "share": sum(g.tasks for g in self.unsampled) / self.n_tasks,
                              "estimated_by": NEAREST},
                "core_hours": self.core_hours, "core_hours_upper": _finite(self.core_hours_upper),
                "cpu_count": here, "hours_here": self.hours(here),
                "hours_here_upper": _finite(self.hours(here, True)), "cores": cores,
                "hours_on_cores": None if cores is None else self.hours(cores),
                "hours_on_cores_upper": None if cores is None else _finite(self.hours(cores, True)),
                "elapsed_s": self.elapsed, "groups": [g.to_dict() for g in self.groups]}


def check_arguments(n: int, cap: float, cores: int | None = None) -> None:
    """ValueError naming the option for a bad ``--calibrate``, ``--cap`` or ``--cores``."""
    if n < 1:
        raise ValueError(f"--calibrate: expected a positive number of tasks to time, got {n}")
    if not cap > 0:
        raise ValueError(f"--cap: expected a positive number of seconds per timed task, got {cap}")
    if cores is not None and cores < 1:
        raise ValueError(f"--cores: expected a positive number of cores, got {cores}")


def check_sweep(file: str | Path) -> None:
    """ValueError for a sweep file that starts from a store, whether or not the store exists."""
    doc = read_yaml(file)
    if isinstance(doc, dict) and "from_store" in doc:
        raise ValueError(FROM_STORE)


def calibrate(plan: Plan, n: int, cap: float = DEFAULT_CAP,
              console: Console | None = None) -> Calibration:
    """Time ``n`` tasks of ``plan``, stratified over its groups; progress on ``console``."""
    if plan.sweep.source is not None:
        raise ValueError(FROM_STORE)
    check_arguments(n, cap)
    torch.set_num_threads(1)
    size = plan.sweep.unit_size
    costs = [GroupCost(g.id, g.settings, len(g.seeds), len(g.units(size)), _spec(g).stop.maxtime)
             for g in plan.groups]
    batches = _batches(plan, allocate([c.tasks for c in costs], n))
    start = time.perf_counter()
    problems: dict[int, Problem] = {}
    total = sum(len(s) for _, s in batches)
    if console is not None:
        _intro(console, batches, plan.groups, cap)
    with Progress(total, console, enabled=console is not None, label="calibrate: tasks") as progress:
        for i, seeds in batches:
            progress.start(len(seeds))
            if i not in problems:
                t0 = time.perf_counter()
                problems[i] = build_problem(plan.groups[i].config["problem"])
                costs[i].build = time.perf_counter() - t0
            _time_batch(problems[i], _spec(plan.groups[i]), seeds, cap, costs[i])
            progress.finish(len(seeds), len(seeds), 0)
    _estimate(costs)
    return Calibration(n, cap, costs, len(plan.units()), time.perf_counter() - start)


def _intro(console: Console, batches: list[tuple[int, list[int]]], groups: list[Group],
           cap: float) -> None:
    total = sum(len(s) for _, s in batches)
    stepping = sum(min(cap * len(s), _spec(groups[i]).stop.maxtime) for i, s in batches)
    console.print(f"calibrate: timing {total} tasks of {len({i for i, _ in batches})} groups in "
                  f"{len(batches)} batches; the cap stops a batch of k tasks after k x {cap:g} s "
                  f"of steps, {_clock(stepping)} in all, with the engine's bookkeeping, the "
                  "polish and building the problems on top", highlight=False)


def allocate(counts: Sequence[int], n: int) -> np.ndarray:
    """Tasks to time per group, ``n`` in all (at most every task), in proportion to ``counts``.

    With ``n`` >= the number of groups, every group gets one and each further task goes to the
    group with the most tasks per timed task (D'Hondt).  With fewer, the groups are drawn by
    systematic sampling proportional to size (points (k + 1/2) * total / n on the cumulative
    counts), which spreads them over the plan.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = min(n, int(counts.sum()))
    if n < len(counts):
        points = (np.arange(n) + 0.5) * counts.sum() / n
        hits = np.searchsorted(np.cumsum(counts), points, side="right")
        return np.bincount(hits, minlength=len(counts))
    out = np.ones(len(counts), dtype=np.int64)
    for _ in range(n - len(counts)):
        out[np.argmax(np.where(out < counts, counts / out, -1.0))] += 1
    return out


def spread(seeds: np.ndarray, k: int) -> list[int]:
    """``k`` of ``seeds`` spread evenly over them (the middle of k equal slices)."""
    return seeds[((np.arange(k) + 0.5) * len(seeds) / k).astype(np.int64)].tolist()


def nearest(settings: dict[str, Any], candidates: Sequence[dict[str, Any]], index: int,
            indices: Sequence[int]) -> int:
    """Position in ``candidates`` (plan positions ``indices``) of the settings nearest to
    ``settings`` (plan position ``index``): fewest differing settings, numbers counting
    |x - y| / (|x| + |y|), ties to the nearest in plan order."""
    keys = [(_distance(settings, c), abs(index - j)) for c, j in zip(candidates, indices)]
    return min(range(len(keys)), key=keys.__getitem__)


def _distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    total = 0.0
    for key in a.keys() | b.keys():
        x, y = a.get(key, _MISSING), b.get(key, _MISSING)
        if x == y:
            continue
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
        total += abs(x - y) / (abs(x) + abs(y)) if numbers else 1.0
    return total


_MISSING = object()


def _spec(group: Group) -> DynamicsSpec:
    return DynamicsSpec.model_validate(group.config["dynamics"])


def _batches(plan: Plan, alloc: np.ndarray) -> list[tuple[int, list[int]]]:
    """(group position, seeds) per timed batch, at most ``units.size`` each, in a fixed shuffle."""
    size = plan.sweep.unit_size
    out = [(i, seeds[a:a + size]) for i, k in enumerate(alloc.tolist()) if k
           for seeds in [spread(plan.groups[i].seeds, k)] for a in range(0, k, size)]
    return [out[j] for j in np.random.default_rng(0).permutation(len(out))]


def _time_batch(problem: Problem, spec: DynamicsSpec, seeds: list[int], cap: float,
                cost: GroupCost) -> float:
    """Run one batch as the worker does, with maxtime capped at ``cap`` per task; add it to
    ``cost``."""
    limit = min(cap * len(seeds), spec.stop.maxtime)
    stop = spec.stop.model_copy(update={"maxtime": limit})
    start = time.perf_counter()
    theta0 = torch.stack([problem.initial_theta(s) for s in seeds])
    records = integrate(problem, theta0, spec.model_copy(update={"stop": stop}),
                        seeds=seeds).records
    seconds = time.perf_counter() - start
    cost.seconds += seconds
    cost.seeds += seeds
    if limit < spec.stop.maxtime:
        capped = sum(r.stopped_by == Stop.MAXTIME for r in records)
        cost.capped += capped
        cost.beyond += capped * (spec.stop.maxtime - limit) * seconds / limit
    return seconds


def _estimate(costs: list[GroupCost]) -> None:
    """Mean and upper mean per task of each group; groups not sampled copy the nearest."""
    sampled = [i for i, c in enumerate(costs) if c.timed]
    for i in sampled:
        c = costs[i]
        c.mean = c.seconds / c.timed
        c.upper = (c.seconds + c.beyond) / c.timed
    for i, c in enumerate(costs):
        if not c.timed:
            src = costs[sampled[nearest(c.settings, [costs[j].settings for j in sampled], i,
                                        sampled)]]
            c.mean, c.upper, c.build, c.estimated_from = src.mean, src.upper, src.build, src.id


def report(cal: Calibration, console: Console, cores: int | None = None) -> None:
    """Print the per-group table and the estimate."""
    table = Table(title=f"calibration: {cal.timed} of {cal.n_tasks} tasks timed, "
                        f"{_clock(cal.elapsed)}")
    names = ["group", "settings", "tasks", "timed", "mean s/task", "capped", "build s"]
    for name in names + ["from"] * bool(cal.unsampled):
        table.add_column(name, justify="left" if name in ("group", "settings") else "right")
    for g in cal.groups:
        settings = escape(", ".join(f"{k}={show(v)}" for k, v in g.settings.items()))
        row = [g.id, settings, str(g.tasks), str(g.timed or "-"), f"{g.mean:.3g}",
               str(g.capped) if g.timed else "-", f"{g.build:.2g}"]
        table.add_row(*row, *[g.estimated_from or ""] * bool(cal.unsampled))
    console.print(table)
    for line in _summary(cal, cores):
        console.print(line, highlight=False)


def _summary(cal: Calibration, cores: int | None) -> list[str]:
    lines = []
    if cal.requested > cal.timed:
        lines.append(f"--calibrate {cal.requested} is more than the {cal.n_tasks} tasks: "
                     "all were timed")
    if cal.unsampled:
        share = sum(g.tasks for g in cal.unsampled) / cal.n_tasks
        ids = ", ".join(g.id for g in cal.unsampled[:8]) + (", ..." * (len(cal.unsampled) > 8))
        lines.append(f"not sampled: {len(cal.unsampled)} of {len(cal.groups)} groups, "
                     f"{share:.1%} of the tasks ({ids}); each takes {NEAREST} "
                     "(column 'from')")
    if cal.capped:
        lines.append(f"capped: {cal.capped} of {cal.timed} timed tasks "
                     f"({cal.capped / cal.timed:.0%}) hit the {cal.cap:g} s cap before their own "
                     "maxtime: their cost is unknown (at most their maxtime), so the estimate is "
                     "a lower bound")
    else:
        lines.append(f"capped: none of the {cal.timed} timed tasks hit the {cal.cap:g} s cap")
    bound = " (lower bound)" if cal.capped else ""
    lines.append(f"estimate{bound}: {_cost(cal, cores, False)}; one work unit per core "
                 f"({cal.n_units} units)")
    if cal.capped:
        lines.append(f"upper bound (capped tasks at their full maxtime): {_cost(cal, cores, True)}")
    return lines


def _cost(cal: Calibration, cores: int | None, upper: bool) -> str:
    here = os.cpu_count() or 1
    hours = [f"{_num(cal.hours(here, upper))} h on this machine ({here} cores)"]
    if cores is not None:
        hours.append(f"{_num(cal.hours(cores, upper))} h on {cores} cores")
    core_hours = cal.core_hours_upper if upper else cal.core_hours
    return f"{_num(core_hours)} core-hours for {cal.n_tasks} tasks = {', '.join(hours)}"


def _clock(seconds: float) -> str:
    """A duration: seconds below a minute, else h:mm:ss."""
    if not math.isfinite(seconds):
        return "unbounded"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
