"""Executors and jobs: one interface for every place work units run (submitit's Executor/Job).

``Executor.submit(store, units)`` hands units over and returns :class:`Job` handles at once;
each job has a ``state``, ``done``, ``result`` (blocks; the :class:`UnitResult` of its units)
and ``cancel``.  :func:`wait` follows jobs to their end with the progress, and :func:`run` is
``submit`` + ``wait``, written once for every executor.  An executor is a context manager that
owns what its jobs need while they run (a process pool, a dask cluster); executors whose jobs
outlive this process (``detached``, the SLURM arrays of ``submitit``) can be submitted to and
left.  Progress comes from the jobs' results, or from the store's status counts for executors
whose jobs run many units each (``follows_store``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..store import DONE, FAILED, RUNNING, Store
from ..store.layout import RERUN
from .progress import Progress

Units = list[tuple[int, int]]  # (unit index, tasks to run)
FINAL = ("DONE", "FAILED", "CANCELLED")


@dataclass
class UnitResult:
    """What a worker did with a unit (:func:`.worker.run_unit`)."""

    unit: int
    done: int = 0
    failed: int = 0
    skipped: bool = False  # another live process holds the unit


@dataclass
class Job(ABC):
    """A handle on submitted work units."""

    job_id: str
    units: Units

    @property
    def tasks(self) -> int:
        return sum(n for _, n in self.units)

    @abstractmethod
    def state(self) -> str:
        """PENDING, RUNNING, DONE, FAILED or CANCELLED (or the batch system's own word)."""

    def done(self) -> bool:
        return self.state() in FINAL

    @abstractmethod
    def result(self) -> list[UnitResult]:
        """Wait for the job; its units' results (raises what the job raised)."""

    @abstractmethod
    def cancel(self) -> None:
        """Cancel the job (units already running may finish or continue from a checkpoint)."""


@dataclass
class FutureJob(Job):
    """A job held as a ``concurrent.futures``-like future of one unit (local processes, dask)."""

    future: Any

    def state(self) -> str:
        f = self.future
        if f.cancelled():
            return "CANCELLED"
        if f.done():
            return "FAILED" if f.exception() is not None else "DONE"
        return "RUNNING" if f.running() else "PENDING"

    def result(self) -> list[UnitResult]:
        return [self.future.result()]

    def cancel(self) -> None:
        self.future.cancel()


class Executor(ABC):
    """Where work units run; ``with executor: jobs = executor.submit(...)``."""

    name: str
    detached = False       # jobs outlive this process: ``submit`` may return and leave them
    follows_store = False  # progress from the store's counts rather than from job results
    poll = 0.2             # seconds between looks at the jobs while waiting

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        """Release what the jobs needed; cancel what has not started if leaving on an error."""

    @abstractmethod
    def submit(self, store: Store, units: Units, statuses: tuple[int, ...] = RERUN) -> list[Job]:
        """Hand ``units`` over; one handle per job."""


def _counts(store: Store) -> tuple[int, int, int]:
    st = store.tasks["status"][:]
    return int((st == DONE).sum()), int((st == FAILED).sum()), int((st == RUNNING).sum())


def wait(executor: Executor, jobs: list[Job], store: Store,
         progress: Progress | None = None) -> list[UnitResult]:
    """Follow ``jobs`` to their end, updating ``progress``; every job's results."""
    results: list[UnitResult] = []
    left = list(jobs)
    base = _counts(store) if executor.follows_store else (0, 0, 0)
    done = failed = 0
    while left:
        for job in [j for j in left if j.done()]:
            left.remove(job)
            rs = job.result()
            results += rs
            done += sum(r.done for r in rs)
            failed += sum(r.failed for r in rs)
        if progress is not None:
            if executor.follows_store:
                d, f, r = _counts(store)
                progress.set(d - base[0], f - base[1], r)
            else:
                progress.set(done, failed, sum(j.tasks for j in left if j.state() == "RUNNING"))
        if left:
            time.sleep(executor.poll)
    return results


def run(executor: Executor, store: Store, units: Units, statuses: tuple[int, ...] = RERUN,
        progress: Progress | None = None) -> list[UnitResult]:
    """Run ``units`` on ``executor`` and wait for them: :meth:`Executor.submit` + :func:`wait`."""
    if not units:
        return []
    with executor:
        return wait(executor, executor.submit(store, units, statuses), store, progress)
