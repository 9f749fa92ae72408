"""flow_auto (DP5 where the flow is not stiff, ode23s where it is) and the Gram-form population
derivatives it relies on: same end points as the stiff flow, both modes used, checkpoints
bit-identical, the stiffness estimate exact on a linear field, and the Gram-form kernel terms
equal to the pair-by-pair ones also at aligned, opposite and zero neurons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape_hpc.dynamics import DynamicsSpec, explicit, integrate
from landscape_hpc.dynamics.record import TrajectoryState
from landscape_hpc.models.activations import get_activation
from landscape_hpc.models.population import gram_terms, pair_terms
from landscape_hpc.problem import build_problem

POPULATION = {"net": {"input_dim": 6, "widths": [6], "activation": "relu", "fixed_readout": 1},
              "target": {"kind": "teacher",
                         "teacher": {"kind": "orthonormal", "width": 6, "activation": "relu"}},
              "inputs": {"kind": "population"}, "loss": {"convention": "half_mean"},
              "init": {"kind": "normal", "scale": 6 ** -0.5}}


def _ends(records) -> list[tuple[str, float]]:
    """(class, loss): converged, channel (maxnorm or the channel stop), or the stop reason."""
    classes = {"min_gradnorm": "converged", "min_loss": "converged", "maxnorm": "channel",
               "channel": "channel"}
    return [(classes.get(r.stopped_by, r.stopped_by), r.loss) for r in records]


def test_flow_auto_reaches_the_end_points_of_the_stiff_flow_and_uses_both_modes():
    prob = build_problem(POPULATION)
    seeds = list(range(12))
    stiff = integrate(prob, None, DynamicsSpec(method="flow"), seeds=seeds)
    auto = integrate(prob, None, DynamicsSpec(method="flow_auto"), seeds=seeds)
    for (c1, l1), (c2, l2) in zip(_ends(stiff.records), _ends(auto.records)):
        assert c1 == c2 == "converged"
        assert l2 == pytest.approx(l1, rel=1e-6, abs=1e-12)
    assert all(r.gradnorm <= 1e-10 for r in auto.records)     # certified after the polish
    s = auto.state
    assert bool(s.stiff.any())                               # the tails ran in stiff mode
    assert all(r.evals > 6 * 50 for r in auto.records)        # after explicit stretches


def test_flow_auto_follows_a_channel_to_maxnorm_like_the_stiff_flow():
    prob = build_problem({**POPULATION, "net": {"input_dim": 2, "widths": [2], "activation": "g",
                                                "biases": True},
                          "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 400},
                          "loss": {"maxnorm": 50}, "init": {"kind": "glorot_normal"}})
    spec = {"stop": {"maxtime": 60}}
    seeds = list(range(6))
    stiff = integrate(prob, None, DynamicsSpec(method="flow", **spec), seeds=seeds)
    auto = integrate(prob, None, DynamicsSpec(method="flow_auto", **spec), seeds=seeds)
    assert [c for c, _ in _ends(stiff.records)] == [c for c, _ in _ends(auto.records)]
    for (c, l1), (_, l2) in zip(_ends(stiff.records), _ends(auto.records)):
        if c == "converged":
            assert l2 == pytest.approx(l1, rel=1e-6)


def test_flow_auto_checkpoints_continue_bit_identically():
    prob = build_problem(POPULATION)
    spec = DynamicsSpec(method="flow_auto", stop={"maxsteps": 400})
    seeds = [0, 1, 2, 3]
    whole = integrate(prob, None, spec, seeds=seeds)
    run = integrate(prob, None, spec, seeds=seeds, budget_steps=23)
    pieces = 1
    while not run.finished:
        run = integrate(prob, None, spec, state=TrajectoryState.from_dict(run.state.to_dict()),
                        budget_steps=23)
        pieces += 1
    assert pieces > 5
    for a, b in zip(whole.records, run.records):
        for k, v in a.to_dict().items():
            if k != "wall_time":
                w = b.to_dict()[k]
                assert (np.array_equal(v, w, equal_nan=True) if isinstance(v, np.ndarray)
                        else v == w or (v != v and w != w)), k


def test_stiffness_estimate_is_exact_on_a_linear_field():
    lam = torch.tensor([3.0, 40.0], dtype=torch.float64)
    y = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]], dtype=torch.float64)

    def rhs(z):
        return -lam[:, None] * z, None

    h = torch.tensor([0.01, 0.2], dtype=torch.float64)
    *_, rho = explicit.step(y, -lam[:, None] * y, h, rhs)
    assert torch.allclose(rho, lam, rtol=1e-12)
    assert bool((h * rho > explicit.STABILITY_LIMIT)[1]) and not bool((h * rho > 3.25)[0])


def _special_pairs(d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Student vectors w (1, 5, d) and partners o (1, 7, d): random, a scaled copy (t = 0), an
    opposite (t = pi), an almost aligned pair (t ~ 1e-9), a zero student and a zero partner."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(1, 5, d, generator=g, dtype=torch.float64)
    w[0, 4] = 0.0
    o = torch.randn(1, 7, d, generator=g, dtype=torch.float64)
    o[0, 0] = 2.5 * w[0, 0]
    o[0, 1] = -0.7 * w[0, 1]
    nudge = torch.randn(d, generator=g, dtype=torch.float64)
    o[0, 2] = w[0, 2] + 1e-9 * (nudge - (nudge @ w[0, 2]) / (w[0, 2] @ w[0, 2]) * w[0, 2])
    o[0, 6] = 0.0
    return w, o


@pytest.mark.parametrize("activation", ["relu", {"name": "leaky_relu", "slope": 0.2}, "identity",
                                        "sigmoid2"])
def test_gram_terms_equal_the_pair_terms(activation):
    act = get_activation(activation)
    w, o = _special_pairs(5)
    value, alpha, beta = gram_terms(act, w, o, 1)
    k = pair_terms(act, w[:, :, None], o[:, None], 1)
    grad = alpha[..., None] * w[:, :, None] + beta[..., None] * o[:, None]
    assert torch.allclose(value, k.value, rtol=1e-13, atol=1e-14)
    assert torch.allclose(grad, k.grad_u, rtol=1e-12, atol=1e-14)
    assert gram_terms(get_activation("tanh"), w, o, 1) is None   # no closed form: pair terms


def test_gram_terms_keep_the_angle_of_aligned_pairs():
    """arccos of a Gram entry would give t ~ 1e-8 for an exact copy; the unit-vector distance
    gives 0, so the relu gradient coefficient |v| sin t / (2 pi |u|) vanishes."""
    act = get_activation("relu")
    w = torch.tensor([[[0.3, -1.1, 0.7]]], dtype=torch.float64)
    o = torch.cat([w, 3.0 * w], 1)
    _, alpha, beta = gram_terms(act, w, o, 1)
    assert float(alpha.abs().max()) < 1e-15
    assert torch.allclose(beta, torch.full_like(beta, 0.5), rtol=0, atol=1e-15)


def test_switching_refresh_fills_the_hessians_of_explicit_rows():
    prob = build_problem(POPULATION)
    run = integrate(prob, None, DynamicsSpec(method="flow_auto", polish=None,
                                             stop={"maxsteps": 10}), seeds=[0, 1])
    H = prob.objective.hessian(run.state.theta)
    assert not bool(run.state.stiff.any())
    eig = torch.linalg.eigvalsh(H)
    assert np.allclose(np.stack([r.eigenvalues for r in run.records]), eig.numpy(), rtol=1e-10,
                       atol=1e-12)
