"""ReLU-like stationary points (relu-like-stationary-points.txt): neuron-wise derivatives (Lemma
3.2), stationarity (Def. 3.3), escape neurons (Def. 4.1), dead and small living neurons, Fact 4.6,
unit replication (Prop. 4.9) and the perturbation check (App. H), on the paper's datasets E1-E3."""

import math

import pytest
import torch

from landscape_hpc.analysis.relu_like import (
    balance, dead_neurons, neuron_derivatives, perturbation_changes, plot_loss_changes,
    relu_stationarity, replicate_unit, small_living_neurons, tangent_directions, tangential)
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.objective import LossSpec
from landscape_hpc.targets.datasets import load_dataset

KINK_X5 = torch.tensor([-1.0, 0.7])     # orthogonal to x~_5 = (0.7, 1): group 1 of sec. 4.1.1
DEAD = torch.tensor([0.0, -1.0])        # 4.71 rad, inside the dead sector of Fig. 3b
ZETA = 1.28e-4                          # App. H


def problem(name: str, width: int, activation="relu") -> EmpiricalLoss:
    x, y = load_dataset(name)
    net = Network(NetSpec(input_dim=x.shape[1], widths=width, output_dim=y.shape[1],
                          activation=activation))
    return EmpiricalLoss(net, x, y, LossSpec(convention="half_sum"))          # eq. 2


def neurons(obj: EmpiricalLoss, w, h) -> torch.Tensor:
    """theta with input weights along w (n, d) and output weights h (n, out), each neuron rescaled
    (positive homogeneity) to |w_i| = |h_i| as gradient flow from vanishing init keeps it (Fact
    4.6); zero rows stay zero."""
    w = torch.stack([torch.as_tensor(row, dtype=torch.float64) for row in w])
    h = torch.as_tensor(h, dtype=torch.float64).reshape(len(w), -1)
    nw, nh = w.norm(dim=1), h.norm(dim=1)
    s = torch.where(nw * nh > 0, (nh / nw.clamp_min(1e-300)).sqrt(), 1.0)
    return obj.net.pack(w=w * s[:, None], a=(h / s[:, None]).T)


def e1_saddle(width_h=(0.0, 0.0)):
    """The middle plateau of Fig. 3a (loss 0.0755): the kink neuron of group 1 (2.53 rad) alone
    fits c (0.7 - x)_+, group 2 is still at zero (neurons 1, 2), neuron 3 is dead."""
    obj = problem("relu_like_e1.yaml", 4)
    x, y = obj.x, obj.y[:, 0]
    phi = torch.relu(x @ KINK_X5)
    c = (phi @ y / (phi @ phi)).item()
    return obj, neurons(obj, [KINK_X5, [0, 0], [0, 0], DEAD], [c, *width_h, 0.3])


def e1_minimum(c: float = 0.12):
    """The last plateau of Fig. 3a: the kink neuron on x5 and a neuron active on every sample
    (group 2) make up the best affine fit (the kink sits on x5, so on the data (0.7 - x)_+ is
    affine); c > 0.1015 keeps the second neuron active everywhere (GD as in sec. 4.1.1 ends near
    c = 0.107).  Neuron 2 is dead."""
    obj = problem("relu_like_e1.yaml", 3)
    alpha, beta = torch.linalg.lstsq(obj.x, obj.y).solution[:, 0]
    lin = torch.stack([alpha + c, beta - 0.7 * c])
    return obj, neurons(obj, [KINK_X5, -lin, DEAD], [c, -1.0, 0.3])


def e3_minimum():
    """End of training in App. I.0.2: input weights in (pi/4, 5pi/4), so w_i . x_4 < 0, and
    samples 1-3 fitted exactly; x_4 alone is left (loss |y_4|^2 / 2 = 0.34).  Neuron 2 (3pi/4)
    has x_2 on its kink, where the error vanishes."""
    obj = problem("relu_like_e3.yaml", 3)
    w = torch.tensor([[0.0, 1.0], [-1.0, 0.0], [-1.0, 1.0]])      # pi/2, pi, 3pi/4
    h = torch.linalg.solve(torch.relu(obj.x[:3] @ w.T), obj.y[:3])
    return obj, neurons(obj, w, h)


