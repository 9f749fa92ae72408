"""Problem specs end to end: building objectives, the population route, the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from landscape_hpc.config import ConfigError, load
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.population import PopulationLoss
from landscape_hpc.problem import ProblemSpec, build_problem

ROOT = Path(__file__).resolve().parents[1]


def test_empirical_problem_from_mapping():
    p = build_problem({"net": {"input_dim": 2, "widths": [3], "activation": "g"},
                       "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 400},
                       "loss": {"maxnorm": 1000}})
    assert isinstance(p.objective, EmpiricalLoss) and p.x.shape == (400, 2)
    assert p.y.mean().abs() < 1e-12 and (p.y.std(unbiased=False) - 1).abs() < 1e-12
    theta = p.initial_theta(seed=4, batch=3)
    assert theta.shape == (3, 9) and torch.equal(theta[0], p.initial_theta(seed=4))


def test_population_problem_and_its_teacher_scores_zero():
    spec = {"net": {"input_dim": 4, "widths": [3], "activation": "relu", "fixed_readout": 1.0},
            "target": {"kind": "teacher", "teacher": {"kind": "orthonormal", "width": 3,
                                                      "activation": "relu"}},
            "inputs": {"kind": "population"}, "loss": {"convention": "half_mean"}}
    p = build_problem(spec)
    assert isinstance(p.objective, PopulationLoss) and p.x is None
    w = torch.eye(4, dtype=torch.float64)[:3].reshape(-1)
    assert p.objective.loss(w).abs() < 1e-15
    assert p.objective.gradient(w).abs().max() < 1e-14


def test_dataset_problem():
    p = build_problem({"net": {"input_dim": 2, "widths": [50], "activation": "relu"},
                       "target": {"kind": "dataset", "file": "relu_like_e1.yaml"},
                       "loss": {"convention": "half_sum"}, "init": {"kind": "normal", "scale": 5e-6}})
    assert p.x.shape == (5, 2)
    assert p.initial_theta(0).abs().max() < 1e-4


@pytest.mark.parametrize("text,needle", [
    ("net: {input_dim: 2, widths: [3]}\ntarget: {kind: rosenbrok}\ninputs: {kind: grid, n: 100}",
     "target"),
    ("net: {input_dim: 2, widths: [3], activation: swish}\ntarget: {kind: rosenbrock}\n"
     "inputs: {kind: grid, n: 100}", "net.activation"),
    ("net: {input_dim: 2, widths: [3]}\ntarget: {kind: rosenbrock}\ninputs: {kind: grid, n: 100}\n"
     "loss: {convention: average}", "loss.convention"),
    ("net: {input_dim: 2, widths: [3]}\ntarget: {kind: rosenbrock}\ninputs: {kind: grid, n: 100}\n"
     "colour: red", "colour"),
    ("net: [1, 2", "not valid YAML"),
])
def test_bad_problem_files_name_file_and_key(tmp_path, text, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(ProblemSpec, f)
    assert str(f) in str(err.value) and needle in str(err.value)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "landscape_hpc.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_inspect_runs_the_engine_to_a_certified_end_point(tmp_path):
    r = run_cli("inspect", "examples/problem.yaml", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    final = out["final"]
    assert final["loss"] < out["initial"]["loss"]
    assert out["stopped_by"] in ("maxnorm", "channel") or (out["polish_stopped_by"] == "gtol"
                                              and final["gradnorm_inf"] <= 1e-13)
    spec = tmp_path / "gd.yaml"
    spec.write_text("method: gd\neta: 0.01\nstop: {maxsteps: 5}\npolish: null\n")
    r = run_cli("inspect", "examples/problem.yaml", "--dynamics", str(spec), "--json")
    out = json.loads(r.stdout)
    assert (out["stopped_by"], out["polish_stopped_by"], out["steps"]) == ("maxsteps", "off", 5)
    spec.write_text("method: newton\n")
    r = run_cli("inspect", "examples/problem.yaml", "--dynamics", str(spec))
    assert r.returncode == 2 and str(spec) in r.stderr and "method" in r.stderr


def test_cli_bad_input_exits_2_and_names_the_key(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("net: {input_dim: 2, widths: [0]}\ntarget: {kind: rosenbrock}\n")
    r = run_cli("inspect", str(f))
    assert r.returncode == 2 and "net.widths" in r.stderr and str(f) in r.stderr
    assert run_cli("inspect", str(tmp_path / "missing.yaml")).returncode == 2
