"""The dask-slurm backend: a dask-jobqueue SLURMCluster sized to the work, from a profile."""

from __future__ import annotations

from pathlib import Path

from .dask import DaskBackend
from .profile import ClusterProfile


class DaskSlurmBackend(DaskBackend):
    name = "dask-slurm"

    def __init__(self, profile: ClusterProfile, retries: int = 2):
        super().__init__(None, profile.checkpoint_every, retries)
        self.profile = profile

    def cluster(self, n_units: int, store: Path):
        from dask_jobqueue import SLURMCluster

        p = self.profile
        extra = [f"--qos={p.qos}"] if p.qos else []
        cluster = SLURMCluster(
            queue=p.partition, account=p.account, cores=p.cores, processes=p.cores,
            memory=f"{p.memory_mb}MB", walltime=f"{p.time // 60:02d}:{p.time % 60:02d}:00",
            job_extra_directives=extra + p.sbatch, job_script_prologue=p.setup,
            interface=p.interface, scheduler_options={"dashboard_address": None},
            log_directory=str(store.with_name(store.name + ".slurm")))
        cluster.scale(jobs=min(p.max_jobs, n_units))
        return cluster
