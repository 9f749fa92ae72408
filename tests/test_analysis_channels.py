"""Channels to infinity: closest pairs, groups, criteria, GLU reparameterisation (eq. 3-4)."""

import numpy as np
import pytest
import torch

from landscape_hpc.analysis.channels import (
    GLU, closest_pair, closest_pairs, cosine_distances, glu_from_pair, glu_limit, glu_pair,
    input_vectors, is_channel, is_channel_late, l2_distances, neuron_groups, output_weights,
    pair_from_glu, update_fraction)
from landscape_hpc.models.network import NetSpec, Network

NET = Network(NetSpec(input_dim=3, widths=4, activation="softplus", biases=True))


def channel_theta(eps: float, seed: int = 0) -> torch.Tensor:
    """Random neurons 0, 1 and a channel (neurons 2, 3) with fixed w, Delta, a, c at width eps."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(4, 4, generator=g)
    a = torch.randn(4, 1, generator=g)
    delta = torch.randn(4, generator=g)
    glu = GLU(c=torch.tensor([0.7]), a=torch.tensor([1.3]), w=torch.randn(4, generator=g),
              delta=delta / delta.norm(), eps=torch.tensor(eps))
    v[2], a[2], v[3], a[3] = pair_from_glu(glu)
    return NET.pack(w=v[:, :3], b=v[:, 3], a=a.T, c=torch.tensor([0.4]))


def test_views_and_distances():
    theta = channel_theta(0.1)
    v = input_vectors(NET, theta)
    assert v.shape == (4, 4) and output_weights(NET, theta).shape == (4, 1)
    assert torch.allclose(v[:, :3], NET.view(theta, "w"))
    cos = cosine_distances(v)
    assert torch.allclose(cos, cos.T) and torch.allclose(cos.diagonal(), torch.zeros(4))
    assert l2_distances(v)[2, 3] == pytest.approx(0.2)


def test_closest_pair_batched():
    thetas = torch.stack([channel_theta(e, s) for e, s in [(0.1, 1), (1e-3, 2), (0.5, 3)]])
    thetas = thetas.reshape(3, 1, -1)
    cos, l2 = closest_pairs(NET, thetas)
    assert cos.i.shape == (3, 1)
    assert l2.i.flatten().tolist() == [2, 2, 2] and l2.j.flatten().tolist() == [3, 3, 3]
    assert l2.distance.flatten()[1] == pytest.approx(2e-3)
    d = torch.tensor([[0.0, 3, 1], [3, 0, 2], [1, 2, 0]])
    p = closest_pair(d)
    assert (p.i.item(), p.j.item(), p.distance.item()) == (0, 2, 1.0)


def test_groups():
    v = torch.tensor([[1.0, 0], [1, 1e-3], [0, 1], [1e-3, 1], [-1, 0], [1, 2e-3]])
    net = Network(NetSpec(input_dim=2, widths=6))
    theta = net.pack(w=v, a=torch.ones(1, 6))
    assert neuron_groups(net, theta) == [[0, 1, 5], [2, 3]]
    assert neuron_groups(net, theta, threshold=1e-12) == []


def test_constructed_channel_detected():
    theta = channel_theta(1e-4)
    assert is_channel(NET, theta, maxnorm=1e3)
    assert not is_channel(NET, theta, maxnorm=1e9)
    assert not is_channel(NET, channel_theta(0.3), maxnorm=1e-3)     # pair not close enough
    batch = torch.stack([channel_theta(1e-4), channel_theta(0.3)])
    assert is_channel(NET, batch, maxnorm=1e3).tolist() == [True, False]


def test_update_fraction():
    early, late = channel_theta(2e-4), channel_theta(1e-4)            # move along the channel
    pair = torch.tensor([2, 3])
    assert update_fraction(NET, early, late, pair) == pytest.approx(1.0)
    assert is_channel_late(NET, early, late, maxnorm=1e3)
    noise = torch.randn(late.shape, generator=torch.Generator().manual_seed(5))
    assert update_fraction(NET, late, late + noise, pair) < 0.9
    assert not is_channel_late(NET, late, late + noise, maxnorm=1e3)


def test_glu_round_trip():
    g = torch.Generator().manual_seed(7)
    vi, vj = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    ai, aj = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    glu = glu_from_pair(vi, ai, vj, aj)
    assert torch.allclose(glu.delta.norm(dim=-1), torch.ones(5))
    for x, y in zip(pair_from_glu(glu), (vi, ai, vj, aj)):
        assert torch.allclose(x, y)
    theta = channel_theta(0.05)
    glu = glu_pair(NET, theta, 2, 3)
    assert glu.eps == pytest.approx(0.05) and glu.a.item() == pytest.approx(1.3)
    assert glu.c.item() == pytest.approx(0.7)


def test_glu_limit_error_falls_like_eps_squared():
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(3))
    eps = np.array([0.2, 0.1, 0.05, 0.025, 0.0125])
    err = [(NET(channel_theta(e), x) - glu_limit(NET, channel_theta(e), 2, 3, x)).abs().max()
           for e in eps]
    slope = np.polyfit(np.log(eps), np.log(np.array(err)), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.05)
    # away from the pair, glu_limit is the network itself
    theta = channel_theta(1e-6)
    assert torch.allclose(NET(theta, x), glu_limit(NET, theta, 2, 3, x), atol=1e-8)


def test_with_pair_round_trip():
    from landscape_hpc.analysis.jump import with_pair

    theta = channel_theta(0.05)
    g = glu_pair(NET, theta, 2, 3)
    assert torch.allclose(with_pair(NET, theta, 2, 3, *pair_from_glu(g)), theta, atol=1e-14)
    half = with_pair(NET, theta, 2, 3, *pair_from_glu(GLU(g.c, g.a, g.w, g.delta, g.eps / 2)))
    h = glu_pair(NET, half, 2, 3)
    assert h.eps.item() == pytest.approx(0.025) and torch.allclose(h.a, g.a)
    assert torch.equal(half[NET.slice("c")], theta[NET.slice("c")])


def test_jump_procedure_moves_down_a_channel():
    """App. C.1 on a flow that entered a channel: each jump plus re-integration lowers the loss,
    eps shrinks, and the GLU limit error shrinks with it."""
    from landscape_hpc.analysis.jump import jump_along_channel
    from landscape_hpc.dynamics import DynamicsSpec, integrate
    from landscape_hpc.problem import build_problem

    p = build_problem({"net": {"input_dim": 2, "widths": [3], "activation": "softplus",
                               "biases": False},
                       "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 100}})
    # flow-time budgets (step budgets cover a flow time that depends on the integrator's steps)
    spec = DynamicsSpec.model_validate({"stop": {"maxT": 200}, "polish": None})
    start = integrate(p, None, spec, seeds=[0]).records[0]
    theta = torch.from_numpy(start.theta)
    cos, _ = closest_pairs(p.net, theta)
    assert cos.distance.item() < 0.1                      # neurons 0 and 2 are converging
    jumps = jump_along_channel(p, theta, cos.i.item(), cos.j.item(),
                               DynamicsSpec.model_validate({"stop": {"maxT": 30},
                                                            "polish": None}), jumps=4)
    loss = [start.loss] + [j.loss for j in jumps]
    eps = [j.eps for j in jumps]
    err = [j.limit_error for j in jumps]
    assert all(b < a for a, b in zip(loss, loss[1:])), loss
    assert all(b < 0.8 * a for a, b in zip(eps, eps[1:])), eps
    assert all(b < 0.8 * a for a, b in zip(err, err[1:])), err
