"""What is left to run in a store, and how a store stands.

A unit is *live* while a process holds it (its lock, or a fresh heartbeat from another host:
:meth:`Store.is_live`) or while a queued or running SLURM job's pack holds it
(:func:`.slurm.active_units`).  :func:`work_left` gives the units with tasks to (re)run that are
not live, so resume never reruns a unit that a live job runs and never leaves one a dead job
held.  :func:`status` counts tasks per status, as joint tables over axes, and lists failures;
running tasks of units that are not live are dead (their process is gone) and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..store import DONE, EMPTY, FAILED, PENDING, RUNNING, STATUS, Store
from ..store.layout import RERUN

ONLY = {"pending": PENDING, "running": RUNNING, "failed": FAILED}
COUNTED = (PENDING, RUNNING, DONE, FAILED)


def live_units(store: Store, units: np.ndarray) -> dict[int, str]:
    """The live units among ``units`` (running tasks), with what holds them."""
    out: dict[int, str] = {}
    if store.meta.jobs:
        from .slurm import active_units

        out = {u: f"SLURM {s.lower()}" for u, s in active_units(store).items()}
    out.update({int(u): "a process" for u in units if store.is_live(int(u))})
    return out


def work_left(store: Store, statuses: tuple[int, ...] = RERUN,
              live: dict[int, str] | None = None) -> list[tuple[int, int]]:
    """(unit, tasks to run) for every unit with tasks in ``statuses`` that is not live
    (``live``: the live units when the caller has just probed them)."""
    status = store.tasks["status"][:].reshape(store.n_units, store.unit_size)
    counts = np.isin(status, statuses).sum(1)
    units = np.flatnonzero(counts)
    if live is None:
        running = [u for u in units if (status[u] == RUNNING).any()]
        live = live_units(store, np.array(running, dtype=int))
    return [(int(u), int(counts[u])) for u in units if int(u) not in live]


@dataclass
class Status:
    counts: dict[str, int]
    dead: int                                   # running tasks whose process is gone
    by: list[str] = field(default_factory=list)  # axes of the table
    table: list[dict] = field(default_factory=list)  # one row per combination that exists
    failures: list[dict] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)  # SLURM array elements per state

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _table(store: Store, st: np.ndarray, used: np.ndarray, by: list[str]) -> list[dict]:
    """Counts per status for every combination of the ``by`` axes that has tasks."""
    for key in by:
        if key not in store.axes and key != "seed":
            raise KeyError(f"no axis '{key}'; axes of this store: {', '.join(store.axes) or 'none'}")
    frame = pd.DataFrame({key: _column(store.tasks[key][:][used]) for key in by})
    frame["code"] = st[used]
    counts = frame.groupby(by, dropna=False, sort=True)["code"].value_counts().unstack(
        fill_value=0)
    rows = []
    for combo, row in counts.iterrows():
        combo = combo if isinstance(combo, tuple) else (combo,)
        out = {key: _plain(v) for key, v in zip(by, combo)}
        out.update({STATUS[s]: int(row.get(s, 0)) for s in COUNTED})
        rows.append(out)
    return rows


def _column(values: np.ndarray) -> np.ndarray:
    """An axis column for grouping: strings (zarr's string dtype) as objects."""
    return values.astype(object) if values.dtype.kind in "OT" else values


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def status(store: Store, by: list[str] | None = None, failures: int = 20) -> Status:
    """Counts per status (empty slots left out), the joint table over ``by``, first failures."""
    st = store.tasks["status"][:]
    used = st != EMPTY
    counts = {STATUS[s]: int((st == s).sum()) for s in COUNTED}
    running_units = np.unique(np.flatnonzero(st == RUNNING) // store.unit_size)
    live = live_units(store, running_units)
    dead = sum(int((st[store.unit_slice(int(u))] == RUNNING).sum()) for u in running_units
               if int(u) not in live)
    out = Status(counts, dead, list(by or []))
    if store.meta.jobs:
        from .slurm import squeue

        states = squeue([a.job_id for s in store.meta.jobs for a in s.arrays])
        for state in states.values():
            out.jobs[state] = out.jobs.get(state, 0) + 1
    if by:
        out.table = _table(store, st, used, list(by))
    bad = np.flatnonzero(st == FAILED)[:failures]
    if len(bad):
        ids, seeds, errors = (store.tasks[n][:] for n in ("task_id", "seed", "error"))
        out.failures = [{"task": str(ids[i]), "seed": int(seeds[i]), "error": str(errors[i])}
                        for i in bad]
    return out
