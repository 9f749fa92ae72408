"""The store, the worker and the local runner: run, extend, status, resume, kills, failures."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from landscape_hpc.run import worker
from landscape_hpc.config import ConfigError
from landscape_hpc.run import status, work_left
from landscape_hpc.store import (DONE, FAILED, PENDING, RUNNING, ArrayPart, Store, Submission,
                                 open_results, open_store)
from landscape_hpc.store.layout import RECORD
from landscape_hpc.sweep import plan_sweep

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SWEEP = DATA / "tiny_sweep.yaml"
COMPARED = [f.name for f in RECORD if f.name != "wall_time"]


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "landscape_hpc.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, **kw)


def records(path) -> dict[str, np.ndarray]:
    s = open_store(path)
    order = np.lexsort((s.tasks["seed"][:], np.array(s.tasks["task_id"][:].tolist())))
    keep = order[s.tasks["status"][:][order] != 0]
    return {n: s.tasks[n][:][keep] for n in ["task_id", "status", *COMPARED]}


def assert_same(a, b):
    assert list(a["task_id"]) == list(b["task_id"])
    for name in ["status", *COMPARED]:
        x, y = a[name], b[name]
        if x.dtype.kind in "fiu":
            np.testing.assert_array_equal(x, y, err_msg=name)  # bit for bit (NaN == NaN)
        else:
            assert list(x) == list(y), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep run once, uninterrupted."""
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    r = cli("run", SWEEP, "--store", path, "-q")
    assert r.returncode == 0, r.stderr
    return path


def test_run_writes_a_complete_store(reference):
    s = open_store(reference)
    st = s.tasks["status"][:]
    assert (st == DONE).sum() == 12 and set(np.unique(st)) == {DONE}
    ds = xr.open_zarr(reference, group="tasks", consolidated=False).load()
    assert ds.sizes["task"] == 12 and ds.sizes["param"] == 9
    assert set(ds["width"].values.tolist()) == {1, 2, 3}
    converged = ds.stopped_by.values == "min_gradnorm"
    assert converged.any() and ds.gradnorm.values[converged].max() < 1e-10
    assert (ds.stopped_by.values != "").all() and (ds.n_params.values == 3 * ds.width.values).all()
    meta = s.meta
    assert meta.sweep == "tiny" and "torch" in meta.versions and meta.files[0].text
    assert len(meta.groups) == 3 and meta.jobs == [] and meta["sweep"] == meta.get("sweep")


def test_rerun_skips_done_and_extension_adds_only_new_tasks(reference, tmp_path):
    path = tmp_path / "s.zarr"
    import shutil
    shutil.copytree(reference, path)
    before = records(path)
    r = cli("run", SWEEP, "--store", path, "-q")
    assert r.returncode == 0 and "0 new; 0 to run" in r.stdout
    assert_same(records(path), before)
    r = cli("run", DATA / "tiny_sweep_more_seeds.yaml", "--store", path, "-q")
    assert r.returncode == 0 and "6 new; 6 to run" in r.stdout, r.stdout + r.stderr
    after = records(path)
    assert (after["status"] == DONE).sum() == 18
    keep = np.isin(after["task_id"], before["task_id"])
    assert_same({k: v[keep] for k, v in after.items()}, before)
    assert plan_sweep(DATA / "tiny_sweep_more_seeds.yaml").n_tasks == 18


def test_store_of_another_sweep_is_refused(reference, tmp_path):
    r = cli("run", DATA / "other_sweep.yaml", "--store", reference, "-q")
    assert r.returncode == 2 and "holds sweep 'tiny'" in r.stderr
    r = cli("run", DATA / "nope.yaml", "--store", tmp_path / "x.zarr", "-q")
    assert r.returncode == 2 and not (tmp_path / "x.zarr").exists()
    assert cli("status", tmp_path).returncode == 2


def test_a_failed_creation_leaves_no_store(tmp_path, monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "_extend", killed)
    with pytest.raises(KeyboardInterrupt):
        Store.create_or_extend(tmp_path / "runs" / "s.zarr", plan_sweep(SWEEP))
    assert list((tmp_path / "runs").iterdir()) == []
    monkeypatch.undo()
    store, added = Store.create_or_extend(tmp_path / "runs" / "s.zarr", plan_sweep(SWEEP))
    assert added > 0 and [p.name for p in (tmp_path / "runs").iterdir()] == ["s.zarr"]
    assert store.path == tmp_path / "runs" / "s.zarr"


