"""SLURM bookkeeping shared by the SLURM backends: job ids in the store, and squeue."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from ..store import Store

_ELEMENT = re.compile(r"^(\d+)_(\d+|\[[^\]]*\])$")


def record_jobs(store: Path, backend: str, job_id: str, units: list[int]) -> None:
    """Append a submission (array job id and the unit of each array index) to the store attrs."""
    st = Store(store, "r+")
    meta = st.meta
    meta.setdefault("jobs", []).append({
        "backend": backend, "job_id": job_id, "units": units,
        "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    st.root.attrs["landscape_hpc"] = meta


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


def queued(job_ids: list[str]) -> bool:
    return bool(squeue(job_ids))


def active_units(store: Store) -> dict[int, str]:
    """Units whose SLURM array element is still queued or running, with its state."""
    jobs = store.meta.get("jobs", [])
    states = squeue([j["job_id"] for j in jobs])
    out = {}
    for j in jobs:
        for index, u in enumerate(j["units"]):
            state = states.get(f"{j['job_id']}_{index}")
            if state:
                out[u] = state
    return out
