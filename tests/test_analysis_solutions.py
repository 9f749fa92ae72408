"""Duplicates, unique solutions, neuron classes, anti-aligned students, Dataset summaries."""

import math

import numpy as np
import pytest
import torch
import xarray as xr

from landscape_hpc.analysis.solutions import (
    channel_summary, cluster_solutions, count_anti_aligned, has_duplicates, match_neurons,
    neuron_classes)
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.neurons import permute_neurons

NET = Network(NetSpec(input_dim=2, widths=4, biases=(True, False)))


def rand(seed: int, net: Network = NET) -> torch.Tensor:
    return torch.randn(net.num_params, generator=torch.Generator().manual_seed(seed))


def test_has_duplicates():
    theta = rand(0)
    assert not has_duplicates(NET, theta)
    w, b = NET.view(theta, "w").clone(), NET.view(theta, "b").clone()
    w[3], b[3] = w[1] + 1e-5, b[1]
    dup = NET.pack(w=w, b=b, a=NET.view(theta, "a"))
    assert has_duplicates(NET, torch.stack([theta, dup])).tolist() == [False, True]


def test_matching_and_clusters():
    t0, t1 = rand(1), rand(2)
    perm = [2, 0, 3, 1]
    moved = permute_neurons(NET, t0, perm)
    dist, back = match_neurons(NET, t0, moved)
    assert dist < 1e-12 and torch.equal(permute_neurons(NET, moved, back), t0)
    assert match_neurons(NET, t0, t1)[0] > 0.1
    noisy = permute_neurons(NET, t1, [1, 0, 2, 3]) + 1e-9
    labels = cluster_solutions(NET, torch.stack([t0, moved, t1, noisy, t0 + 1e-3]), tol=1e-6)
    assert labels.tolist() == [0, 0, 1, 1, 2]


def test_neuron_classes():
    teacher = Network(NetSpec(input_dim=2, widths=2))
    tw = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t_theta = teacher.pack(w=tw, a=torch.tensor([[1.0, -1.5]]))
    rot = math.radians(0.5)
    w = torch.tensor([[1.0, 0.0], [1.0, 0.0], [2 * math.sin(rot), 2 * math.cos(rot)],
                      [0.3, -0.7], [-1.0, 1.0], [-1.0, 1.0], [0.5, 0.5]])
    a = torch.tensor([[0.4, 0.6, -1.5, 0.0, 0.3, -0.3, 0.2]])
    student = Network(NetSpec(input_dim=2, widths=7))
    cls = neuron_classes(student, student.pack(w=w, a=a), teacher, t_theta)
    assert cls.kind == ["copy", "copy", "copy", "zero", "group", "group", "other"]
    assert cls.teacher.tolist() == [0, 0, 1, -1, -1, -1, -1]
    assert cls.group_size.tolist() == [1, 1, 1, 1, 2, 2, 1]


def test_count_anti_aligned():
    net = Network(NetSpec(input_dim=3, widths=4, activation="relu"))
    teacher = torch.eye(3)
    w = torch.tensor([[0.9, 0.1, 0.0], [0.1, -1.1, 0.2], [0.0, 0.2, -0.8], [1e-3, 0, 0]])
    theta = net.pack(w=w, a=torch.ones(1, 4))
    assert count_anti_aligned(net, theta, teacher) == 2
    aligned = net.pack(w=w.abs(), a=torch.ones(1, 4))
    assert count_anti_aligned(net, torch.stack([theta, aligned]), teacher).tolist() == [2, 0]


def test_channel_summary():
    net = Network(NetSpec(input_dim=2, widths=3))
    P = net.num_params
    channel = net.pack(w=torch.tensor([[1.0, 2.0], [1.0, 2.0 + 1e-4], [-1.0, 0.5]]),
                       a=torch.tensor([[3e4, -3e4, 1.0]]))
    dup = net.pack(w=torch.tensor([[1.0, 2.0], [1.0, 2.0 + 1e-4], [-1.0, 0.5]]),
                   a=torch.tensor([[1.0, 0.5, 1.0]]))
    plain = rand(3, net)
    theta = np.full((2, 2, P + 3), np.nan)                      # NaN-padded, one empty cell
    theta[0, 0, :P], theta[0, 1, :P], theta[1, 0, :P] = channel, dup, plain
    ds = xr.Dataset({"theta": (("width", "seed", "param"), theta),
                     "n_params": (("width", "seed"), np.array([[P, P], [P, np.nan]]))},
                    coords={"width": [3, 3.5], "seed": [0, 1]})
    out = channel_summary(ds, net, maxnorm=1e3)
    assert out["is_channel"].values.tolist() == [[True, False], [False, False]]
    assert out["has_duplicates"].values.tolist() == [[True, True], [False, False]]
    assert out["min_l2_distance"].values[0, 0] == pytest.approx(1e-4)
    assert np.isnan(out["min_cosine_distance"].values[1, 1])
    assert out["min_cosine_distance"].dims == ("width", "seed")
    wrong = Network(NetSpec(input_dim=2, widths=2))
    with pytest.raises(ValueError, match="n_params"):
        channel_summary(ds.isel(param=slice(0, wrong.num_params)), wrong, maxnorm=1.0)


def test_channel_summary_update_fraction():
    net = Network(NetSpec(input_dim=2, widths=3))
    P = net.num_params
    w, delta = torch.tensor([1.0, 2.0]), torch.tensor([0.6, -0.8])

    def chan(eps):
        v = torch.stack([w + eps * delta, w - eps * delta, torch.tensor([-1.0, 0.5])])
        return net.pack(w=v,
                        a=torch.tensor([[0.5 + 2 / (2 * eps), 0.5 - 2 / (2 * eps), 1.0]]))

    plain = rand(4, net)
    theta = np.stack([np.stack([chan(1e-4), chan(1e-4)]), np.stack([plain, plain])])
    snaps = np.full((2, 2, 3, P), np.nan)
    snaps[0, 0, :2], snaps[0, 1, 0] = np.stack([chan(2e-4), chan(1e-4)]), chan(1e-4)
    snaps[1, 0, :2] = np.stack([plain, plain + rand(5, net)])
    ds = xr.Dataset({"theta": (("width", "seed", "param"), theta),
                     "n_params": (("width", "seed"), np.full((2, 2), P)),
                     "snap_theta": (("width", "seed", "snapshot", "param"), snaps),
                     "snap_count": (("width", "seed"), np.array([[2, 1], [2, 0]]))})
    frac = channel_summary(ds, net, maxnorm=1e3)["channel_update_fraction"].values
    assert frac[0, 0] == pytest.approx(1.0)
    assert np.isnan(frac[0, 1]) and np.isnan(frac[1, 1]) and frac[1, 0] < 0.9
