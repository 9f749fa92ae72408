"""Dask executors: one core class feeding work units to a dask cluster as futures; each cluster
(a LocalCluster here, a dask-jobqueue SLURMCluster in :mod:`.dask_slurm`) only says how it is made.

A worker runs unit after unit as the scheduler hands them out, so the dask worker is the packed
job: long-lived, many units.  ``retries`` resubmits a unit whose worker died (a SLURM job that
reached its time limit); the unit continues from its checkpoint.  The scheduler binds to the
given host/interface only: 127.0.0.1 for the local cluster and in tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..store import Store
from ..store.layout import RERUN
from .worker import run_unit
from .executor import Executor, FutureJob, Job, Units


def _executing(dask_worker) -> list[str]:
    """Run on a worker: the keys of the tasks it executes."""
    return [str(ts.key) for ts in dask_worker.state.executing]


@dataclass
class DaskJob(FutureJob):
    """A work unit as a dask future; running while a worker executes it."""

    executor: Any = None

    def state(self) -> str:
        state = super().state() if self.future.done() or self.future.cancelled() else "PENDING"
        if state == "PENDING" and self.future.key in self.executor.executing():
            return "RUNNING"
        return state


class DaskExecutor(Executor):
    """Work units as futures on the cluster that :meth:`cluster` makes (a LocalCluster)."""

    name = "dask-local"

    def __init__(self, workers: int | None = None, checkpoint_every: float = 60.0,
                 retries: int = 2):
        self.workers = workers
        self.checkpoint_every = checkpoint_every
        self.retries = retries
        self._cluster = self._client = None
        self._executing: tuple[float, set] = (0.0, set())

    def cluster(self, n_units: int, store: Store):
        from distributed import LocalCluster

        return LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None)

    def __exit__(self, *exc) -> None:
        if self._client is not None:
            self._client.close()
            self._cluster.close()
        self._client = self._cluster = None

    def executing(self) -> set:
        """Keys of the units a worker executes now (asked at most once a second).  Not the
        scheduler's ``processing``: that also counts the units queued on a worker behind its
        current one (two per one-thread worker), which showed twice the running tasks."""
        at, keys = self._executing
        if time.monotonic() - at > 1.0:
            keys = {k for ks in self._client.run(_executing).values() for k in ks}
            self._executing = (time.monotonic(), keys)
        return keys

    def submit(self, store: Store, units: Units, statuses: tuple[int, ...] = RERUN) -> list[Job]:
        from distributed import Client

        if self._client is None:
            self._cluster = self.cluster(len(units), store)
            self._client = Client(self._cluster)
        return [DaskJob(f"unit-{u}-{store.path.name}", [(u, n)],
                        self._client.submit(run_unit, str(store.path), u, statuses,
                                            self.checkpoint_every, key=f"unit-{u}-{store.path.name}",
                                            retries=self.retries, pure=False), self)
                for u, n in units]
