"""Exact derivatives of the empirical loss: finite differences, autodiff, the barrier."""

import math

import pytest
import torch

from landscape_hpc.models.init import InitSpec, initial_theta
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.objective import LossSpec, barrier, weightnorm
from test_activations import SPECS


def make_loss(activation, widths, biases, output_dim=1, fixed_readout=None, convention="mean",
              maxnorm=math.inf, n=40, d=3, seed=0, analytic=None):
    gen = torch.Generator().manual_seed(seed)
    net = Network(NetSpec(input_dim=d, widths=widths, output_dim=output_dim,
                          activation=activation, biases=biases, fixed_readout=fixed_readout))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, output_dim, generator=gen, dtype=torch.float64)
    return EmpiricalLoss(net, x, y, LossSpec(convention=convention, maxnorm=maxnorm), analytic)


def central_gradient(f, theta, h=1e-6):
    g = torch.empty_like(theta)
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def central_jacobian(f, theta, h=1e-6):
    cols = []
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = h
        cols.append((f(theta + e) - f(theta - e)) / (2 * h))
    return torch.stack(cols, -1)


@pytest.mark.parametrize("widths", [(4,), (3, 2, 3)], ids=["1 layer", "3 layers"])
@pytest.mark.parametrize("biases", [False, True], ids=["no bias", "bias"])
@pytest.mark.parametrize("activation", SPECS, ids=str)
def test_gradient_and_hessian_match_finite_differences(activation, biases, widths):
    obj = make_loss(activation, widths, biases)
    scale = 0.3 if activation == "exp" else 0.7  # keep exp(exp(exp(.))) finite
    theta = scale * initial_theta(obj.net, InitSpec(kind="normal"), seed=3)
    _, g, H = obj.evaluate(theta, 2)
    torch.testing.assert_close(g, central_gradient(obj.loss, theta), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(H, central_jacobian(obj.gradient, theta), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(H, H.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("output_dim,fixed_readout", [(1, None), (2, None), (1, 1.0), (2, -0.5)])
@pytest.mark.parametrize("biases", [False, True, (True, False), (False, True)], ids=str)
@pytest.mark.parametrize("activation", SPECS, ids=str)
def test_analytic_equals_autodiff(activation, biases, output_dim, fixed_readout):
    kw = dict(activation=activation, widths=(5,), biases=biases, output_dim=output_dim,
              fixed_readout=fixed_readout, convention="half_sum")
    analytic, auto = make_loss(**kw, analytic=True), make_loss(**kw, analytic=False)
    thetas = initial_theta(analytic.net, InitSpec(kind="glorot_normal"), seed=7, batch=3)
    for a, b in zip(analytic.evaluate(thetas, 2), auto.evaluate(thetas, 2)):
        assert a.shape == b.shape
        assert ((a - b).abs().max() / b.abs().max()).item() < 1e-10


@pytest.mark.parametrize("convention,factor,mean", [("mean", 1.0, True), ("half_mean", 0.5, True),
                                                    ("sum", 1.0, False), ("half_sum", 0.5, False)])
def test_conventions(convention, factor, mean):
    obj = make_loss("tanh", (3,), True, convention=convention, n=25)
    theta = initial_theta(obj.net, InitSpec(), seed=1)
    e = obj.residuals(theta)
    expected = factor * (e**2).sum() / (25 if mean else 1)
    torch.testing.assert_close(obj.loss(theta), expected)


def test_batch_equals_single():
    obj = make_loss("g", (4,), True, output_dim=2)
    thetas = initial_theta(obj.net, InitSpec(), seed=2, batch=4)
    batched = obj.evaluate(thetas, 2)
    for i in range(4):
        for a, b in zip(batched, obj.evaluate(thetas[i], 2)):
            torch.testing.assert_close(a[i], b, rtol=1e-13, atol=1e-15)


def test_barrier_derivatives_and_activation():
    theta = torch.linspace(-3, 4, 9)
    m = 0.5 * weightnorm(theta).item()
    R, g, H = barrier(theta, m, 2)
    assert R.item() == pytest.approx((weightnorm(theta).item() - m) ** 3 / 3)
    torch.testing.assert_close(g, central_gradient(lambda t: barrier(t, m)[0], theta), rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(H, central_jacobian(lambda t: barrier(t, m, 1)[1], theta), rtol=1e-7, atol=1e-9)
    below = barrier(theta, 2 * weightnorm(theta).item(), 2)
    assert all((x == 0).all() for x in below)


def test_objective_adds_barrier_above_maxnorm():
    obj = make_loss("softplus", (3,), False, maxnorm=0.05)
    theta = 2 * initial_theta(obj.net, InitSpec(kind="normal"), seed=5)
    assert weightnorm(theta) > 0.05
    L, g, H = obj.evaluate(theta, 2)
    L0, g0, H0 = obj.evaluate(theta, 2, with_barrier=False)
    R, gR, HR = barrier(theta, 0.05, 2)
    torch.testing.assert_close(L, L0 + R)
    torch.testing.assert_close(g, central_gradient(obj.value, theta), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(H, H0 + HR)
    assert obj.hessian_spectrum(theta).shape == (obj.num_params,)


def test_wrong_theta_length_is_refused():
    obj = make_loss("relu", (3,), False)
    with pytest.raises(ValueError, match="expected 12"):
        obj.loss(torch.zeros(11))


def test_barrier_work_is_skipped_below_maxnorm_with_identical_results():
    obj = make_loss("g", (3,), False, maxnorm=0.3)
    theta = initial_theta(obj.net, InitSpec(kind="normal"), seed=5)
    below, above = theta * 0.1, theta * 10
    assert weightnorm(below) < 0.3 < weightnorm(above)
    batch = torch.stack([below, above])
    for x in (below, above, batch):
        got = obj.evaluate(x, 2)
        full = tuple(a + r for a, r in zip(obj.derivatives(x, 2), barrier(x, 0.3, 2)))
        assert all(torch.equal(a, b) for a, b in zip(got, full))
    assert all(torch.equal(a, b) for a, b in zip(obj.evaluate(below, 2),
                                                 obj.evaluate(below, 2, with_barrier=False)))
