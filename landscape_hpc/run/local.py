"""The embedded default executor: one job per work unit in a pool of local processes (one torch
thread each).

Worker processes are started with ``spawn`` and die with the runner (PR_SET_PDEATHSIG on Linux),
so killing the runner never leaves a process writing to the store behind it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from ..store import Store
from ..store.layout import RERUN
from .worker import run_unit
from .executor import Executor, FutureJob, Job, Units


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the runner died while this process was starting
        os._exit(1)


class LocalExecutor(Executor):
    """Work units in ``workers`` local processes (default: all cores)."""

    name = "local"

    def __init__(self, workers: int | None = None, checkpoint_every: float = 60.0):
        self.workers = workers or os.cpu_count() or 1
        self.checkpoint_every = checkpoint_every
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "LocalExecutor":
        self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                         initializer=_die_with_parent, initargs=(os.getpid(),))
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
        self._pool = None

    def submit(self, store: Store, units: Units, statuses: tuple[int, ...] = RERUN) -> list[Job]:
        return [FutureJob(f"local-{u}", [(u, n)],
                          self._pool.submit(run_unit, str(store.path), u, statuses,
                                            self.checkpoint_every))
                for u, n in units]
