"""A progress bar for running sweeps: tasks done, failed, running, and the ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.progress import TimeRemainingColumn

from ..worker import UnitResult


class Progress:
    """Counts tasks; ``start``/``finish`` are called per work unit."""

    def __init__(self, total: int, console: Console | None = None, enabled: bool = True):
        self.done = self.failed = self.running = 0
        self._bar = RichProgress(
            TextColumn("[bold]tasks"), BarColumn(), MofNCompleteColumn(),
            TextColumn("done {task.fields[done]}  failed {task.fields[failed]}  "
                       "running {task.fields[running]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not enabled, transient=False)
        self._task = self._bar.add_task("run", total=total, done=0, failed=0, running=0)

    def __enter__(self) -> "Progress":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def start(self, n: int) -> None:
        self.running += n
        self._update(0)

    def finish(self, n: int, r: UnitResult) -> None:
        self.running -= n
        self.done += r.done
        self.failed += r.failed
        self._update(n)

    def set(self, done: int, failed: int, running: int) -> None:
        """Absolute counts (backends that follow the store rather than their workers)."""
        advance = done + failed - self.done - self.failed
        self.done, self.failed, self.running = done, failed, running
        self._update(advance)

    def _update(self, advance: int) -> None:
        self._bar.update(self._task, advance=advance, done=self.done, failed=self.failed,
                         running=self.running)
