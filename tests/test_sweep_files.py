"""The shipped sweep files plan, with the papers' task counts, and their smoke profiles are small."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from landscape_hpc.cli import app
from landscape_hpc.sweep import plan_sweep

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"

# file -> (tasks, groups), from the papers (see the comments in each file)
EXPECTED = {
    "quickstart.yaml": (12, 3),
    # channels-to-infinity A.2: sum_{r=1..5} 50 * 2^r, without and with biases
    "channels_loss_levels.yaml": (2 * sum(50 * 2**r for r in range(1, 6)), 10),
    # channels-to-infinity B.3: 5 targets x 4 d x 4 widths x 2 activations x 50, deep nets 2 x 50
    "channels_scaling.yaml": (5 * 4 * 4 * 2 * 50 + 2 * 50, 5 * 4 * 4 * 2 + 2),
    # few-neurons-theory Fig. 2: k = 2..10, four activations, 10 seeds
    "few_neurons_one_neuron.yaml": (9 * 4 * 10, 36),
    # few-neurons-theory A.1 / Table 1: 1000 seeds
    "few_neurons_four_neuron.yaml": (1000, 1),
    # symmetry-induced-critical-points Fig. 1 (widths 5, 45) and Fig. 5 (width 10): 50 seeds each
    "symmetry_induced.yaml": (3 * 50, 3),
    # relu-population-landscape App. G: K = M for M = 6..20, K = M + 1 for M = 8..19, 10^4 each
    "relu_population.yaml": ((15 + 12) * 10_000, 27),
    # its protocol axes (issue 15): M in {8, 12} x d in {M, 2M, 4M} x 3 dynamics, 300 seeds
    "relu_population_protocol.yaml": (2 * 3 * 3 * 300, 18),
    # its protocol check (issue 15): widths 2-5 x biases x the channel stop on / off, 30 seeds
    "channels_channel_stop.yaml": (4 * 2 * 2 * 30, 16),
    # channels-to-infinity Fig. 5: the 8-D Rosenbrock, r = 8 configuration of Fig. 4, 50 seeds
    "channels_jump.yaml": (50, 1),
    # relu-like-stationary-points E1-E4, one run each, and E4 with P.1's scale as a variance
    "relu_like.yaml": (5, 5),
}
#: sweeps from another sweep's store (planned and run in tests/test_analysis_scripts.py)
FROM_STORE = {"channels_saddle_line.yaml": "runs/channels_loss_levels.zarr"}


def test_every_sweep_file_is_covered():
    assert sorted(p.name for p in SWEEPS.glob("*.yaml")) == sorted({*EXPECTED, *FROM_STORE})


@pytest.mark.parametrize("name", sorted(FROM_STORE))
def test_sweep_from_store_says_which_store_is_missing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plan", str(SWEEPS / name)])
    assert result.exit_code == 2
    assert "from_store.store" in result.output and FROM_STORE[name] in result.output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sweep_file_plans_with_the_papers_counts(name):
    result = CliRunner().invoke(app, ["plan", str(SWEEPS / name), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["n_tasks"], data["n_groups"]) == EXPECTED[name]
    assert data["warnings"] == []
    assert sum(g["n_tasks"] for g in data["groups"]) == data["n_tasks"]
    assert sum(len(g["units"]) for g in data["groups"]) == data["n_units"]
    text = CliRunner().invoke(app, ["plan", str(SWEEPS / name)])
    assert text.exit_code == 0 and f"{data['n_tasks']} tasks" in text.stdout


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {"quickstart.yaml"}))
def test_smoke_profile_is_a_small_version(name):
    full, smoke = plan_sweep(SWEEPS / name), plan_sweep(SWEEPS / name, "smoke")
    assert 0 < smoke.n_tasks <= min(20, full.n_tasks)
    assert {p for g in smoke.groups for p in g.config} == {p for g in full.groups for p in g.config}


def test_jump_sweep_is_a_configuration_of_the_scaling_sweep():
    jump = plan_sweep(SWEEPS / "channels_jump.yaml")
    scaling = plan_sweep(SWEEPS / "channels_scaling.yaml")
    (group,) = jump.groups
    same = [g for g in scaling.groups if g.id == group.id]
    assert same and same[0].settings["d"] == 8 and same[0].settings["width"] == 8
    assert np.array_equal(same[0].seeds, group.seeds)


def test_loss_levels_seeds_per_width():
    plan = plan_sweep(SWEEPS / "channels_loss_levels.yaml")
    per_width = Counter()
    for g in plan.groups:
        net = g.config["problem"]["net"]
        per_width[(net["widths"][0], net.get("biases", False))] += len(g.seeds)
    assert per_width == {(r, b): 50 * 2**r for r in range(1, 6) for b in (False, True)}
    assert all(g.config["dynamics"] == {} for g in plan.groups)  # Table 1 = our defaults


def test_relu_population_widths():
    plan = plan_sweep(SWEEPS / "relu_population.yaml")
    pairs = sorted((g.config["problem"]["target"]["teacher"]["width"],
                    g.config["problem"]["net"]["widths"][0]) for g in plan.groups)
    assert pairs == sorted([(m, m) for m in range(6, 21)] + [(m, m + 1) for m in range(8, 20)])
    assert all(len(g.seeds) == 10_000 for g in plan.groups)
    assert all(g.config["problem"]["inputs"] == {"kind": "population"} for g in plan.groups)


def test_few_neurons_data_follow_the_activation():
    plan = plan_sweep(SWEEPS / "few_neurons_one_neuron.yaml")
    for g in plan.groups:
        p = g.config["problem"]
        activation = p["net"].get("activation", {"name": "softplus"})  # the default is left out
        assert (p["inputs"]["kind"] == "population") == (activation["name"] == "relu")
        assert p["target"]["teacher"]["activation"] == activation
        assert p["net"]["input_dim"] == p["target"]["teacher"]["width"]


def test_relu_like_e4_rescales_e1():
    plan = plan_sweep(SWEEPS / "relu_like.yaml")
    e1, e4 = (next(g for g in plan.groups if g.config["problem"]["init"].get("scale") == s)
              for s in (5e-6, 8.75e-4))
    assert e1.config["problem"]["target"] == e4.config["problem"]["target"]
    assert e1.seeds.tolist() == e4.seeds.tolist() == [0]
