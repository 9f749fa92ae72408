"""The backend interface: where the work units of a store run.

Every backend runs the same worker (:func:`landscape_hpc.worker.run_unit`) on units of a store;
they differ only in how the processes are started.  ``run`` blocks until the units are finished
(or, for batch systems, until the jobs have ended); ``submit`` returns once the work is handed
over, with the ids of what was submitted (the blocking backends run and return no ids).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ..store.layout import RERUN
from ..worker import UnitResult

Units = list[tuple[int, int]]  # (unit index, tasks to run)


class Backend(ABC):
    name: str

    @abstractmethod
    def run(self, store: Path, units: Units, statuses: tuple[int, ...] = RERUN,
            progress=None) -> list[UnitResult]:
        """Run ``units`` and wait for them."""

    def submit(self, store: Path, units: Units, statuses: tuple[int, ...] = RERUN) -> list[str]:
        """Hand the units over and return job ids; blocking backends just run them."""
        self.run(store, units, statuses)
        return []
