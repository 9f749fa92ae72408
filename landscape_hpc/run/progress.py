"""Progress of running work: tasks done, failed, running, the rate and the ETA.

On a terminal it is a rich progress bar.  Off a terminal (a redirected ``run``, ``nohup``, a
SLURM job's log) a bar prints nothing useful, so a line is printed every ``every`` seconds
(default 30) by a timer thread, whether or not anything finished, and once at the end::

    [2026-12-02 03:41:07] tasks 120/4219: done 118, failed 2, running 64; 3.2/s, ETA 0:21:13

The counts are set by the caller (:meth:`start`/:meth:`finish` per work unit, or :meth:`set`
for callers that follow the store rather than their workers).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.progress import TimeRemainingColumn

EVERY = 30.0  # seconds between progress lines off a terminal


class Progress:
    """Counts tasks of ``total``; a bar on a terminal, else a line every ``every`` seconds."""

    def __init__(self, total: int, console: Console | None = None, enabled: bool = True,
                 every: float = EVERY, label: str = "tasks"):
        self.total, self.label, self.every = total, label, every
        self.done = self.failed = self.running = 0
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.enabled = enabled
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._bar: RichProgress | None = None
        if enabled and self.console.is_terminal:
            self._bar = RichProgress(
                TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("done {task.fields[done]}  failed {task.fields[failed]}  "
                           "running {task.fields[running]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=False)
            self._task = self._bar.add_task(label, total=total, done=0, failed=0, running=0)

    def __enter__(self) -> "Progress":
        self._start = time.monotonic()
        if self._bar is not None:
            self._bar.__enter__()
        elif self.enabled:
            self._thread = threading.Thread(target=self._ticker, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.console.print(self.line(), highlight=False)

    def start(self, n: int) -> None:
        """``n`` tasks started running."""
        with self._lock:
            self.running += n
        self._update()

    def finish(self, n: int, done: int, failed: int) -> None:
        """``n`` running tasks ended, ``done`` of them done and ``failed`` failed."""
        with self._lock:
            self.running -= n
            self.done += done
            self.failed += failed
        self._update()

    def set(self, done: int, failed: int, running: int) -> None:
        """Absolute counts."""
        with self._lock:
            self.done, self.failed, self.running = done, failed, running
        self._update()

    def line(self) -> str:
        """One line: time, counts, rate and ETA."""
        finished = self.done + self.failed
        elapsed = time.monotonic() - self._start
        rate = finished / elapsed if elapsed > 0 else 0.0
        left = self.total - finished
        eta = str(timedelta(seconds=round(left / rate))) if rate > 0 and left > 0 else "-"
        stamp = datetime.now().isoformat(sep=" ", timespec="seconds")
        return (f"[{stamp}] {self.label} {finished}/{self.total}: done {self.done}, failed "
                f"{self.failed}, running {self.running}; {rate:.3g}/s, ETA {eta}")

    def _update(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done + self.failed, done=self.done,
                             failed=self.failed, running=self.running)

    def _ticker(self) -> None:
        while not self._stop.wait(self.every):
            self.console.print(self.line(), highlight=False)
