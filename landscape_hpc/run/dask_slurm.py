"""The dask-slurm executor: a dask-jobqueue SLURMCluster from a cluster profile.

Each SLURM job is one dask worker that runs units as the scheduler hands them out, for the
profile's job length (dask's ``--lifetime``, staggered so that the workers do not all leave at
once); ``adapt`` replaces the workers that leave, and a unit cut off by a leaving worker is
resubmitted and continues from its checkpoint.
"""

from __future__ import annotations

from ..store import Store
from .dask import DaskExecutor
from .profile import ClusterProfile


class DaskSlurmExecutor(DaskExecutor):
    name = "dask-slurm"

    def __init__(self, profile: ClusterProfile, retries: int = 10):
        super().__init__(None, profile.checkpoint_every, retries)
        self.profile = profile

    def cluster(self, n_units: int, store: Store):
        from dask_jobqueue import SLURMCluster

        p = self.profile
        lifetime = int(p.budget)
        cluster = SLURMCluster(
            queue=p.partition, account=p.account, cores=p.cores, processes=p.cores,
            memory=f"{p.memory_mb}MB", walltime=p.walltime,
            job_extra_directives=p.directives, job_script_prologue=p.setup,
            worker_extra_args=["--lifetime", f"{lifetime}s", "--lifetime-stagger",
                               f"{max(1, lifetime // 20)}s"],
            interface=p.interface, scheduler_options={"dashboard_address": None},
            log_directory=f"{store.path}.slurm")
        jobs = min(p.max_jobs, n_units)
        cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)
        return cluster
