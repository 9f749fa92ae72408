"""Packed jobs: one batch job runs a pack of work units one after another.

A sweep of thousands of short units must not become thousands of SLURM jobs of a few seconds
each.  The submitter splits the units into packs (:func:`make_packs`, contiguous runs of units
of about equal estimated cost, so a job mostly builds one problem and reuses it), and each job
runs its pack (:func:`run_pack`) while its time budget says the next unit fits: it measures its
own cost per task and, when the next unit would overrun, requeues itself (``scontrol requeue``)
and starts again with a fresh budget, skipping what is done.  The first unit of a job always
runs, so every job makes progress; a unit longer than a job is checkpointed and requeued by
submitit's timeout signal as before.  A unit is claimed through its lock (with a heartbeat,
:meth:`Store.lock`), so no two jobs ever run it at once.  Off a terminal the job prints a progress
line every ``every`` seconds into its log.
"""

from __future__ import annotations

import math
import os
import subprocess
import time

import numpy as np
from rich.console import Console

from ..store import Store
from ..store.layout import RERUN
from .executor import UnitResult
from .worker import run_unit
from .progress import EVERY, Progress

MIN_JOB = 600.0  # seconds: jobs shorter than this are dominated by queueing and start-up


def n_jobs(costs: np.ndarray | None, n_units: int, max_jobs: int, budget: float) -> int:
    """How many packed jobs: as many as may run at once (``max_jobs``), fewer if the estimated
    work (``costs``, seconds per unit) would leave them shorter than ``min(budget, MIN_JOB)``."""
    jobs = min(max_jobs, n_units)
    if costs is not None and np.isfinite(costs).all():
        jobs = min(jobs, max(1, math.ceil(costs.sum() / min(budget, MIN_JOB))))
    return jobs


def make_packs(units: list[int], costs: np.ndarray, jobs: int) -> list[list[int]]:
    """``units`` (in order) cut into ``jobs`` contiguous packs of about equal total ``costs``."""
    middle = (np.cumsum(costs) - costs / 2) / costs.sum() * jobs
    which = np.minimum(np.floor(middle).astype(int), jobs - 1)
    packs = [[u for u, w in zip(units, which) if w == k] for k in range(jobs)]
    return [p for p in packs if p]


def _todo(store: Store, u: int, statuses: tuple[int, ...]) -> int:
    return int(np.isin(store.read_unit(u, ["status"])["status"], statuses).sum())


def requeue() -> bool:
    """Requeue this SLURM job (array element); False if not in SLURM or SLURM refused."""
    job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    if not job:
        return False
    return subprocess.run(["scontrol", "requeue", job], timeout=60).returncode == 0


def run_pack(store_path: str, units: list[int], statuses: tuple[int, ...] = RERUN,
             checkpoint_every: float = 60.0, budget: float = math.inf,
             every: float = EVERY) -> list[UnitResult]:
    """Run the units of a pack in order while the budget (seconds) lets the next one fit."""
    start = time.monotonic()
    store = Store(store_path)
    todo = {u: _todo(store, u, statuses) for u in units}
    per_task: list[float] = []
    results: list[UnitResult] = []
    console = Console(soft_wrap=True)
    label = f"job {os.environ.get('SLURM_JOB_ID', os.getpid())}: tasks"
    with Progress(sum(todo.values()), console, every=every, label=label) as progress:
        for u in (u for u in units if todo[u]):
            estimate = todo[u] * float(np.median(per_task)) if per_task else 0.0
            if results and time.monotonic() - start + estimate > budget:
                console.print(f"unit {u} (~{estimate:.0f} s) would overrun the budget of "
                              f"{budget:.0f} s: requeueing this job", highlight=False)
                if requeue():
                    time.sleep(3600)  # SLURM ends this run of the job; the requeued one goes on
                break
            t0 = time.monotonic()
            progress.start(todo[u])
            r = run_unit(store_path, u, statuses, checkpoint_every)
            progress.finish(todo[u], r.done, r.failed)
            if r.done + r.failed:
                per_task.append((time.monotonic() - t0) / (r.done + r.failed))
            results.append(r)
    return results
