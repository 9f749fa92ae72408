"""The SLURM backends against a real single-node SLURM cluster (slurm/cluster.sh).

The cluster is started by the session fixture (root needed; CI runs as root).  Where SLURM cannot
be started (not root, no slurm-wlm) the tests are skipped with the reason.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from landscape_hpc.run.slurm import squeue
from landscape_hpc.store import DONE, RUNNING, open_store
from test_store import DATA, ROOT, SWEEP, assert_same, cli, records

pytestmark = pytest.mark.slurm
SLOW = DATA / "slow_sweep.yaml"
PACKED = DATA / "packed_sweep.yaml"


@pytest.fixture(scope="session")
def slurm():
    if os.geteuid() != 0 and shutil.which("sinfo") is None:
        pytest.skip("SLURM is not installed and cannot be installed without root")
    r = subprocess.run(["bash", str(ROOT / "slurm" / "cluster.sh"), "start"], capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0:
        pytest.skip(f"the local SLURM cluster did not start: {r.stderr[-500:]}")
    return True


def wait_for_queue(job_ids, timeout=600):
    deadline = time.time() + timeout
    while squeue(job_ids) and time.time() < deadline:
        time.sleep(1)
    assert not squeue(job_ids), f"jobs {job_ids} still queued after {timeout} s"


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("local") / "local.zarr"
    assert cli("run", SWEEP, "--store", path, "-q").returncode == 0
    return path


@pytest.mark.parametrize("how", ["submitit", "dask-slurm", "dask-local"])
def test_backends_give_the_local_records(slurm, local_run, tmp_path, how):
    path = tmp_path / f"{how}.zarr"
    if how == "submitit":
        r = cli("submit", SWEEP, "--store", path, "--profile", "local")
        assert r.returncode == 0, r.stderr
        jobs = open_store(path).meta.jobs
        assert len(jobs) == 1 and jobs[0].backend == "submitit"
        wait_for_queue([jobs[0].arrays[0].job_id])
    else:
        profile = ["--profile", "local"] if how == "dask-slurm" else []
        r = cli("run", SWEEP, "--store", path, "--backend", how, *profile, "-q")
        assert r.returncode == 0, r.stderr
    assert_same(records(path), records(local_run))


def test_scancelled_array_element_is_resumed_without_rerunning_done_units(slurm, tmp_path):
    path = tmp_path / "cancel.zarr"
    r = cli("submit", SLOW, "--store", path, "--profile", "local")
    assert r.returncode == 0, r.stderr
    array = open_store(path).meta.jobs[0].arrays[0].job_id
    element = f"{array}_1"
    deadline = time.time() + 120
    while open_store(path).tasks["status"][2] != RUNNING and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # the worker of unit 1 is integrating
    assert squeue([array]).get(element) == "RUNNING"
    subprocess.run(["scancel", element], check=True)
    wait_for_queue([array])
    s = open_store(path)
    status = s.tasks["status"][:]
    assert (status[s.unit_slice(1)] == RUNNING).all() and (status == DONE).sum() == 2
    before = records(path)
    done_units = {int(u) for u in np.unique(s.tasks["unit"][:][status == DONE])}
    r = cli("resume", path, "--backend", "submitit", "--profile", "local", "--no-wait")
    assert r.returncode == 0 and "2 tasks to rerun in 1 units" in r.stdout, r.stdout + r.stderr
    second = open_store(path).meta.jobs[1]
    assert second.packs == [[1]] and not done_units & set(second.packs[0])
    wait_for_queue([second.arrays[0].job_id])
    after = records(path)
    assert (after["status"] == DONE).all()
    keep = np.isin(after["task_id"], before["task_id"][before["status"] == DONE])
    assert_same({k: v[keep] for k, v in after.items()},
                {k: v[before["status"] == DONE] for k, v in before.items()})


def test_time_limit_requeues_from_checkpoint(slurm, tmp_path):
    """A 2-minute job with a unit of ~100 s: submitit's signal 45 s before the limit requeues
    it, the requeued job continues from the checkpoint; records equal an uninterrupted run.
    SLURM may send the signal up to 60 s early (sbatch --signal), so it is due 75 s in: never
    before the job has installed its handler."""
    path, ref = tmp_path / "timeout.zarr", tmp_path / "ref.zarr"
    profile = tmp_path / "short.yaml"
    profile.write_text("partition: debug\ntime: 2\nmemory: 1G\ncheckpoint_every: 5\n"
                       "signal_delay: 45\n")
    r = cli("submit", SLOW, "--scale", "long", "--store", path, "--profile", profile)
    assert r.returncode == 0, r.stderr
    array = open_store(path).meta.jobs[0].arrays[0].job_id
    ran = subprocess.Popen([sys.executable, "-m", "landscape_hpc.cli", "run", str(SLOW), "--scale",
                            "long", "--store", str(ref), "-q", "--workers", "1"], cwd=ROOT)
    wait_for_queue([array], timeout=900)
    assert ran.wait(timeout=900) == 0
    job = subprocess.run(["scontrol", "show", "job", array], capture_output=True,
                         text=True).stdout  # kept by SLURM for MinJobAge = 300 s
    restarts = re.search(r"Restarts=(\d+)", job)
    assert restarts and int(restarts.group(1)) >= 1, job
    assert_same(records(path), records(ref))


def test_packed_jobs_in_split_arrays_survive_scancel_and_resume(slurm, tmp_path):
    """Six units, at most three jobs, arrays of at most two elements: three packed jobs in two
    arrays.  The first array is cancelled while it runs; status sees the dead units, resume
    resubmits only units that no live job holds, and the records equal a local run."""
    path, ref = tmp_path / "packed.zarr", tmp_path / "ref.zarr"
    profile = tmp_path / "packed.yaml"
    profile.write_text("partition: debug\ntime: 10\nmemory: 500M\nmax_jobs: 3\n"
                       "max_array_size: 2\ncheckpoint_every: 2\n")
    r = cli("submit", PACKED, "--store", path, "--profile", profile)
    assert r.returncode == 0, r.stderr
    assert "submitted 3 packed jobs running 6 units in 2 job arrays" in r.stdout, r.stdout
    subs = open_store(path).meta.jobs
    assert [len(s.packs) for s in subs] == [2, 1]
    assert sorted(u for s in subs for p in s.packs for u in p) == list(range(6))
    first, second = (s.arrays[0].job_id for s in subs)
    deadline = time.time() + 120
    while not (open_store(path).tasks["status"][:] == RUNNING).any() and time.time() < deadline:
        time.sleep(0.5)
    subprocess.run(["scancel", first], check=True)
    wait_for_queue([first])
    s = open_store(path)
    status = s.tasks["status"][:]
    assert (status != DONE).any()
    cancelled = {u for p in subs[0].packs for u in p}
    r = cli("resume", path, "--backend", "submitit", "--profile", profile, "--no-wait")
    assert r.returncode == 0, r.stderr
    later = open_store(path).meta.jobs[2:]
    rerun = {u for sub in later for p in sub.packs for u in p}
    assert rerun and rerun <= cancelled
    assert not rerun & {int(u) for u in np.flatnonzero(status == DONE)}
    wait_for_queue([second] + [a.job_id for sub in later for a in sub.arrays])
    r = cli("status", path)
    assert r.returncode == 0 and "done" in r.stdout
    assert cli("run", PACKED, "--store", ref, "-q", "--workers", "2").returncode == 0
    assert_same(records(path), records(ref))


def test_a_calibration_packs_a_fresh_store_by_its_costs(slurm, tmp_path):
    """A fresh store has no measured costs: packed by task counts, its six units make as many
    jobs as max_jobs allows; with the calibration of 'plan --calibrate --json', which says they
    take seconds, one job runs them all.  Both give the same records."""
    profile = tmp_path / "packed.yaml"
    profile.write_text("partition: debug\ntime: 10\nmemory: 500M\nmax_jobs: 3\n")
    r = cli("plan", PACKED, "--calibrate", "2", "--cap", "1", "--json")
    assert r.returncode == 0, r.stderr
    cal = tmp_path / "cal.json"
    cal.write_text(r.stdout)
    calibrated, counted = tmp_path / "calibrated.zarr", tmp_path / "counted.zarr"
    r = cli("submit", PACKED, "--store", calibrated, "--profile", profile, "--costs", cal)
    assert r.returncode == 0 and "submitted 1 packed jobs running 6 units" in r.stdout, r.stderr
    r = cli("submit", PACKED, "--store", counted, "--profile", profile)
    assert r.returncode == 0 and "submitted 3 packed jobs running 6 units" in r.stdout, r.stderr
    wait_for_queue([a.job_id for p in (calibrated, counted) for sub in open_store(p).meta.jobs
                    for a in sub.arrays])
    assert (open_store(calibrated).tasks["status"][:] == DONE).all()
    assert_same(records(calibrated), records(counted))
