"""Dask backends: one core class feeding work units to a dask cluster, one factory per cluster.

The client submits one future per work unit (``retries`` resubmits a unit whose worker died;
the unit continues from its checkpoint).  The scheduler binds to the given host/interface only:
127.0.0.1 for the local cluster and in tests.
"""

from __future__ import annotations

from pathlib import Path

from ..store.layout import RERUN
from ..worker import UnitResult, run_unit
from .base import Backend, Units


class DaskBackend(Backend):
    """Work units as dask futures on the cluster that :meth:`cluster` makes."""

    name = "dask"

    def __init__(self, workers: int | None = None, checkpoint_every: float = 60.0,
                 retries: int = 2):
        self.workers = workers
        self.checkpoint_every = checkpoint_every
        self.retries = retries

    def cluster(self, n_units: int, store: Path):
        from distributed import LocalCluster

        return LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None)

    def run(self, store: Path, units: Units, statuses: tuple[int, ...] = RERUN,
            progress=None) -> list[UnitResult]:
        from distributed import Client, as_completed

        if not units:
            return []
        results = []
        with self.cluster(len(units), Path(store)) as cluster, Client(cluster) as client:
            futures = {}
            for u, n in units:
                f = client.submit(run_unit, str(store), u, statuses, self.checkpoint_every,
                                  key=f"unit-{u}-{Path(store).name}", retries=self.retries,
                                  pure=False)
                futures[f] = n
                if progress:
                    progress.start(n)
            for f in as_completed(futures):
                r = f.result()
                results.append(r)
                if progress:
                    progress.finish(futures[f], r)
        return results
