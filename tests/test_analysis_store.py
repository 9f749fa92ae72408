"""Store-wide analyses: per-task results as new variables, group by group (mixed architectures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape_hpc.analysis import (closest_pairs, is_channel, layer_channels, layer_distances,
                                    neuron_classes)
from landscape_hpc.analysis.store import channel_results, teacher_results
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.targets import teacher_network

SWEEP = Path(__file__).parent / "data" / "analysis_sweep.yaml"
TEACHER = {"kind": "teacher", "teacher": {"kind": "preset", "name": "few_neurons_a1"}}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("an") / "an.zarr"
    r = subprocess.run([sys.executable, "-m", "landscape_hpc.cli", "run", str(SWEEP), "--store",
                        str(path), "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return path


def test_channel_results_match_the_single_point_functions(store):
    ds = channel_results(store).load()
    assert ds.attrs["axes"] == ["width"]
    assert np.isnan(ds["min_cosine_distance"].sel(width="1")).all()        # one neuron: no pair
    assert not ds["is_channel"].sel(width="1").any()
    for width, widths in (("4", [4]), ("5", [5]), ("[3, 3]", [3, 3])):
        net = Network(NetSpec(input_dim=2, widths=widths, activation="softplus", biases=False))
        for seed in range(3):
            cell = ds.sel(width=width, seed=seed)
            theta = torch.from_numpy(cell["theta"].values[:net.num_params])
            dist = layer_distances(net, theta)
            assert cell["min_cosine_distance"].item() == pytest.approx(dist.min().item(),
                                                                       abs=1e-15)
            assert bool(cell["is_channel"]) == bool(is_channel(net, theta, 30.0))
            heavy = cell["weightnorm"].item() >= 30
            assert cell["channel_layers"].item() == heavy * layer_channels(net, theta).sum()
            if len(widths) == 1:
                cos, l2 = closest_pairs(net, theta)
                assert cell["min_l2_distance"].item() == pytest.approx(l2.distance.item())
    assert ds["is_channel"].attrs["description"].startswith("weightnorm >= maxnorm")


def test_teacher_results_count_every_student_neuron(store):
    ds = teacher_results(store).load()
    teacher, theta_t = teacher_network(TEACHER, 2)
    for width in ("1", "4", "5"):
        net = Network(NetSpec(input_dim=2, widths=[int(width)], activation="softplus",
                              biases=False))
        total = sum(ds[f"n_{k}"].sel(width=width) for k in ("copy", "zero", "group", "other"))
        assert (total == int(width)).all()
        for seed in range(3):
            theta = torch.from_numpy(ds["theta"].sel(width=width, seed=seed).values[
                :net.num_params])
            kinds = neuron_classes(net, theta, teacher, theta_t).kind
            assert ds["n_copy"].sel(width=width, seed=seed).item() == kinds.count("copy")
    assert np.isnan(ds["n_copy"].sel(width="[3, 3]")).all()                  # deep: not defined
    assert (ds["n_anti_aligned"].sel(width=["1", "4", "5"]) >= 0).all()


def test_deep_channel_in_the_second_layer():
    net = Network(NetSpec(input_dim=2, widths=[3, 3], activation="softplus", biases=False))
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(net.num_params, generator=g, dtype=torch.float64)
    w2 = net.view(theta, "w2").clone()
    w2[1] = w2[0] * (1 + 1e-6)                                # neurons 0, 1 of layer 2 align
    blocks = {n: net.view(theta, n).clone() for n in net.blocks}
    blocks["w2"] = w2
    theta = net.pack(**blocks)
    assert layer_channels(net, theta).tolist() == [False, True]
    assert layer_distances(net, theta)[1] < 1e-12
    assert bool(is_channel(net, theta * 100, maxnorm=1.0))


def test_solution_results_cluster_the_converged_tasks_of_each_group(store):
    from landscape_hpc.aggregate import converged
    from landscape_hpc.analysis import cluster_solutions
    from landscape_hpc.analysis.store import solution_results

    ds = solution_results(store).load()
    for width, widths in (("4", [4]), ("[3, 3]", [3, 3])):
        cell = ds.sel(width=width)
        ok = converged({k: cell[k].values for k in ("status", "stopped_by", "polish_stopped_by")})
        assert np.isnan(cell["solution"].values[~ok]).all()
        net = Network(NetSpec(input_dim=2, widths=widths, activation="softplus", biases=False))
        assert ok.all() or width != "4"                   # every width-4 student converges
        if ok.any():
            theta = torch.from_numpy(cell["theta"].values[ok, :net.num_params])
            assert cell["solution"].values[ok].tolist() == cluster_solutions(net, theta,
                                                                             1e-4).tolist()
