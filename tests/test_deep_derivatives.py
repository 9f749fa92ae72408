"""Analytic derivatives of deep networks (models/deep.py): against torch.func and differences."""

import pytest
import torch

from landscape_hpc.models import deep
from landscape_hpc.models.init import InitSpec, initial_theta
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.objective import LossSpec
from test_derivatives import central_gradient, central_jacobian

ACTIVATIONS = ["softplus", "sigmoid2", "g", "tanh"]
WIDTHS = [(3, 2), (2, 3, 2)]
READOUTS = [(1, None), (2, None), (1, 0.7), (2, (0.5, -1.0))]  # (output_dim, fixed_readout)


def bias_flags(kind: str, depth: int) -> bool | tuple[bool, ...]:
    """All layers, none, or alternating per layer (hidden layers, then the readout)."""
    if kind == "alternating":
        return tuple(i % 2 == 0 for i in range(depth + 1))
    return kind == "all"


def losses(widths, biases="all", output_dim=1, fixed_readout=None, activation="softplus",
           convention="half_sum", n=40, d=3, seed=0) -> tuple[EmpiricalLoss, EmpiricalLoss]:
    """The same loss twice: analytic (the default) and torch.func."""
    if isinstance(fixed_readout, tuple):  # its values cycled over the (out, nL) readout
        fixed_readout = tuple(fixed_readout[i % len(fixed_readout)]
                              for i in range(output_dim * widths[-1]))
    net = Network(NetSpec(input_dim=d, widths=widths, output_dim=output_dim,
                          activation=activation, biases=bias_flags(biases, len(widths)),
                          fixed_readout=fixed_readout))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, output_dim, generator=gen, dtype=torch.float64)
    spec = LossSpec(convention=convention)
    return EmpiricalLoss(net, x, y, spec), EmpiricalLoss(net, x, y, spec, analytic=False)


def assert_relative(got: tuple, expected: tuple, tol: float = 1e-10) -> None:
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        assert ((a - b).abs().max() / b.abs().max()).item() < tol


@pytest.mark.parametrize("output_dim,fixed_readout", READOUTS, ids=str)
@pytest.mark.parametrize("biases", ["none", "all", "alternating"])
@pytest.mark.parametrize("widths", WIDTHS, ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_equals_autodiff(activation, widths, biases, output_dim, fixed_readout):
    analytic, auto = losses(widths, biases, output_dim, fixed_readout, activation)
    assert analytic.analytic and not auto.analytic
    thetas = initial_theta(analytic.net, InitSpec(kind="normal"), seed=7, batch=3)
    assert_relative(analytic.evaluate(thetas, 2), auto.evaluate(thetas, 2))
    assert_relative(analytic.evaluate(thetas[1], 2), auto.evaluate(thetas[1], 2))


@pytest.mark.parametrize("convention", ["mean", "half_mean", "sum", "half_sum"])
@pytest.mark.parametrize("widths", WIDTHS, ids=str)
def test_conventions_equal_autodiff(widths, convention):
    analytic, auto = losses(widths, "alternating", 2, convention=convention)
    thetas = initial_theta(analytic.net, InitSpec(kind="glorot_normal"), seed=2, batch=2)
    for order in range(3):
        assert_relative(analytic.evaluate(thetas, order), auto.evaluate(thetas, order))


@pytest.mark.parametrize("widths", [(3, 2), (2, 3, 2), (2, 2, 2, 2)], ids=str)
def test_gradient_and_hessian_match_finite_differences(widths):
    obj, _ = losses(widths, "alternating", 2, activation="g", convention="mean")
    theta = 0.8 * initial_theta(obj.net, InitSpec(kind="normal"), seed=3)
    _, g, H = obj.evaluate(theta, 2)
    torch.testing.assert_close(g, central_gradient(obj.loss, theta), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(H, central_jacobian(obj.gradient, theta), rtol=1e-6, atol=1e-8)


def test_chunks_of_thetas_and_samples_change_nothing(monkeypatch):
    obj, _ = losses((3, 4, 2), "all", 2, activation="tanh", n=300)
    thetas = initial_theta(obj.net, InitSpec(kind="glorot_normal"), seed=4, batch=5)
    whole = obj.evaluate(thetas, 2)
    monkeypatch.setattr(deep, "MIN_SAMPLES", 64)
    monkeypatch.setattr(deep, "BUDGET", obj._inputs.per_sample * 64 * 2)  # 2 thetas x 64 samples
    for order in range(3):
        assert_relative(obj.evaluate(thetas, order), whole[:order + 1], 1e-13)


@pytest.mark.parametrize("fixed_readout", [None, 0.5], ids=["free a", "fixed a"])
def test_one_hidden_layer_equals_shallow(fixed_readout):
    """The formulation holds for L = 1 too: a cross-check against models/shallow.py."""
    obj, _ = losses((4,), "alternating", 2, fixed_readout)
    thetas = initial_theta(obj.net, InitSpec(kind="normal"), seed=5, batch=2)
    data = deep.Data.of(obj.net, obj.x, obj.y)
    assert_relative(deep.derivatives(obj.net, data, obj.weight, thetas, 2), obj.evaluate(thetas, 2))


def test_fixed_readout_without_bias_has_no_readout_parameters():
    obj, auto = losses((3, 2), "none", 1, 1.0)
    assert obj.num_params == 3 * 3 + 2 * 3
    theta = initial_theta(obj.net, InitSpec(kind="normal"), seed=6)
    assert_relative(obj.evaluate(theta, 2), auto.evaluate(theta, 2))