def test_kill_nine_then_resume_equals_uninterrupted_run(reference, tmp_path):
    path = tmp_path / "k.zarr"
    rng = random.Random(1234)
    for attempt in range(3):
        args = [sys.executable, "-m", "landscape_hpc.cli"]
        args += (["run", str(SWEEP), "--store", str(path)] if attempt == 0 else
                 ["resume", str(path)])
        proc = subprocess.Popen(args + ["-q", "--checkpoint-every", "0.2"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120  # a kill before the store exists leaves none (see below)
        while not (path / "zarr.json").exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(rng.uniform(3.0, 7.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    s = open_store(path)
    deadline = time.time() + 30  # workers die with the runner, at the latest once started
    while any(s.is_live(u) for u in range(s.n_units)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(s.is_live(u) for u in range(s.n_units))
    r = cli("resume", path, "-q")
    assert r.returncode == 0, r.stderr
    assert_same(records(path), records(reference))
    assert not list(Path(str(path) + ".checkpoints").glob("*.npz"))


def test_failing_task_is_failed_with_message_and_the_rest_finish(tmp_path, monkeypatch):
    path = tmp_path / "f.zarr"
    store, _ = Store.create_or_extend(path, plan_sweep(SWEEP))
    real = worker.integrate

    def flaky(problem, theta0, spec, seeds=None, **kw):
        if seeds is not None and 3 in list(seeds):
            raise RuntimeError("boom at seed 3")
        return real(problem, theta0, spec, seeds=seeds, **kw)

    monkeypatch.setattr(worker, "integrate", flaky)
    for u, _ in work_left(store):
        worker.run_unit(path, u)
    s = status(open_store(path))
    assert s.counts["failed"] == 3 and s.counts["done"] == 9
    assert all("RuntimeError: boom at seed 3" in f["error"] for f in s.failures)
    assert {f["seed"] for f in s.failures} == {3}
    r = cli("status", path)
    assert r.returncode == 0 and "boom at seed 3" in r.stdout
    monkeypatch.setattr(worker, "integrate", real)
    for u, _ in work_left(open_store(path), (FAILED,)):
        worker.run_unit(path, u, (FAILED,))
    assert status(open_store(path)).counts["done"] == 12


def test_two_runners_on_disjoint_units(reference, tmp_path):
    path = tmp_path / "two.zarr"
    store, _ = Store.create_or_extend(path, plan_sweep(SWEEP))
    units = [u for u, _ in work_left(store)]
    code = ("import sys; from landscape_hpc.run.worker import run_unit\n"
            "for u in map(int, sys.argv[2:]): run_unit(sys.argv[1], u)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), *map(str, part)], cwd=ROOT)
             for part in (units[0::2], units[1::2])]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    assert_same(records(path), records(reference))


def test_locked_unit_is_skipped_and_running_tasks_count_as_dead_when_unlocked(tmp_path):
    path = tmp_path / "l.zarr"
    store, _ = Store.create_or_extend(path, plan_sweep(SWEEP))
    store.set_status(0, np.array([0, 1]), RUNNING)
    assert status(store).dead == 2 and (0, 2) in work_left(store)
    with store.lock(0) as held:
        assert held
        assert worker.run_unit(path, 0).skipped
        assert status(store).dead == 0 and all(u != 0 for u, _ in work_left(store))
    assert (open_store(path).tasks["status"][:2] == RUNNING).all()
    assert (store.tasks["status"][2:4] == PENDING).all()


def test_status_by_axis_and_bad_axis(reference):
    s = status(open_store(reference), by=["width"])
    assert {r["width"]: r["done"] for r in s.table} == {1: 4, 2: 4, 3: 4}
    joint = status(open_store(reference), by=["width", "seed"]).table
    assert len(joint) == 12 and all(r["done"] == 1 for r in joint)
    r = cli("status", reference, "--by", "width,seed")
    assert r.returncode == 0 and r.stdout.count("│ 2 ") >= 4, r.stdout
    r = cli("status", reference, "--by", "depth")
    assert r.returncode == 2 and "no axis 'depth'" in r.stderr and "width" in r.stderr
    r = cli("resume", reference, "--only", "broken")
    assert r.returncode == 2 and "--only" in r.stderr


def test_status_by_a_string_axis_and_a_conditional_axis(tmp_path):
    """A string axis prints as its value, and the tasks of a group without the conditional axis
    (NaN there) are one row of their own."""
    path = tmp_path / "c.zarr"
    Store.create_or_extend(path, plan_sweep(ROOT / "tests" / "data" / "conditional_sweep.yaml"))
    table = status(open_store(path), by=["eta", "method"]).table
    assert [(r["method"], r["pending"]) for r in table] == [("gd", 6), ("flow", 6)]
    assert table[0]["eta"] == 0.1 and np.isnan(table[1]["eta"])
    r = cli("status", path, "--by", "method,width")
    assert r.returncode == 0 and '"' not in r.stdout and r.stdout.count("│ gd ") == 2, r.stdout


def test_sweep_from_store_splits_and_perturbs_converged_solutions(reference, tmp_path):
    sweep = tmp_path / "split.yaml"
    sweep.write_text(f"""
name: split
from_store:
  store: {reference}
  select: {{match: {{width: 3}}, where: "status == 'done' and weightnorm < maxnorm", limit: 1}}
  initial: {{split: {{neuron: min_readout}}, perturb: {{direction: hessian_min}}}}
fixed:
  dynamics: {{stop: {{maxtime: 1.0e6, maxsteps: 3000}}}}
grid:
  initial.split.gamma: [0.5, 1.5]
  initial.perturb.scale: [1.0e-7, -1.0e-7]
  seed: [0]
""")
    r = cli("run", sweep, "--store", tmp_path / "s.zarr", "-q")
    assert r.returncode == 0 and "4 new" in r.stdout, r.stdout + r.stderr
    ds = open_results(tmp_path / "s.zarr").load()
    done = ds.status.values == DONE
    assert done.sum() == 4 and (ds.n_params.values[done] == 12).all()
    src = open_results(reference).load()
    sel = (src.width.values == 3) & (src.weightnorm.values < 100)
    source_loss = src.loss.values[sel][np.argsort(src.seed.values[sel])][0]
    np.testing.assert_allclose(ds.snap_loss.values[done, 0], source_loss, rtol=1e-9)
    assert (ds.snap_t.values[done, 0] == 0).all()
    bad = tmp_path / "bad.yaml"
    bad.write_text(sweep.read_text().replace("width: 3", "width: 7"))
    r = cli("run", bad, "--store", tmp_path / "b.zarr", "-q")
    assert r.returncode == 2 and "no task" in r.stderr and not (tmp_path / "b.zarr").exists()


def test_plain_open_zarr_of_tasks_is_consolidated_and_quiet(reference, tmp_path):
    """The coordinator consolidates the metadata: xarray opens ``tasks`` in one read, no warning;
    a store without consolidated metadata (made before it) still opens quietly."""
    live = xr.open_zarr(reference, group="tasks", consolidated=False).load()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(reference / "tasks").load()
        assert open_store(reference).consolidated
        xr.testing.assert_equal(plain, live)
        bare = tmp_path / "bare.zarr"
        shutil.copytree(reference, bare)
        for f in (bare / "zarr.json", bare / "tasks" / "zarr.json"):
            f.write_text(json.dumps({k: v for k, v in json.loads(f.read_text()).items()
                                     if k != "consolidated_metadata"}))
        assert not open_store(bare).consolidated
        assert open_results(bare).sizes["task"] == 12


def _truncate(path: Path, u: int, *names: str) -> list[Path]:
    """Cut unit u's chunk files of ``names`` to half their length, as a killed write might."""
    files = [path / "tasks" / n / "c" / str(u) for n in names]
    files = [f / "0" if f.is_dir() else f for f in files]  # (task, param): c/u/0
    for f in files:
        os.truncate(f, f.stat().st_size // 2)
    return files


def test_truncated_chunks_are_found_and_their_unit_reruns(reference, tmp_path):
    path = tmp_path / "t.zarr"
    shutil.copytree(reference, path)
    loss, stat = _truncate(path, 1, "loss", "status")
    store = open_store(path, "r+")
    found = store.verify()
    assert list(found) == [1] and store.verify([0, 2]) == {}
    assert f"{loss}: chunk of 'loss'" in found[1] and f"{stat}: chunk of 'status'" in found[1]
    store.reset_unit(0)  # nothing unreadable: left as it is
    assert list(store.read_unit(0, ["status"])["status"]) == [DONE, DONE]
    store.reset_unit(1)
    assert store.verify() == {} and not loss.exists()
    assert list(store.read_unit(1, ["status"])["status"]) == [PENDING, PENDING]
    assert worker.run_unit(path, 1).done == 2
    assert_same(records(path), records(reference))


def test_reset_rebuilds_unreadable_bookkeeping_from_the_metadata(reference, tmp_path):
    path = tmp_path / "b.zarr"
    shutil.copytree(reference, path)
    _truncate(path, 4, "status", "task_id", "unit", "group", "width", "theta")
    _truncate(path, 3, "seed", "loss")
    store = open_store(path, "r+")
    assert set(store.verify()) == {3, 4}
    store.reset_unit(4)  # used slots by the seeds, the rest from the groups and units
    store.reset_unit(3)  # used slots by the status
    assert worker.run_unit(path, 4).done == 2 and worker.run_unit(path, 3).done == 2
    assert_same(records(path), records(reference))
    book = ["task_id", "unit", "group", "seed", "width"]
    ref = open_store(reference)
    for name in book:
        assert list(store.tasks[name][:]) == list(ref.tasks[name][:]), name
    _truncate(path, 0, "status", "task_id", "seed")
    with pytest.raises(ConfigError, match="cannot be read .*status/c/0"):
        store.reset_unit(0)


def test_submissions_and_job_entries_of_older_stores(reference, tmp_path):
    path = tmp_path / "j.zarr"
    shutil.copytree(reference, path)
    root = zarr.open_group(path, mode="r+", use_consolidated=False)
    kept = {"kept": True, "patience": float("inf")}  # as sweep configs may hold
    attrs = {**root.attrs["landscape_hpc"], "future": kept,
             "jobs": [{"backend": "submitit", "job_id": "7", "units": [3, 1],
                       "submitted": "2025-01-01T00:00:00+00:00"}]}  # one element per unit
    root.attrs["landscape_hpc"] = attrs
    store = open_store(path, "r+")
    old = Submission(backend="submitit", submitted="2025-01-01T00:00:00+00:00", packs=[[3], [1]],
                     arrays=[ArrayPart(job_id="7", first=0, count=2)])
    assert store.meta.jobs == [old] and store.meta["future"] == kept
    new = Submission(backend="submitit", submitted="2025-01-02T00:00:00+00:00",
                     packs=[[0, 2], [4], [5]], arrays=[ArrayPart(job_id="8", first=0, count=2),
                                                      ArrayPart(job_id="9", first=2, count=1)])
    store.add_submission(new)
    again = open_store(path)
    assert again.meta.jobs == [old, new] and again.meta.get("future") == kept
    assert zarr.open_consolidated(path).attrs["landscape_hpc"]["jobs"][1]["arrays"][1]["first"] == 2


def test_an_interrupted_extension_is_refused_then_rolled_back(reference, tmp_path, monkeypatch):
    """A coordinator killed while it adds tasks leaves the store marked: readers refuse it with a
    message that says what to do, and the next run undoes the addition, keeping every result."""
    path = tmp_path / "s.zarr"
    shutil.copytree(reference, path)
    before = records(path)
    more = plan_sweep(DATA / "tiny_sweep_more_seeds.yaml")

    def killed(self, *args):  # as if the process died after the arrays grew: no cleanup runs
        monkeypatch.setattr(Store, "_roll_back", lambda self: None)
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "_fill", killed)
    with pytest.raises(KeyboardInterrupt):
        Store.create_or_extend(path, more)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="tiny_sweep_more_seeds.yaml .* was interrupted"):
        open_store(path)
    r = cli("status", path)
    assert r.returncode == 2 and "undoes the unfinished addition" in " ".join(r.stderr.split())
    store, added = Store.create_or_extend(path, plan_sweep(SWEEP))  # rolled back, nothing new
    assert added == 0 and store.meta.extending is None
    assert_same(records(path), before)
    assert store.tasks["status"].shape[0] == len(before["status"])
    store, added = Store.create_or_extend(path, more)
    assert added == 6
    keep = np.isin(records(path)["task_id"], before["task_id"])
    assert_same({k: v[keep] for k, v in records(path).items()}, before)


def test_a_refused_extension_writes_nothing(reference, tmp_path):
    path = tmp_path / "s.zarr"
    shutil.copytree(reference, path)
    files = sorted(p.relative_to(path) for p in path.rglob("*"))
    meta = (path / "zarr.json").read_text()
    clash = tmp_path / "clash.yaml"  # the tiny sweep with an axis named like a store field
    clash.write_text(SWEEP.read_text().replace("  seed: {range: 4}\n", (
        "  seed: {range: 4}\n  status:\n    zip: {reltol: [1.0e-6, 1.0e-7], "
        "abstol: [1.0e-6, 1.0e-7]}\n")))
    r = cli("run", clash, "--store", path, "-q")
    assert r.returncode == 2 and "clashes with a store field" in r.stderr, r.stderr
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == files
    assert (path / "zarr.json").read_text() == meta