def direction(obj, i, v):
    """theta-space direction moving only the input weights of neuron i, along v."""
    blocks = {name: torch.zeros_like(obj.net.view(torch.zeros(obj.num_params), name))
              for name in obj.net.blocks}
    blocks["w1"][i] = v
    return obj.net.pack(**blocks)


# ---- Lemma 3.2 ------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", {"name": "leaky_relu", "slope": 0.2}])
def test_derivatives_are_the_gradient_at_a_smooth_point(activation):
    obj = problem("relu_like_e2.yaml", 4, activation)
    theta = torch.randn(obj.num_params, generator=torch.Generator().manual_seed(0))
    grad, net = obj.gradient(theta), obj.net
    gw, w = net.view(grad, "w"), net.view(theta, "w")
    nd = neuron_derivatives(obj, theta)
    torch.testing.assert_close(nd.dh, net.view(grad, "a").T)
    torch.testing.assert_close(nd.dr, (gw * w).sum(1) / w.norm(dim=1))
    v = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    for i in range(4):
        torch.testing.assert_close(tangential(obj, theta, i, v)[0], v @ gw[i])


@pytest.mark.parametrize("activation", ["relu", {"name": "leaky_relu", "slope": 0.2}])
def test_one_sided_derivatives_match_finite_differences_at_kinks(activation):
    """Neuron 0 has x5 on its kink, neuron 1 is zero (every sample on its kink) with h = 0.5."""
    theta = e1_saddle(width_h=(0.5, 0.0))[1]
    obj = problem("relu_like_e1.yaml", 4, activation)
    w = obj.net.view(theta, "w")
    tangent = torch.tensor([0.7, 1.0]) / math.hypot(0.7, 1.0)
    dirs = torch.cat([torch.stack([tangent, -tangent, w[0] / w[0].norm()]),
                      torch.randn(6, 2, generator=torch.Generator().manual_seed(2))])
    t, loss0 = 1e-4, obj.loss(theta)
    for i in (0, 1):
        one_sided, _ = tangential(obj, theta, i, dirs)
        for v, expected in zip(dirs, one_sided):
            step = direction(obj, i, v)
            fd = (4 * (obj.loss(theta + t * step) - loss0)
                  - (obj.loss(theta + 2 * t * step) - loss0)) / (2 * t)   # smooth side: t > 0
            assert fd.item() == pytest.approx(expected.item(), abs=1e-9)
        if i == 0:                                                        # along u_0: radial
            assert neuron_derivatives(obj, theta).dr[0].item() == pytest.approx(
                one_sided[2].item(), abs=1e-15)


# ---- Def. 3.3, Def. 4.1, Thm. 4.2 on the paper's examples ------------------------------------
def test_stationarity_accepts_the_e1_local_minimum():
    obj, theta = e1_minimum()
    st = relu_stationarity(obj, theta)
    assert st.stationary and st.escape_neurons == [] and st.type1_minimum
    x, y = obj.x, obj.y
    affine = 0.5 * (x @ torch.linalg.lstsq(x, y).solution - y).square().sum()
    assert obj.loss(theta).item() == pytest.approx(affine.item(), rel=1e-12)      # 0.0697
    w = obj.net.view(theta, "w")[0]
    assert math.atan2(w[1], w[0]) == pytest.approx(2.53, abs=5e-3)                 # sec. 4.1.1
    # non-differentiable: flat towards activating x5, upward slope away from it
    tangent = torch.tensor([[0.7, 1.0], [-0.7, -1.0]]) / math.hypot(0.7, 1.0)
    ds = tangential(obj, theta, 0, tangent)[0]
    assert abs(ds[0]) < 1e-12 and ds[1] > 1e-3
    changes = perturbation_changes(obj, theta, ZETA)
    assert changes.shape == (5000,) and changes.min() >= -1e-15                   # Fig. 10
    assert len(plot_loss_changes(changes, bins=40).patches) == 40


