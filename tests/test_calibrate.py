"""plan --calibrate: timing a few tasks of a plan to estimate its cost."""

import json

import pytest
from typer.testing import CliRunner

from landscape_hpc.calibrate import calibrate
from landscape_hpc.cli import app
from landscape_hpc.sweep import plan_sweep
from test_store import SWEEP


def test_calibration_times_tasks_of_spread_groups():
    plan = plan_sweep(SWEEP)
    cost = calibrate(plan, 1, max_groups=2)
    assert [g["settings"] for g in cost.groups] == [{"width": 1}, {"width": 3}]
    assert all(g["tasks"] == 1 and g["seconds_per_task"] > 0 for g in cost.groups)
    mean = sum(g["seconds_per_task"] for g in cost.groups) / 2
    assert cost.seconds_per_task == pytest.approx(mean)
    assert cost.cpu_hours == pytest.approx(mean * plan.n_tasks / 3600)


def test_plan_calibrate_cli():
    r = CliRunner().invoke(app, ["plan", str(SWEEP), "--calibrate", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["n_tasks"] == 12 and len(out["calibration"]["groups"]) == 3
    assert CliRunner().invoke(app, ["plan", str(SWEEP), "--calibrate", "-1"]).exit_code == 2
