"""The run layer: executors and their options, progress off a terminal, profiles by name (also
from a non-editable install), packing, unit liveness, and crash safety under many kill -9s."""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from landscape_hpc.config import ConfigError
from landscape_hpc.run import make_executor
from landscape_hpc.run.costs import Calibrated, unit_costs
from landscape_hpc.run.pack import make_packs, n_jobs
from landscape_hpc.run.profile import ENV, load_profile
from landscape_hpc.run.slurm import split_arrays
from landscape_hpc.store import PENDING, locks, open_store
from test_store import DATA, ROOT, SWEEP, assert_same, cli, records

KILL = DATA / "kill_sweep.yaml"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    assert cli("run", SWEEP, "--store", path, "-q").returncode == 0
    return path


@pytest.mark.parametrize("backend", ["local", "dask-local"])
def test_redirected_run_prints_progress_lines(tmp_path, backend):
    r = cli("run", SWEEP, "--store", tmp_path / "s.zarr", "--progress-every", "0.5",
            "--workers", "1", "--backend", backend)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if re.match(r"^\[[\d\- :]+\] tasks \d+/12: ", ln)]
    assert len(lines) >= 3, r.stderr  # periodic lines while running, and the last one
    assert "done 12, failed 0, running 0" in lines[-1] and "ETA" in lines[0]
    assert int(re.search(r"tasks (\d+)/", lines[0]).group(1)) < 12
    # one worker runs one unit (2 tasks) at a time: a unit queued behind it is not running
    assert max(int(re.search(r"running (\d+)", ln).group(1)) for ln in lines) <= 2, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--backend", "submitit", "--workers", "4"], "--workers: not for --backend submitit"),
    (["--backend", "dask-slurm", "--checkpoint-every", "5"],
     "--checkpoint-every: not for --backend dask-slurm"),
    (["--profile", "local"], "--profile: only for the SLURM backends"),
    (["--workers", "0"], "--workers: expected a positive number"),
    (["--backend", "slurm"], "--backend: expected one of local, dask-local, dask-slurm, submitit"),
    (["--progress-every", "0"], "--progress-every: expected seconds > 0"),
])
def test_options_an_executor_cannot_honour_are_refused_and_nothing_is_written(tmp_path, args,
                                                                               message):
    r = cli("run", SWEEP, "--store", tmp_path / "s.zarr", *args)
    assert r.returncode == 2 and message in " ".join(r.stderr.split()), r.stderr
    if "--progress-every" not in args:
        assert not (tmp_path / "s.zarr").exists()


def test_submit_refuses_blocking_backends_and_no_wait_needs_submitit(tmp_path, reference):
    r = cli("submit", SWEEP, "--store", tmp_path / "s.zarr", "--backend", "dask-slurm")
    assert r.returncode == 2 and "only 'submitit'" in r.stderr
    assert not (tmp_path / "s.zarr").exists()
    r = cli("resume", reference, "--no-wait")
    assert r.returncode == 2 and "--no-wait: only for --backend submitit" in r.stderr


