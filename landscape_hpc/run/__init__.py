"""Running sweeps: plan -> store -> executor -> worker, and what is left to run.

=============  ==================================================================================
``local``      local processes, one job per unit (the default)
``dask-local`` a dask LocalCluster on 127.0.0.1, one future per unit
``dask-slurm`` a dask-jobqueue SLURMCluster from a cluster profile; each SLURM job a dask worker
               running units for the profile's job length
``submitit``   packed jobs in SLURM arrays from a cluster profile; ``submit`` returns at once
=============  ==================================================================================

A run flows as: :func:`prepare` plans the sweep and creates or extends its store;
:func:`~.status.work_left` says which units have work and are not live; :func:`make_executor`
gives the executor; :func:`~.executor.run` submits and waits with the progress (or
``executor.submit`` alone hands SLURM the work and returns); every job ends in
:func:`.worker.run_unit`, which writes the records through the store.
:func:`resume_units` checks the store's chunks first and resets units with unreadable ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import ConfigError
from ..store import PENDING, Store, open_store
from ..store.layout import RERUN
from .costs import Calibrated
from .executor import Executor, Job, Units, run, wait
from .status import ONLY, live_units, status, work_left

if TYPE_CHECKING:
    from ..sweep import Plan

NAMES = ("local", "dask-local", "dask-slurm", "submitit")
SLURM = ("dask-slurm", "submitit")

__all__ = ["NAMES", "ONLY", "Executor", "Job", "Prepared", "make_executor", "plan_for_store",
           "prepare", "resume_units", "run", "status", "wait", "work_left"]


def make_executor(name: str, workers: int | None = None, checkpoint_every: float | None = None,
                  profile: str | None = None, costs: Calibrated | None = None) -> Executor:
    """An executor by name.  The local ones take ``workers`` and ``checkpoint_every``; the SLURM
    ones take both from the cluster ``profile`` (a name or a YAML file); submitit packs by the
    ``costs`` of a calibration where nothing is measured yet.  An option an executor cannot
    honour is a ConfigError naming it."""
    if name not in NAMES:
        raise ConfigError(f"--backend: expected one of {', '.join(NAMES)}, got '{name}'")
    if costs is not None and name != "submitit":
        raise ConfigError(f"--costs: only for --backend submitit, which packs units into jobs "
                          f"by their cost, not --backend {name}")
    if name in SLURM:
        for option, value in (("--workers", workers), ("--checkpoint-every", checkpoint_every)):
            if value is not None:
                raise ConfigError(f"{option}: not for --backend {name}, which takes it from the "
                                  "cluster profile (max_jobs, checkpoint_every); set it there")
        from .profile import load_profile

        p = load_profile(profile)
        if name == "dask-slurm":
            from .dask_slurm import DaskSlurmExecutor

            return DaskSlurmExecutor(p)
        from .submitit_slurm import SubmititExecutor

        return SubmititExecutor(p, calibrated=costs)
    if profile is not None:
        raise ConfigError(f"--profile: only for the SLURM backends ({', '.join(SLURM)}), not "
                          f"--backend {name}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: expected a positive number of processes, got {workers}")
    every = 60.0 if checkpoint_every is None else checkpoint_every
    if every <= 0:
        raise ConfigError(f"--checkpoint-every: expected seconds > 0, got {every}")
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor(workers, every)
    from .dask import DaskExecutor

    return DaskExecutor(workers, every)


def plan_for_store(sweep_file: str | Path, profile: str | None = None) -> "Plan":
    """The plan of a sweep (for plan, run and submit); a sweep from another store is planned from
    that store's records."""
    from ..sweep import plan_sweep

    plan = plan_sweep(sweep_file, profile)
    if plan.sweep.source is None:
        return plan
    from ..store.source import source_records
    from ..sweep import plan_from_records

    plan = plan_from_records(plan.sweep, source_records(plan.sweep.source.store))
    if plan.n_tasks == 0:
        raise ConfigError(f"{sweep_file}: from_store.select: no task of "
                          f"{plan.sweep.source.store} is selected")
    return plan


@dataclass
class Prepared:
    store: Store
    n_tasks: int       # tasks of the plan
    added: int         # new in the store
    units: Units       # units with work left, not live


def prepare(sweep_file: str | Path, store: str | Path, scale: str | None = None,
            costs: Calibrated | None = None) -> Prepared:
    """Plan the sweep, create or extend its store, and find the units with work left; ``costs``
    (for the packer) must calibrate some group of the plan, checked before the store is
    touched."""
    plan = plan_for_store(sweep_file, scale)
    if costs is not None:
        costs.check((g.id for g in plan.groups), str(sweep_file))
    st, added = Store.create_or_extend(store, plan)
    return Prepared(st, plan.n_tasks, added, work_left(st))


def resume_units(path: str | Path, statuses: tuple[int, ...] = RERUN, verify: bool = True,
                 costs: Calibrated | None = None) -> tuple[Store, Units, dict[int, str]]:
    """The store, its units to rerun, and the units reset because a chunk of theirs could not
    be read (a job killed mid-write, a shared filesystem that lost a write).  Verified are the
    status chunks of every unit that is not live, then every chunk of the units a worker wrote
    to (a task running, done or failed); units that only the coordinator wrote are not read.
    ``costs`` must calibrate some group of the store, checked before anything is reset."""
    st = open_store(path, "r+")
    if costs is not None:
        costs.check((g.id for g in st.meta.groups), str(path))
    bad: dict[int, str] = {}
    live = None
    if verify:
        live = live_units(st, np.arange(st.n_units))
        idle = [u for u in range(st.n_units) if u not in live]
        bad = _reset(st, st.verify(idle, ["status"]))
        status = st.tasks["status"][:].reshape(st.n_units, st.unit_size)
        bad |= _reset(st, st.verify([u for u in idle if u not in bad
                                     and (status[u] > PENDING).any()]))
    return st, work_left(st, statuses, live), bad


def _reset(store: Store, bad: dict[int, str]) -> dict[int, str]:
    for u in bad:
        store.reset_unit(u)
    return bad
