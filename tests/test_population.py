"""Population loss of teacher-student networks: Monte Carlo, finite differences, autodiff, the
global minimum, the optimal single relu neuron (few-neurons-theory.txt Thm 3.3), bad input."""

import math

import numpy as np
import pytest
import scipy.optimize
import torch

from landscape_hpc.models.activations import Activation
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.objective import LossSpec
from landscape_hpc.models.population import (PopulationLoss, _erf_terms, _quadrature_terms,
                                             gaussian_kernel, overlap_kernel)

SMOOTH = ["sigmoid2", "softplus", "tanh", "gelu", "sigmoid", "exp"]
ALL = ["relu", "leaky_relu", "identity"] + SMOOTH


def make(activation, r=3, s=2, d=3, fixed_readout=None, teacher_readout=None, convention="mean",
         scale=0.7, seed=0):
    """A population loss with a random teacher and a random student point theta."""
    gen = torch.Generator().manual_seed(seed)
    student = Network(NetSpec(input_dim=d, widths=r, activation=activation,
                              fixed_readout=fixed_readout))
    teacher = Network(NetSpec(input_dim=d, widths=s, activation=activation,
                              fixed_readout=teacher_readout))
    theta_t = scale * torch.randn(teacher.num_params, generator=gen)
    loss = PopulationLoss(student, teacher, theta_t, LossSpec(convention=convention))
    return loss, scale * torch.randn(student.num_params, generator=gen)


def central_jacobian(f, theta, h):
    """Columns (f(theta + h e_k) - f(theta - h e_k)) / 2h, all k in one batched call."""
    step = h * torch.eye(theta.numel())
    return ((f(theta + step) - f(theta - step)) / (2 * h)).T