def test_hidden_bias_is_the_constant_input():
    """E1 with x~ = (x, 1) is a d = 1 network with biases: the same analysis (and a readout
    bias c = 0, whose derivative vanishes at the affine fit)."""
    obj, theta = e1_minimum()
    net = Network(NetSpec(input_dim=1, widths=3, activation="relu", biases=True))
    w = obj.net.view(theta, "w")
    theta_b = net.pack(w=w[:, :1], b=w[:, 1], a=obj.net.view(theta, "a"), c=torch.zeros(1))
    obj_b = EmpiricalLoss(net, obj.x[:, :1], obj.y, obj.loss_spec)
    st, st_b = relu_stationarity(obj, theta), relu_stationarity(obj_b, theta_b)
    assert st_b.type1_minimum and st_b.dc < 1e-15
    for field in ("dh", "dr", "ds"):
        torch.testing.assert_close(getattr(st_b, field), getattr(st, field), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="ReLU-like"):
        relu_stationarity(problem("relu_like_e1.yaml", 3, "softplus"), theta)


def test_stationarity_finds_the_escape_neurons_of_the_e1_saddle():
    obj, theta = e1_saddle()
    st = relu_stationarity(obj, theta)
    assert st.stationary and not st.type1_minimum
    assert st.escape_neurons == [1, 2]          # the zero neurons, not the kink or dead neuron
    assert st.ds[0] > 1e-3                      # upward slopes on both sides of the kink
    low, origin = e1_minimum(), 0.5 * obj.y.square().sum()
    assert low[0].loss(low[1]) < obj.loss(theta) < origin     # Fig. 3a: 0.0697, 0.0755, 0.0953
    # random draws miss the second-order escape path along which the zero neurons grow ...
    assert perturbation_changes(obj, theta, ZETA).min() >= 0
    # ... but moving both parameters of an escape neuron as in App. F.2 lowers the loss
    v = tangent_directions(obj, theta, 1)
    _, f = tangential(obj, theta, 1, v)
    k = f[:, 0].abs().argmax()
    step = direction(obj, 1, v[k]) - torch.sign(f[k, 0]) * obj.net.pack(
        w=torch.zeros(4, 2), a=torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    assert obj.loss(theta + 1e-3 * step) < obj.loss(theta)


def test_e3_origin_is_a_saddle_and_the_end_point_a_minimum():
    """App. I.0.2 with two outputs: at the origin every neuron escapes.  Along the paper's
    v^ = (0.85, 0.51), d^v_1i . v = e_21 x_2 . v + e_41 x_4 . v = -0.789 with e_k1 = -y_k1; the
    paper prints -0.37: it leaves out x_4, which v^ also activates, and writes (-0.32, -0.2) for
    e_11 x_1 + e_21 x_2 = (-0.32, -0.8).  Either way nonzero, so its conclusion stands."""
    obj = problem("relu_like_e3.yaml", 2)
    origin = torch.zeros(obj.num_params)
    st = relu_stationarity(obj, origin)
    assert st.stationary and st.escape_neurons == [0, 1]
    _, f = tangential(obj, origin, 0, torch.tensor([[0.85, 0.51]]))
    assert f[0, 0].item() == pytest.approx(-0.5 * 1.36 - 0.8 * 0.136)
    assert (perturbation_changes(obj, origin, 1e-2) < 0).any()
    obj, theta = e3_minimum()
    st = relu_stationarity(obj, theta)
    assert st.stationary and st.type1_minimum
    assert obj.loss(theta).item() == pytest.approx(0.34)
    assert perturbation_changes(obj, theta, ZETA).min() >= -1e-15                 # Fig. 13


def test_tangent_directions_in_three_dimensions():
    obj = problem("relu_like_e2.yaml", 2)
    theta = obj.net.pack(w=torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]), a=torch.ones(1, 2))
    zero = tangent_directions(obj, theta, 0)           # every edge of the 7 samples' planes
    assert zero.shape == (2 * 21, 3)
    assert ((zero @ obj.x.T).abs() < 1e-12).sum(1).tolist() == [2] * 42
    plain = tangent_directions(obj, theta, 1)          # no kink: +- a basis of w^perp
    assert plain.shape == (4, 3) and (plain @ torch.tensor([1.0, 2.0, 3.0])).abs().max() < 1e-12
    torch.testing.assert_close(plain.norm(dim=1), torch.ones(4))


