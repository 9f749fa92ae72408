"""Unit locks with a heartbeat: who runs a work unit, and whether it is still alive.

A process runs a unit while it holds the unit's lock file with ``flock`` (released by the kernel
when the process dies, however it dies).  On a shared filesystem whose locks do not reach other
nodes, the holder also writes ``host pid job`` into the file and touches it every ``BEAT``
seconds: a unit is *live* if its lock is held, or if another host's heartbeat is younger than
``STALE`` seconds.  A holder line of this host whose process is gone (``kill -9``) is dead at
once; a holder of another host that stopped beating is dead after ``STALE``.  The probe holds
the lock for microseconds, so a claim retries briefly before it gives up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

BEAT = 30.0    # seconds between heartbeats
STALE = 120.0  # seconds without a heartbeat after which another host's holder is dead
HOST = socket.gethostname()


def _holder(f) -> tuple[str, int] | None:
    """(host, pid) written in an open lock file, None if empty."""
    f.seek(0)
    parts = f.read().split()
    return (parts[0], int(parts[1])) if len(parts) >= 2 else None


def _beating(path: Path, holder: tuple[str, int] | None) -> bool:
    """Is ``holder`` (read from ``path``) a live process of another host?"""
    if holder is None or holder[0] == HOST:
        return False
    return time.time() - path.stat().st_mtime < STALE


def _try_lock(f, tries: int) -> bool:
    for k in range(tries):
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if k + 1 < tries:
                time.sleep(0.05)
    return False


@contextlib.contextmanager
def hold(path: Path) -> Iterator[bool]:
    """Hold the lock at ``path`` with a heartbeat; yields False if a live process holds it."""
    with open(path, "a+") as f:
        if not _try_lock(f, 10):
            yield False
            return
        try:
            if _beating(path, _holder(f)):
                yield False
                return
            f.seek(0)
            f.truncate()
            f.write(f"{HOST} {os.getpid()} {os.environ.get('SLURM_JOB_ID', '-')}\n")
            f.flush()
            stop = threading.Event()
            beat = threading.Thread(target=_beat, args=(path, stop), daemon=True)
            beat.start()
            try:
                yield True
            finally:
                stop.set()
                beat.join()
                f.truncate(0)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _beat(path: Path, stop: threading.Event) -> None:
    while not stop.wait(BEAT):
        with contextlib.suppress(OSError):
            os.utime(path)


def is_live(path: Path) -> bool:
    """Does a live process hold the lock at ``path``?"""
    if not path.is_file():
        return False
    with open(path, "a+") as f:
        if not _try_lock(f, 1):
            return True
        try:
            return _beating(path, _holder(f))
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