def monte_carlo(loss, theta, n=1 << 20, chunk=1 << 16, seed=1):
    """Sample means and standard errors of factor (f - f*)^2 and of its gradient in theta."""
    net, act, nu = loss.student, loss.activation, loss.loss_spec.factor
    w, a = net.view(theta, "w"), net.readout(theta)[0]
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(1 + net.num_params)
    square = torch.zeros(1 + net.num_params)
    for _ in range(n // chunk):
        x = torch.randn(chunk, net.input_dim, generator=gen)
        sig, dsig = act.derivatives(x @ w.T, 1)
        err = sig @ a - act(x @ loss.teacher_w.T) @ loss.teacher_a
        per = torch.zeros(chunk, 1 + net.num_params)
        per[:, 0] = nu * err**2
        dw = (2 * nu * err)[:, None, None] * (a * dsig)[:, :, None] * x[:, None, :]
        per[:, 1:][:, net.slice("w")] = dw.reshape(chunk, -1)
        if net.fixed_a is None:
            per[:, 1:][:, net.slice("a")] = (2 * nu * err)[:, None] * sig
        total += per.sum(0)
        square += (per * per).sum(0)
    mean = total / n
    return mean, ((square / n - mean**2) / (n - 1)).sqrt()


# ---- 1. Monte Carlo -----------------------------------------------------------------------------
@pytest.mark.parametrize("fixed_readout", [None, 1.0], ids=["free", "fixed"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid2", "softplus", "tanh",
                                        "gelu"])
def test_loss_and_gradient_match_monte_carlo(activation, fixed_readout):
    loss, theta = make(activation, fixed_readout=fixed_readout, convention="half_mean", seed=2)
    value, grad = loss.derivatives(theta, 1)
    mean, se = monte_carlo(loss, theta)
    exact = torch.cat([value[None], grad])
    assert torch.all((exact - mean).abs() <= 4 * se), ((exact - mean) / se)


# ---- 2. finite differences and autodiff ---------------------------------------------------------
@pytest.mark.parametrize("fixed_readout", [None, -0.8], ids=["free", "fixed"])
@pytest.mark.parametrize("activation", ALL)
def test_gradient_and_hessian_match_finite_differences(activation, fixed_readout):
    loss, theta = make(activation, r=3, s=3, d=4, fixed_readout=fixed_readout, scale=0.5, seed=5)
    _, g, H = loss.derivatives(theta, 2)
    fd_g = central_jacobian(lambda t: loss.derivatives(t, 0)[0][:, None], theta, 1e-5)[0]
    fd_H = central_jacobian(lambda t: loss.derivatives(t, 1)[1], theta, 1e-5)
    torch.testing.assert_close(g, fd_g, rtol=1e-7, atol=1e-8 * g.abs().max())
    torch.testing.assert_close(H, fd_H, rtol=1e-7, atol=1e-8 * H.abs().max())
    torch.testing.assert_close(H, H.T, rtol=0, atol=0)


def _reference_loss(loss, quadrature=96):
    """Naive population loss from the overlap matrix of all neurons, for torch.func.hessian:
    closed forms for relu and sigmoid2, else a 2-D Gauss-Hermite rule written out here."""
    name, act, net = loss.activation.name, loss.activation, loss.student
    x, w = (torch.tensor(v) for v in np.polynomial.hermite_e.hermegauss(quadrature))
    w = w / w.sum()

    def f(theta):
        o = torch.cat([net.view(theta, "w"), loss.teacher_w])
        e = torch.cat([net.readout(theta)[0], -loss.teacher_a])
        c = o @ o.T
        eye = torch.eye(len(e), dtype=torch.bool)
        c12 = torch.where(eye, 0.0, c)  # off-diagonal overlaps; the diagonal is done apart
        c11, c22 = c.diagonal()[:, None], c.diagonal()[None, :]
        if name == "sigmoid2":
            k = 2 / math.pi * torch.asin(c / torch.sqrt((1 + c11) * (1 + c22)))
        elif name == "relu":
            norms = torch.sqrt(c11 * c22)
            t = torch.arccos(c12 / norms)
            k = norms * (torch.sin(t) + (math.pi - t) * torch.cos(t)) / (2 * math.pi)
            k = torch.where(eye, c / 2, k)
        else:
            s1 = torch.sqrt(c11)
            m = c12 / s1
            tau = torch.sqrt(c22 - m**2)
            z2 = m[..., None, None] * x[:, None] + tau[..., None, None] * x
            inner = act(z2) @ w
            k = (act(s1[..., None] * x) * inner) @ w
            k = torch.where(eye, (act(s1[..., None] * x) ** 2) @ w, k)
        return loss.loss_spec.factor * (e @ k @ e)

    return f


@pytest.mark.parametrize("fixed_readout", [None, 1.0], ids=["free", "fixed"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid2", "softplus", "gelu"])
def test_hessian_equals_autodiff(activation, fixed_readout):
    loss, theta = make(activation, r=3, s=2, d=4, fixed_readout=fixed_readout,
                       convention="half_mean", scale=0.4, seed=7)
    value, g, H = loss.derivatives(theta, 2)
    f = _reference_loss(loss)
    torch.testing.assert_close(value, f(theta), rtol=1e-12, atol=0)
    torch.testing.assert_close(g, torch.func.grad(f)(theta), rtol=1e-10, atol=1e-10 * g.abs().max())
    torch.testing.assert_close(H, torch.func.hessian(f)(theta), rtol=1e-10,
                               atol=1e-10 * H.abs().max())


def test_batched_equals_single():
    loss, _ = make("softplus", r=3, s=2, d=3)
    thetas = 0.7 * torch.randn(5, loss.num_params, generator=torch.Generator().manual_seed(3))
    batched = loss.derivatives(thetas, 2)
    for b, theta in enumerate(thetas):
        for x, y in zip(batched, loss.derivatives(theta, 2)):
            torch.testing.assert_close(x[b], y, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(loss.hessian(thetas[0]), batched[2][0], rtol=1e-13, atol=1e-15)


# ---- 3. global minimum and aligned neurons -----------------------------------------------------
@pytest.mark.parametrize("fixed_readout", [None, 1.0], ids=["free", "fixed"])
@pytest.mark.parametrize("activation", ["relu", "softplus", "sigmoid2"])
def test_global_minimum(activation, fixed_readout):
    gen = torch.Generator().manual_seed(11)
    net = Network(NetSpec(input_dim=4, widths=3, activation=activation,
                          fixed_readout=fixed_readout))
    theta = torch.randn(net.num_params, generator=gen)
    loss = PopulationLoss(net, net, theta)
    value, g, H = loss.derivatives(theta, 2)
    assert abs(value) <= 1e-15 * max(1.0, float(loss.target_power))
    assert g.abs().max() <= 1e-14
    assert torch.isfinite(H).all()
    torch.testing.assert_close(H, H.T, rtol=0, atol=0)
    # relu is only C^2 here: the finite-difference Hessian has an O(h) error
    fd_H = central_jacobian(lambda t: loss.derivatives(t, 1)[1], theta, 1e-7)
    torch.testing.assert_close(H, fd_H, rtol=0, atol=1e-6 * H.abs().max())
    assert torch.linalg.eigvalsh(H)[0] >= -1e-12 * H.abs().max()  # = 2 factor E[grad f grad f^T]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "softplus", "tanh"])
def test_aligned_neurons(activation):
    """Student neurons parallel, antiparallel and duplicated to teacher neurons, and one at 0."""
    loss, theta = make(activation, r=4, s=2, d=3, scale=0.5, seed=13)
    net, v = loss.student, loss.teacher_w
    w = net.view(theta, "w")
    w[0], w[1], w[2] = 1.3 * v[0], -0.6 * v[1], 1.3 * v[0]
    _, g, H = loss.derivatives(theta, 2)
    fd_H = central_jacobian(lambda t: loss.derivatives(t, 1)[1], theta, 1e-7)
    fd_g = central_jacobian(lambda t: loss.derivatives(t, 0)[0][:, None], theta, 1e-6)[0]
    torch.testing.assert_close(g, fd_g, rtol=0, atol=1e-8 * g.abs().max())
    torch.testing.assert_close(H, fd_H, rtol=0, atol=1e-6 * H.abs().max())
    w[3] = 0.0
    assert all(torch.isfinite(x).all() for x in loss.derivatives(theta, 2))


# ---- 4. the optimal single relu neuron ---------------------------------------------------------
def _one_neuron_optimum(k):
    """E[(f - f*)^2] at the optimum, and |w| a (few-neurons-theory.txt eq. 15, 16 over 2 pi)."""
    u = 1 / math.sqrt(k)
    h = math.sqrt(1 - u * u) + (math.pi - math.acos(u)) * u
    return k / 2 + k * (k - 1) / (2 * math.pi) - k**2 * h**2 / (2 * math.pi**2), k * h / math.pi


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_optimal_single_relu_neuron(k):
    teacher = Network(NetSpec(input_dim=k, widths=k, activation="relu", fixed_readout=1.0))
    student = Network(NetSpec(input_dim=k, widths=1, activation="relu"))
    loss = PopulationLoss(student, teacher, torch.eye(k).flatten())

    def fun(x):
        value, grad = loss.derivatives(torch.from_numpy(x), 1)
        return value.item(), grad.numpy()

    x0 = np.random.default_rng(k).standard_normal(k + 1)
    res = scipy.optimize.minimize(fun, x0, jac=True, method="trust-exact",
                                  hess=lambda x: loss.hessian(torch.from_numpy(x)).numpy(),
                                  options={"gtol": 1e-11})
    best, norm_times_a = _one_neuron_optimum(k)
    w, a = res.x[:k], res.x[k]
    assert np.abs(fun(res.x)[1]).max() < 1e-7  # the float64 floor of the loss decrease test
    assert abs(res.fun - best) < 1e-8
    assert abs(np.linalg.norm(w) * a - norm_times_a) < 1e-6
    np.testing.assert_allclose(w / np.linalg.norm(w), np.full(k, 1 / math.sqrt(k)), atol=1e-7)


def test_one_neuron_value_for_three_teachers():
    assert _one_neuron_optimum(3)[0] == pytest.approx(0.48471, abs=5e-6)


# ---- kernels -----------------------------------------------------------------------------------
def test_relu_kernel_special_angles():
    u = torch.tensor([2.0, 0.0, 0.0])
    cases = {(2.0, 0.0, 0.0): 2.0, (-1.0, 0.0, 0.0): 0.0, (0.0, 3.0, 0.0): 6 / (2 * math.pi)}
    for v, expected in cases.items():
        assert gaussian_kernel("relu", u, torch.tensor(v)).item() == pytest.approx(expected, 1e-15)


@pytest.mark.parametrize("scale", [0.2, 0.4])
def test_quadrature_derivatives_match_erf_closed_form(scale):
    """The Gauss-Hermite route, applied to sigmoid2, against its arcsin closed form, including
    aligned, antiparallel and zero vectors."""
    gen = torch.Generator().manual_seed(17)
    u, v = scale * torch.randn(2, 8, 4, generator=gen)
    v[0], v[1], u[2] = 0.5 * u[0], -1.5 * u[1], 0.0
    ref = _erf_terms(u, v, 2)
    got = _quadrature_terms(Activation("sigmoid2"), u, v, 2, 96)
    for x, y in [(got.value, ref.value), (got.grad_u, ref.grad_u),
                 (got.hess_uu.dense(), ref.hess_uu.dense()),
                 (got.hess_uv.dense(), ref.hess_uv.dense())]:
        torch.testing.assert_close(x, y, rtol=0, atol=1e-13)


def test_exp_kernel_closed_form_and_overlaps():
    gen = torch.Generator().manual_seed(19)
    u, v = 0.5 * torch.randn(2, 10, 3, generator=gen)
    c11, c12, c22 = (u * u).sum(-1), (u * v).sum(-1), (v * v).sum(-1)
    expected = torch.exp((c11 + 2 * c12 + c22) / 2)
    torch.testing.assert_close(gaussian_kernel("exp", u, v), expected, rtol=1e-13, atol=0)
    for name in ALL:
        torch.testing.assert_close(overlap_kernel(name, c11, c12, c22), gaussian_kernel(name, u, v),
                                   rtol=1e-12, atol=1e-14)


# ---- 5. bad input ------------------------------------------------------------------------------
def _net(**kw):
    return Network(NetSpec(**{"input_dim": 3, "widths": 2, "activation": "relu", **kw}))


@pytest.mark.parametrize("student,teacher,field,accepted", [
    (dict(widths=(2, 2)), {}, "net.widths", "one hidden layer"),
    (dict(output_dim=2), {}, "net.output_dim", "output_dim 1"),
    (dict(biases=True), {}, "net.biases", "biases: false"),
    (dict(biases=(False, True)), {}, "net.biases", "biases: false"),
    ({}, dict(widths=(2, 2)), "target.widths", "one hidden layer"),
    ({}, dict(output_dim=3), "target.output_dim", "output_dim 1"),
    ({}, dict(biases=True), "target.biases", "biases: false"),
    ({}, dict(input_dim=4), "target.input_dim", "net.input_dim = 3"),
    ({}, dict(activation="tanh"), "target.activation", "relu"),
    (dict(activation={"name": "leaky_relu", "slope": 0.1}), dict(activation="leaky_relu"),
     "target.activation", "slope=0.1"),
])
def test_invalid_networks_name_the_field(student, teacher, field, accepted):
    s, t = _net(**student), _net(**teacher)
    with pytest.raises(ValueError, match=field) as info:
        PopulationLoss(s, t, torch.zeros(t.num_params))
    assert accepted in str(info.value)


@pytest.mark.parametrize("convention", ["sum", "half_sum"])
def test_invalid_convention_names_the_field(convention):
    net = _net()
    with pytest.raises(ValueError, match="loss.convention") as info:
        PopulationLoss(net, net, torch.zeros(net.num_params), LossSpec(convention=convention))
    assert "'mean'" in str(info.value) and "'half_mean'" in str(info.value)


def test_invalid_teacher_theta_and_quadrature():
    net = _net()
    with pytest.raises(ValueError, match="target.theta"):
        PopulationLoss(net, net, torch.zeros(net.num_params + 1))
    with pytest.raises(ValueError, match="quadrature.*>= 2"):
        PopulationLoss(net, net, torch.zeros(net.num_params), quadrature=1)
