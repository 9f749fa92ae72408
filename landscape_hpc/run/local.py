"""The embedded default executor: one job per work unit in a pool of local processes (one torch
thread each).

Worker processes are started with ``spawn`` and die with the runner (PR_SET_PDEATHSIG on Linux),
so killing the runner never leaves a process writing to the store behind it.  A job is running
once its worker says so through a queue: the pool's own ``running()`` also holds the unit queued
for the next free worker, which showed one unit too many as running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from ..store import Store
from ..store.layout import RERUN
from .worker import run_unit
from .executor import Executor, FutureJob, Job, Units


_started: Any = None  # in a worker: the queue on which it says which unit it starts


def _init_worker(parent: int, started: Any) -> None:
    global _started
    _started = started
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the runner died while this process was starting
        os._exit(1)


def _run_unit(store: str, unit: int, statuses: tuple[int, ...], checkpoint_every: float):
    _started.put(unit)
    return run_unit(store, unit, statuses, checkpoint_every)


@dataclass
class LocalJob(FutureJob):
    """A work unit in the pool; running once a worker has started it."""

    executor: Any = None

    def state(self) -> str:
        state = super().state()
        if state == "RUNNING" and self.units[0][0] not in self.executor.started():
            return "PENDING"
        return state


class LocalExecutor(Executor):
    """Work units in ``workers`` local processes (default: all cores)."""

    name = "local"

    def __init__(self, workers: int | None = None, checkpoint_every: float = 60.0):
        self.workers = workers or os.cpu_count() or 1
        self.checkpoint_every = checkpoint_every
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None
        self._started: set[int] = set()

    def __enter__(self) -> "LocalExecutor":
        ctx = get_context("spawn")
        self._queue, self._started = ctx.Queue(), set()
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                         initargs=(os.getpid(), self._queue))
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
        self._pool = None
        self._queue.close()

    def started(self) -> set[int]:
        """The units a worker has started."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._started.add(self._queue.get_nowait())
        return self._started

    def submit(self, store: Store, units: Units, statuses: tuple[int, ...] = RERUN) -> list[Job]:
        return [LocalJob(f"local-{u}", [(u, n)],
                         self._pool.submit(_run_unit, str(store.path), u, statuses,
                                           self.checkpoint_every), self)
                for u, n in units]
