"""run / resume / status: the pipeline from a sweep file to a finished store.

The CLI plans the sweep, creates or extends the store (refusing a store of another sweep) and
hands the units with work left (:func:`work_left`) to a backend; ``resume`` does the same from the
store alone; :func:`status` counts tasks per status, per axis, and lists failures.  Running tasks whose unit lock
is free are dead (their process is gone) and count as resumable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from typing import TYPE_CHECKING

from .config import ConfigError
from .store import DONE, EMPTY, FAILED, PENDING, RUNNING, STATUS, Store
from .store.layout import RERUN

if TYPE_CHECKING:
    from .sweep import Plan

ONLY = {"pending": PENDING, "running": RUNNING, "failed": FAILED}


def work_left(store: Store, statuses: tuple[int, ...] = RERUN) -> list[tuple[int, int]]:
    """(unit, tasks to run) for every unit with tasks in ``statuses``, skipping live units: those
    a local process holds (unit lock) or whose SLURM job is still queued or running."""
    status = store.tasks["status"][:].reshape(store.n_units, store.unit_size)
    counts = np.isin(status, statuses).sum(1)
    units = np.flatnonzero(counts)
    live = {int(u) for u in units if (status[u] == RUNNING).any() and store.is_locked(int(u))}
    if store.meta.get("jobs"):
        from .backends.slurm import active_units

        live |= set(active_units(store))
    return [(int(u), int(counts[u])) for u in units if int(u) not in live]


def plan_for_store(sweep_file: str | Path, profile: str | None = None) -> "Plan":
    """The plan of a sweep (for plan, run and submit); a sweep from another store is planned from
    that store's records."""
    from .sweep import plan_sweep

    plan = plan_sweep(sweep_file, profile)
    if plan.sweep.source is None:
        return plan
    from .store.source import source_records
    from .sweep import plan_from_records

    plan = plan_from_records(plan.sweep, source_records(plan.sweep.source.store))
    if plan.n_tasks == 0:
        raise ConfigError(f"{sweep_file}: from_store.select: no task of "
                          f"{plan.sweep.source.store} is selected")
    return plan


@dataclass
class Status:
    counts: dict[str, int]
    dead: int                                   # running tasks whose process is gone
    by_axis: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)  # SLURM array elements per state

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def status(store: Store, by: list[str] | None = None, failures: int = 20) -> Status:
    """Counts per status (empty slots left out), optionally per axis, and the first failures."""
    st = store.tasks["status"][:]
    used = st != EMPTY
    counts = {STATUS[s]: int((st == s).sum()) for s in (PENDING, RUNNING, DONE, FAILED)}
    running_units = np.unique(np.flatnonzero(st == RUNNING) // store.unit_size)
    active: dict[int, str] = {}
    if store.meta.get("jobs"):
        from .backends.slurm import active_units

        active = active_units(store)
    dead = sum(int((st[store.unit_slice(int(u))] == RUNNING).sum()) for u in running_units
               if not store.is_locked(int(u)) and int(u) not in active)
    out = Status(counts, dead)
    for state in active.values():
        out.jobs[state] = out.jobs.get(state, 0) + 1
    for key in by or []:
        if key not in store.axes and key != "seed":
            raise KeyError(f"no axis '{key}'; axes of this store: {', '.join(store.axes) or 'none'}")
        values = store.tasks[key][:]
        table: dict[str, dict[str, int]] = {}
        for v in np.unique(values[used]):
            sel = used & (values == v)
            table[str(v)] = {STATUS[s]: int((st[sel] == s).sum())
                             for s in (PENDING, RUNNING, DONE, FAILED)}
        out.by_axis[key] = table
    bad = np.flatnonzero(st == FAILED)[:failures]
    if len(bad):
        ids, seeds, errors = (store.tasks[n][:] for n in ("task_id", "seed", "error"))
        out.failures = [{"task": str(ids[i]), "seed": int(seeds[i]), "error": str(errors[i])}
                        for i in bad]
    return out
