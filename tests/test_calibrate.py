"""plan --calibrate: a stratified sample of tasks, timed with a cap, to estimate a plan's cost."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from landscape_hpc.calibrate import allocate, calibrate, nearest, spread
from landscape_hpc.cli import app
from landscape_hpc.sweep import plan_sweep
from test_store import DATA, SWEEP, cli

SLOW = DATA / "slow_sweep.yaml"  # gradient descent, about 15 s per unit of 2 tasks


def invoke(*args):
    return CliRunner().invoke(app, ["plan", *map(str, args)])


def test_allocation_is_proportional_with_every_group_sampled():
    counts = [100, 200, 400, 800, 1600]  # channels_loss_levels, per bias setting
    assert allocate(counts, 31).tolist() == [1, 2, 4, 8, 16]
    assert allocate(counts, 5).tolist() == [1, 1, 1, 1, 1]
    assert allocate(counts, 10).tolist() == [1, 1, 2, 2, 4]  # D'Hondt after one each
    assert allocate([3, 1], 100).tolist() == [3, 1]  # at most every task


def test_allocation_below_the_number_of_groups_is_spread_over_the_plan():
    picked = allocate([10] * 27, 3)
    assert picked.sum() == 3 and np.flatnonzero(picked).tolist() == [4, 13, 22]
    assert allocate([1, 1, 100, 1], 2).tolist() == [0, 0, 2, 0]  # by size
    assert spread(np.arange(100), 4) == [12, 37, 62, 87]


def test_nearest_group_is_the_one_with_fewest_and_smallest_differences():
    sampled = [{"width": 1, "biases": False}, {"width": 4, "biases": True},
               {"width": 5, "biases": False}]
    assert nearest({"width": 4, "biases": False}, sampled, 3, [0, 8, 9]) == 2
    assert nearest({"width": 2, "biases": True}, sampled, 1, [0, 8, 9]) == 1


def test_stratified_estimate_and_groups_not_sampled():
    plan = plan_sweep(SWEEP)  # 3 groups (width 1, 2, 3) of 4 tasks
    cost = calibrate(plan, 2)
    assert cost.timed == 2 and [g.timed for g in cost.groups] == [1, 0, 1]
    first, missing, last = cost.groups
    assert missing.estimated_from == last.id and missing.mean == last.mean  # 2 is nearer 3 than 1
    assert cost.capped == 0
    assert missing.build == last.build > 0
    runs = (first.mean + 2 * last.mean) * 4
    assert cost.core_hours == pytest.approx((runs + first.build + 2 * last.build) / 3600)
    units = 2 * (first.build + 2 * last.build)  # 2 units per group, each may build its problem
    assert cost.core_hours_upper == pytest.approx((runs + units) / 3600)
    r = invoke(SWEEP, "--calibrate", 2)
    assert r.exit_code == 0, r.output
    assert "not sampled: 1 of 3 groups, 33.3% of the tasks" in r.stdout
    assert f"({missing.id}); each takes the times of the nearest" in r.stdout


def test_cap_stops_timed_tasks_and_the_estimate_is_a_lower_bound():
    plan = plan_sweep(SLOW)  # one group of 4 tasks, maxtime 1e6 s
    cost = calibrate(plan, 2, cap=0.3)
    g = cost.groups[0]
    assert g.seeds == [1, 3] and cost.capped == 2 and g.seconds < 5
    # one batch of 2 with a budget of 2 x 0.3 s; the remaining maxtime, scaled by the batch's
    # wall time per second of steps
    assert g.upper == pytest.approx((g.seconds + 2 * (1e6 - 0.6) * g.seconds / 0.6) / 2)
    assert cost.core_hours_upper == pytest.approx((g.upper * 4 + g.build * 2) / 3600)
    out = cost.to_dict()
    assert out["capped_share"] == 1 and out["lower_bound"] is True


def test_a_task_stopped_by_its_own_maxtime_is_not_capped(tmp_path):
    sweep = tmp_path / "short.yaml"
    sweep.write_text(SLOW.read_text().replace("maxtime: 1.0e6", "maxtime: 0.2"))
    cost = calibrate(plan_sweep(sweep), 1, cap=60)
    assert cost.capped == 0 and cost.groups[0].upper == cost.groups[0].mean


def test_plan_calibrate_json():
    r = invoke(SLOW, "--calibrate", 2, "--cap", 0.2, "--cores", 4, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)["calibration"]
    assert {k: out[k] for k in ("requested", "timed", "cap", "capped", "capped_share",
                                "lower_bound", "n_tasks", "n_units", "cores")} == {
        "requested": 2, "timed": 2, "cap": 0.2, "capped": 2, "capped_share": 1.0,
        "lower_bound": True, "n_tasks": 4, "n_units": 2, "cores": 4}
    assert out["hours_on_cores"] == pytest.approx(out["core_hours"] / 2)  # 2 units: 2 cores used
    assert out["core_hours_upper"] > 1000 * out["core_hours"]
    assert out["unsampled"]["groups"] == [] and out["unsampled"]["share"] == 0
    group = out["groups"][0]
    assert group["timed"] == 2 and group["capped"] == 2 and group["maxtime"] == 1e6
    assert {"mean_s_per_task", "upper_s_per_task", "seconds", "beyond_cap_s", "build_s", "units",
            "settings", "estimated_from"} <= set(group)


def test_progress_lines_off_a_terminal():
    r = cli("plan", SWEEP, "--calibrate", 3, "--cap", 5)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("calibrate: ")]
    assert lines[0].startswith("calibrate: timing 3 tasks of 3 groups in 3 batches; the cap stops "
                               "a batch of k tasks after k x 5 s of steps, 15.0 s in all")
    final = [ln for ln in r.stderr.splitlines() if "] calibrate: tasks " in ln]
    assert final[-1].split("] ")[1].startswith("calibrate: tasks 3/3: done 3, failed 0")
    assert "estimate: " in r.stdout and "capped: none of the 3 timed tasks" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--calibrate", "-1"], "--calibrate: expected a positive number of tasks"),
    (["--calibrate", "2", "--cap", "0"], "--cap: expected a positive number of seconds"),
    (["--calibrate", "2", "--cores", "0"], "--cores: expected a positive number of cores"),
    (["--cap", "10"], "--cap: only with --calibrate N"),
    (["--cores", "8"], "--cores: only with --calibrate N"),
])
def test_bad_arguments(args, message):
    r = invoke(SWEEP, *args)
    assert r.exit_code == 2 and message in " ".join(r.stderr.split())


@pytest.mark.parametrize("store_exists", [True, False])
def test_sweeps_from_a_store_are_refused(tmp_path, store_exists):
    if store_exists:
        (tmp_path / "runs" / "source.zarr").mkdir(parents=True)
    sweep = tmp_path / "from_store.yaml"
    sweep.write_text("from_store: {store: runs/source.zarr}\ngrid: {seed: [0]}\n")
    r = invoke(sweep, "--calibrate", 4)
    assert r.exit_code == 2
    assert "--calibrate: not available for sweeps that start from a store" in " ".join(
        r.stderr.split())
    if store_exists:
        with pytest.raises(ValueError, match="not available for sweeps that start from a store"):
            calibrate(plan_sweep(sweep), 4)
