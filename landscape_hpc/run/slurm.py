"""SLURM facts shared by the SLURM executors: the cluster's limits, squeue, and which units the
queued jobs of a store's submissions cover.

A submission (:class:`~landscape_hpc.store.meta.Submission`, kept in the store) has packs (the
units each packed job runs) and the arrays that run them: array ``job_id`` element ``i`` runs
pack ``first + i``.  Arrays are split so that no index reaches MaxArraySize (which bounds the
index, not only the count), and the jobs of a submission never exceed the profile's
``max_jobs``, so the profile's throttle holds across its arrays.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache

from ..store import Store

_ELEMENT = re.compile(r"^(\d+)_(\d+)$")
DEFAULTS = {"MaxArraySize": 1001, "MaxJobCount": 10000}  # SLURM's own defaults


@lru_cache(maxsize=1)
def cluster_config() -> dict[str, int]:
    """MaxArraySize and MaxJobCount from ``scontrol show config`` (SLURM's defaults if absent)."""
    out = dict(DEFAULTS)
    if shutil.which("scontrol") is None:
        return out
    text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                          timeout=60).stdout
    for key in out:
        m = re.search(rf"^{key}\s*=\s*(\d+)", text, re.M)
        if m:
            out[key] = int(m.group(1))
    return out


def split_arrays(n: int, max_array_size: int) -> list[tuple[int, int]]:
    """(first, count) of the arrays for ``n`` jobs: indices 0..count-1 < ``max_array_size``
    (SLURM's MaxArraySize = 1001 allows the indices 0..1000)."""
    return [(first, min(max_array_size, n - first)) for first in range(0, n, max_array_size)]


def squeue(job_ids: list[str]) -> dict[str, str]:
    """State of each queued array element ('123_4' -> 'RUNNING'); pending ranges are expanded.
    Empty if SLURM is not there or nothing is queued."""
    if not job_ids or shutil.which("squeue") is None:
        return {}
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, timeout=60)
    states = {}
    for line in out.stdout.splitlines():
        job, _, state = line.strip().partition(" ")
        if _ELEMENT.match(job) or job.isdigit():
            states[job] = state
    return states


def element_state(states: dict[str, str], job_id: str, index: int, count: int) -> str | None:
    """squeue's state of element ``index`` of array ``job_id`` (submitit submits an array of
    one as a plain job, so ``job_id`` alone names it then)."""
    return states.get(f"{job_id}_{index}") or (states.get(job_id) if count == 1 else None)


def active_units(store: Store) -> dict[int, str]:
    """Units in a pack whose array element is still queued or running, with its state."""
    subs = store.meta.jobs
    states = squeue([a.job_id for s in subs for a in s.arrays])
    out: dict[int, str] = {}
    for s in subs:
        for a in s.arrays:
            for i in range(a.count):
                state = element_state(states, a.job_id, i, a.count)
                if state:
                    out.update({u: state for u in s.packs[a.first + i]})
    return out
