"""The submitit executor: packed jobs in SLURM job arrays, recorded in the store.

``submit`` cuts the units into packs (:mod:`.pack`: at most the profile's ``max_jobs``, fewer
where the estimated costs say the jobs would be short), submits one array element per pack,
split into as many arrays as MaxArraySize needs (:func:`.slurm.split_arrays`), records the
submission in the store (one record per array, made as soon as SLURM has it) and returns at
once.  A job that reaches its time limit gets submitit's signal ``signal_delay`` seconds before
it and requeues itself (:class:`PackJob` is checkpointable); the requeued job continues its unit
from the trajectory checkpoint.  The costs are those of :mod:`.costs`: measured on the store's
done units, else from a calibration file.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..store import Store
from ..store.layout import RERUN
from ..store.meta import ArrayPart, Submission
from .costs import Calibrated, unit_costs
from .executor import Executor, Job, UnitResult, Units
from .pack import make_packs, n_jobs, run_pack
from .profile import ClusterProfile
from .slurm import cluster_config, split_arrays, squeue


def _pack_job_class():
    import submitit

    class PackJob(submitit.helpers.Checkpointable):
        """Run a pack of units; on timeout or preemption, resubmit itself with the same pack."""

        def __call__(self, store: str, units: list[int], statuses: tuple[int, ...],
                     checkpoint_every: float, budget: float) -> list[UnitResult]:
            return run_pack(store, units, statuses, checkpoint_every, budget)

    return PackJob


@dataclass
class SubmititJob(Job):
    """A packed job: one element of a SLURM array."""

    job: Any = None
    executor: "SubmititExecutor" = field(default=None, repr=False)

    def state(self) -> str:
        return self.executor.states().get(self.job_id, "DONE")

    def result(self) -> list[UnitResult]:
        if not self.job.paths.result_pickle.exists():
            return []  # cancelled or killed: the store says which tasks are not done
        try:
            return self.job.result()
        except Exception:  # noqa: BLE001 - a failed job; its tasks stay resumable in the store
            return []

    def cancel(self) -> None:
        subprocess.run(["scancel", self.job_id], check=False, timeout=60)


class SubmititExecutor(Executor):
    name = "submitit"
    detached = True
    follows_store = True

    def __init__(self, profile: ClusterProfile, poll: float = 5.0,
                 calibrated: Calibrated | None = None):
        self.profile = profile
        self.calibrated = calibrated
        self.poll = poll
        self._arrays: list[str] = []
        self._states: tuple[float, dict[str, str]] = (-np.inf, {})

    def states(self) -> dict[str, str]:
        """squeue's state of every element of this executor's arrays (asked once per poll)."""
        at, states = self._states
        if time.monotonic() - at >= self.poll:
            states = squeue(self._arrays)
            self._states = (time.monotonic(), states)
        return states

    def _slurm(self, store: Path):
        """submitit's SlurmExecutor for the profile, its job folders beside the store."""
        import submitit

        p = self.profile
        ex = submitit.SlurmExecutor(folder=Path(f"{store}.slurm") / "%j", max_num_timeout=100)
        ex.update_parameters(
            partition=p.partition, account=p.account, time=p.time, mem=f"{p.memory_mb}M",
            cpus_per_task=p.cores, setup=list(p.setup), signal_delay_s=p.signal_delay,
            job_name=f"landscape-{Path(store).name}", additional_parameters=p.directive_map)
        return ex

    def submit(self, store: Store, units: Units, statuses: tuple[int, ...] = RERUN) -> list[Job]:
        p = self.profile
        limits = cluster_config()
        costs = unit_costs(store, units, self.calibrated)
        jobs = min(n_jobs(costs, len(units), p.max_jobs, p.budget), limits["MaxJobCount"])
        weights = costs if costs is not None else np.array([n for _, n in units], dtype=float)
        packs = make_packs([u for u, _ in units], weights, jobs)
        ex = self._slurm(store.path)
        pack_job = _pack_job_class()()
        handles: list[Job] = []
        tasks = dict(units)
        for first, count in split_arrays(len(packs), p.max_array_size or limits["MaxArraySize"]):
            chunk = packs[first:first + count]
            ex.update_parameters(array_parallelism=count)
            sub = ex.map_array(pack_job, [str(store.path)] * count, chunk, [statuses] * count,
                               [p.checkpoint_every] * count, [p.budget] * count)
            array_id = sub[0].job_id.split("_")[0]
            store.add_submission(Submission(
                backend=self.name, packs=chunk, arrays=[ArrayPart(job_id=array_id, first=0,
                                                                  count=count)],
                submitted=datetime.now(timezone.utc).isoformat(timespec="seconds")))
            self._arrays.append(array_id)
            handles += [SubmititJob(job.job_id, [(u, tasks[u]) for u in pack], job, self)
                        for pack, job in zip(chunk, sub)]
        return handles