# ---- Prop. 4.9 ------------------------------------------------------------------------------
@pytest.mark.parametrize("i, betas, gammas, stationary, type1", [
    (0, [1, 1], [0.5, 0.5], True, True),
    (0, [0.5, 2], [1, 0.25], True, True),
    (0, [1, 1], [2, -1], False, False),      # the kink neuron has a positive tangential slope
    (0, [1, 1], [1, 0], True, False),        # gamma = 0 makes an escape neuron
    (1, [1, 1, 2], [2, -2, 0.5], True, True),  # all tangential derivatives of neuron 1 vanish
])
def test_unit_replication(i, betas, gammas, stationary, type1):
    obj, theta = e1_minimum()
    net2, theta2 = replicate_unit(obj.net, theta, i, betas, gammas)
    assert net2.spec.widths == (3 + len(betas) - 1,)
    grid = torch.stack([torch.linspace(-2, 2, 41), torch.linspace(-1, 3, 41)], 1)
    torch.testing.assert_close(net2(theta2, grid), obj.net(theta, grid), rtol=0, atol=1e-15)
    obj2 = EmpiricalLoss(net2, obj.x, obj.y, obj.loss_spec)
    st = relu_stationarity(obj2, theta2)
    assert (st.stationary, st.type1_minimum) == (stationary, type1)
    if stationary and not type1:             # scalar output: a saddle (Thm. 4.2)
        assert (perturbation_changes(obj2, theta2, 1e-2) < 0).any()


def test_unit_replication_rejects_bad_coefficients():
    obj, theta = e1_minimum()
    with pytest.raises(ValueError, match="positive betas"):
        replicate_unit(obj.net, theta, 0, [1, -1], [1, 0])
    with pytest.raises(ValueError, match="must be 1"):
        replicate_unit(obj.net, theta, 0, [1, 1], [1, 1])


# ---- dead and small living neurons, Fact 4.6 --------------------------------------------------
def test_dead_sector_of_e1():
    """Fig. 3b: w_i between 3.93 and 5.67 rad have rho(w_i . x_k) = 0 for every sample."""
    obj = problem("relu_like_e1.yaml", 1000)
    angles = torch.linspace(0, 2 * math.pi, 1001)[:-1]
    theta = obj.net.pack(w=torch.stack([angles.cos(), angles.sin()], 1), a=torch.ones(1, 1000))
    dead = angles[dead_neurons(obj, theta)]
    assert (dead.min().item(), dead.max().item()) == pytest.approx((3.93, 5.67), abs=7e-3)
    leaky = problem("relu_like_e1.yaml", 1000, {"name": "leaky_relu", "slope": 0.1})
    assert not dead_neurons(leaky, theta).any()


def test_small_living_neurons_near_the_e1_saddle():
    obj, theta = e1_saddle()
    w, a = obj.net.view(theta, "w").clone(), obj.net.view(theta, "a").clone()
    w[1], a[0, 1] = torch.tensor([1e-5, 2e-5]), 1e-5         # group 2 before it grows
    w[3], a[0, 3] = 1e-5 * DEAD, 1e-5                          # small but dead
    near = obj.net.pack(w=w, a=a)
    assert small_living_neurons(obj, near, 1e-3).tolist() == [False, True, True, False]
    assert dead_neurons(obj, near).tolist() == [False, False, False, True]


def test_balance_is_conserved_by_gradient_descent():
    obj = problem("relu_like_e1.yaml", 6)
    theta = 0.3 * torch.randn(obj.num_params, generator=torch.Generator().manual_seed(3))
    start = balance(obj.net, theta)
    moved = theta.clone()
    for _ in range(300):                     # balance moves by O(eta^2) per step
        moved -= 1e-3 * obj.gradient(moved)
    norms = [obj.net.view(t, "w").square().sum(1) for t in (theta, moved)]
    assert (norms[1] - norms[0]).abs().max() > 1e-2
    torch.testing.assert_close(balance(obj.net, moved), start, rtol=0, atol=1e-5)
