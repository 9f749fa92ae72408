"""The submitit backend: one SLURM job array per submission, one work unit per array element.

``submit`` returns as soon as SLURM has the array, after recording the job id in the store.  A
job that reaches its time limit gets submitit's signal ``signal_delay`` seconds before it,
and requeues itself (:class:`UnitJob` is checkpointable); the requeued job continues the unit
from the trajectory checkpoint that the worker saves every ``checkpoint_every`` seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..store.layout import RERUN
from ..worker import UnitResult, run_unit
from .base import Backend, Units
from .profile import ClusterProfile
from .slurm import record_jobs


def _unit_job_class():
    import submitit

    class UnitJob(submitit.helpers.Checkpointable):
        """Run one work unit; on timeout or preemption, resubmit itself with the same unit."""

        def __call__(self, store: str, u: int, statuses: tuple[int, ...],
                     checkpoint_every: float) -> UnitResult:
            return run_unit(store, u, statuses, checkpoint_every)

    return UnitJob


class SubmititBackend(Backend):
    name = "submitit"

    def __init__(self, profile: ClusterProfile, poll: float = 5.0):
        self.profile = profile
        self.poll = poll

    def executor(self, store: Path):
        import submitit

        p = self.profile
        extra = {}
        for line in p.sbatch:
            key, _, value = line.lstrip("-").partition("=")
            extra[key.replace("-", "_")] = value or True
        ex = submitit.SlurmExecutor(folder=Path(f"{store}.slurm") / "%j", max_num_timeout=100)
        ex.update_parameters(
            partition=p.partition, account=p.account, qos=p.qos, time=p.time,
            mem=f"{p.memory_mb}M", cpus_per_task=p.cores, setup=list(p.setup),
            signal_delay_s=p.signal_delay, array_parallelism=p.max_jobs,
            job_name=f"landscape-{Path(store).name}", additional_parameters=extra)
        return ex

    def submit(self, store: Path, units: Units, statuses: tuple[int, ...] = RERUN) -> list[str]:
        if not units:
            return []
        ex = self.executor(store)
        job = _unit_job_class()()
        indices = [u for u, _ in units]
        n = len(indices)
        jobs = ex.map_array(job, [str(store)] * n, indices, [statuses] * n,
                            [self.profile.checkpoint_every] * n)
        array_id = jobs[0].job_id.split("_")[0]
        record_jobs(store, self.name, array_id, indices)
        return [array_id]

    def run(self, store: Path, units: Units, statuses: tuple[int, ...] = RERUN,
            progress=None) -> list[UnitResult]:
        """Submit, then follow the store until the array has left the queue."""
        from ..runner import status as store_status
        from ..store import open_store
        from .slurm import queued

        def counts() -> dict[str, int]:
            return store_status(open_store(store)).counts

        before = counts()
        ids = self.submit(store, units, statuses)
        while True:
            if progress:
                c = counts()
                progress.set(c["done"] - before["done"], c["failed"] - before["failed"],
                             c["running"])
            if not queued(ids):
                break
            time.sleep(self.poll)
        return []