def test_profiles_by_name_env_then_user_dir_then_shipped(tmp_path, monkeypatch):
    env, config = tmp_path / "env", tmp_path / "config"
    (config / "landscape-hpc" / "profiles").mkdir(parents=True)
    env.mkdir()
    (env / "mine.yaml").write_text("partition: gpu\ntime: 5\n")
    (config / "landscape-hpc" / "profiles" / "mine.yaml").write_text("partition: cpu\n")
    (config / "landscape-hpc" / "profiles" / "theirs.yaml").write_text("max_jobs: 7\n")
    monkeypatch.setenv(ENV, str(env))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    assert load_profile("mine").partition == "gpu"
    assert load_profile("theirs").max_jobs == 7
    assert load_profile("local").partition == "debug"  # shipped
    with pytest.raises(ConfigError, match="no profile 'nope'.*example-cluster, local, mine, theirs"):
        load_profile("nope")
    (env / "bad.yaml").write_text("time: 5\ntime: 6\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_profile("bad")
    with pytest.raises(ConfigError, match="no such file"):
        make_executor("submitit", profile=str(tmp_path / "missing.yaml"))


def test_non_editable_install_finds_the_shipped_profiles(tmp_path):
    import shutil

    source, wheels, target = tmp_path / "src", tmp_path / "wheels", tmp_path / "site"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "runs", "*.egg-info", "__pycache__", "*.zarr*", "tests"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "-q", "-w", str(wheels), str(source)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("*.whl")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                        str(target), str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    code = ("import landscape_hpc, sys; from landscape_hpc.run.profile import load_profile; "
            "print(landscape_hpc.__file__); print(load_profile('local').partition, "
            "load_profile('example-cluster').partition)")
    env = {**os.environ, "PYTHONPATH": str(target), "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop(ENV, None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    where, parts = r.stdout.splitlines()
    assert where.startswith(str(target)) and parts == "debug cpu"


def test_packs_are_contiguous_balanced_and_cover_every_unit():
    units = list(range(10, 30))
    costs = np.array([5.0] * 5 + [1.0] * 15)
    packs = make_packs(units, costs, 4)
    assert [u for p in packs for u in p] == units
    loads = [costs[[units.index(u) for u in p]].sum() for p in packs]
    assert len(packs) == 4 and max(loads) - min(loads) <= 5
    assert make_packs(units, costs, 1) == [units]
    assert n_jobs(None, 20, 64, 3600) == 20
    assert n_jobs(costs, 20, 64, 3600) == 1        # 40 s of work: one job
    assert n_jobs(costs * 100, 20, 3, 3600) == 3   # the throttle bounds the jobs
    assert split_arrays(5, 1001) == [(0, 5)]
    assert split_arrays(2500, 1001) == [(0, 1001), (1001, 1001), (2002, 498)]
    assert split_arrays(3, 2) == [(0, 2), (2, 1)]


def test_unit_costs_measured_else_calibrated_else_the_median(reference, tmp_path):
    path = tmp_path / "s.zarr"
    shutil.copytree(reference, path)
    s = open_store(path, "r+")
    unit_group, units = s.units["group"][:], [(u, 2) for u in range(s.n_units)]
    wall = s.tasks["wall_time"][:].reshape(s.n_units, 2)
    # a unit's wall time is that of its slowest trajectory; per group the median over its units
    slowest = {g: np.median(wall[unit_group == g].max(1)) for g in range(3)}
    assert np.allclose(unit_costs(s, units), [slowest[g] for g in unit_group])
    ids = [g.id for g in s.meta.groups]
    status = s.tasks["status"][:]
    status[s.tasks["group"][:] == 2] = PENDING
    s.tasks["status"][:] = status
    cal = Calibrated(tmp_path / "cal.json", {ids[0]: 50.0, ids[2]: 100.0})
    costs = unit_costs(s, units, cal)
    assert np.allclose(costs[unit_group == 2], 200.0)          # calibrated: nothing measured
    assert np.allclose(costs[unit_group == 0], slowest[0])     # measured wins
    assert np.allclose(unit_costs(s, units)[unit_group == 2], np.median([slowest[0], slowest[1]]))
    s.tasks["status"][:] = np.where(status > 0, PENDING, 0)
    assert unit_costs(s, units) is None                        # a fresh store: task counts
    costs = unit_costs(s, units, cal)
    assert np.allclose(costs, [{0: 100.0, 1: 150.0, 2: 200.0}[g] for g in unit_group])


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a readable JSON file"),
    ('{"n_tasks": 12}', "calibration: Field required"),
    ('{"calibration": {"groups": []}}', "calibration.groups: List should have at least 1 item"),
    ('{"calibration": {"groups": [{"id": "abc", "mean_s_per_task": -1}]}}',
     "calibration.groups.mean_s_per_task: Input should be greater than or equal to 0 (got -1)"),
    ('{"calibration": {"groups": [{"id": "abc", "mean_s_per_task": NaN}]}}',
     "calibration.groups.mean_s_per_task: Input should be a finite number"),
    ('{"calibration": {"groups": [{"mean_s_per_task": 1}]}}', "calibration.groups.id: Field"),
    ('{"calibration": {"groups": [{"id": "abc", "mean_s_per_task": 1}]}}',
     "none of its 1 groups is one of the 3 of"),
])
def test_bad_costs_files_are_refused_and_nothing_is_written(tmp_path, text, message):
    bad = tmp_path / "cal.json"
    bad.write_text(text)
    r = cli("submit", SWEEP, "--store", tmp_path / "s.zarr", "--costs", bad)
    assert r.returncode == 2 and f"{bad}:" in r.stderr, r.stderr
    assert message in " ".join(r.stderr.split()), r.stderr
    assert not (tmp_path / "s.zarr").exists()


