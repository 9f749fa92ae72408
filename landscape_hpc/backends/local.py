"""The embedded default backend: work units in local processes (one torch thread each).

Worker processes are started with ``spawn`` and die with the runner (PR_SET_PDEATHSIG on Linux),
so killing the runner never leaves a process writing to the store behind it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from ..store.layout import RERUN
from ..worker import UnitResult, run_unit
from .base import Backend, Units
from .progress import Progress


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the runner died while this process was starting
        os._exit(1)


class LocalBackend(Backend):
    """Run work units in ``workers`` local processes (default: all cores)."""

    name = "local"

    def __init__(self, workers: int | None = None, checkpoint_every: float = 60.0):
        self.workers = workers or os.cpu_count() or 1
        self.checkpoint_every = checkpoint_every

    def run(self, store: Path, units: Units, statuses: tuple[int, ...] = RERUN,
            progress: Progress | None = None) -> list[UnitResult]:
        """Run ``units`` ((index, tasks to run) pairs) to the end; blocks."""
        results: list[UnitResult] = []
        ctx = get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as ex:
            pending: dict[Future, tuple[int, int]] = {}
            queue = list(units)
            while queue or pending:
                while queue and len(pending) < self.workers:
                    u, n = queue.pop(0)
                    f = ex.submit(run_unit, str(store), u, statuses, self.checkpoint_every)
                    pending[f] = (u, n)
                    if progress:
                        progress.start(n)
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    u, n = pending.pop(f)
                    r = f.result()
                    results.append(r)
                    if progress:
                        progress.finish(n, r)
        return results