def test_costs_only_for_submitit(reference, tmp_path):
    cal = tmp_path / "cal.json"
    cal.write_text('{"calibration": {"groups": [{"id": "abc", "mean_s_per_task": 1}]}}')
    r = cli("resume", reference, "--costs", cal)
    assert r.returncode == 2 and "--costs: only for --backend submitit" in r.stderr, r.stderr
    r = cli("resume", reference, "--backend", "submitit", "--costs", cal, "--no-wait")
    assert r.returncode == 2 and "none of its 1 groups is one of the 3 of" in r.stderr, r.stderr


def test_liveness_from_lock_and_heartbeat(tmp_path):
    path = tmp_path / "u.lock"
    assert not locks.is_live(path)
    with locks.hold(path) as held:
        assert held and locks.is_live(path)
        probe = subprocess.run([sys.executable, "-c", "import sys; from landscape_hpc.store "
                                "import locks; from pathlib import Path; "
                                f"sys.exit(locks.is_live(Path({str(path)!r})))"])
        assert probe.returncode == 1  # another process sees it live
    assert not locks.is_live(path) and path.read_text() == ""
    path.write_text(f"{locks.HOST} 999999999 -\n")   # this host, a process that is gone
    assert not locks.is_live(path)
    path.write_text("node17 4242 123_4\n")            # another host, beating
    assert locks.is_live(path)
    with locks.hold(path) as held:
        assert not held
    old = time.time() - locks.STALE - 1
    os.utime(path, (old, old))                        # ... that stopped beating
    assert not locks.is_live(path)
    with locks.hold(path) as held:
        assert held


@pytest.mark.slow
def test_twenty_kill_nines_then_resume_equal_an_uninterrupted_run(tmp_path):
    """20 SIGKILLs of a running local sweep, each at a random moment after its workers took a
    unit, each followed by resume: nothing lost, duplicated or corrupted; the records equal an
    uninterrupted run bit for bit."""
    rng = random.Random(20261202)
    path, reference = tmp_path / "killed.zarr", tmp_path / "reference.zarr"
    assert cli("run", KILL, "--store", reference, "-q", "--workers", "2").returncode == 0
    command = [sys.executable, "-m", "landscape_hpc.cli"]
    kills = 0
    while kills < 20:
        args = ["run", str(KILL), "--store", str(path)] if kills == 0 else ["resume", str(path)]
        proc = subprocess.Popen(command + args + ["-q", "--checkpoint-every", "0.1",
                                                  "--workers", "2"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not _any_live(path):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 1.5))
        assert proc.poll() is None, "the sweep finished before 20 kills"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        deadline = time.time() + 30  # workers die with the runner
        while _any_live(path) and time.time() < deadline:
            time.sleep(0.05)
    status = open_store(path).tasks["status"][:]
    assert (status != 3).any()
    r = cli("resume", path, "-q")
    assert r.returncode == 0, r.stderr
    assert_same(records(path), records(reference))
    status = open_store(path).tasks["status"][:]
    assert (status[status != 0] == 3).all()
    assert not list(Path(f"{path}.checkpoints").glob("*.npz"))


def _any_live(path: Path) -> bool:
    try:
        s = open_store(path)
        return any(s.is_live(u) for u in range(s.n_units))
    except (ConfigError, KeyError):  # not there yet, or being created
        return False


def test_truncated_chunk_is_detected_on_resume_and_its_unit_rerun(reference, tmp_path):
    import shutil

    path = tmp_path / "t.zarr"
    shutil.copytree(reference, path)
    chunk = next(p for p in (path / "tasks" / "loss" / "c").iterdir() if p.name == "2")
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    r = cli("resume", path, "-q")
    assert r.returncode == 0, r.stderr
    assert re.search(r"unit 2: .*loss.*; its tasks are run again", " ".join(r.stderr.split())), \
        r.stderr
    assert "2 tasks to rerun in 1 units" in r.stdout
    assert_same(records(path), records(reference))
