"""Order-parameter flow of soft committee machines (relu-population-landscape Sec. 2-3): the loss
and gradient from (Q, M) equal PopulationLoss's, and the (Q, M) dynamics match the overlaps of the
weight-space population gradient flow, whatever the input dimension."""

import functools

import pytest
import scipy.integrate
import torch

from landscape_hpc.models.soft_committee import (SoftCommittee, kernel_slope_derivatives,
                                                 kernel_slopes, overlaps)
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.objective import LossSpec
from landscape_hpc.models.population import PopulationLoss, overlap_kernel

K, KS = 3, 2  # student and teacher widths
A = (1.0, 0.7, -0.5)  # the student's fixed readout
TIMES = [0.3, 1.0, 3.0, 10.0]
TOL = {"method": "DOP853", "rtol": 1e-12, "atol": 1e-14}


def population(activation, d, convention="mean", seed=0):
    """A population loss (random teacher in R^d with a free readout), the student's W0 and the
    teacher's W*; for d > K + KS the weights of d = K + KS rotated into R^d."""
    gen = torch.Generator().manual_seed(seed)
    n = K + KS
    w0, w_t = torch.randn(K, n, generator=gen) / n**0.5, torch.randn(KS, n, generator=gen)
    a_t = torch.randn(KS, generator=gen)
    if d > n:
        rot = torch.linalg.qr(torch.randn(d, n, generator=gen))[0]  # orthonormal columns
        w0, w_t = w0 @ rot.T, w_t @ rot.T
    student = Network(NetSpec(input_dim=d, widths=K, activation=activation, fixed_readout=A))
    teacher = Network(NetSpec(input_dim=d, widths=KS, activation=activation))
    loss = PopulationLoss(student, teacher, teacher.pack(w=w_t, a=a_t[None]),
                          LossSpec(convention=convention))
    return loss, w0, w_t


def weight_flow(loss, w0):
    """W(t) at TIMES of dW/dt = -grad L(W) (PopulationLoss), by DOP853 at tight tolerance."""
    sol = scipy.integrate.solve_ivp(lambda _, th: -loss.gradient(torch.from_numpy(th)).numpy(),
                                    (0.0, TIMES[-1]), w0.reshape(-1).numpy(), t_eval=TIMES, **TOL)
    assert sol.success
    return torch.from_numpy(sol.y.T.copy()).reshape(len(TIMES), *w0.shape)


@functools.cache
def overlap_flow(activation):
    """The (Q, M) trajectory from the overlaps of the d = K + KS start, and its start."""
    loss, w0, w_t = population(activation, K + KS)
    Q0, M0, _ = overlaps(w0, w_t)
    return SoftCommittee.from_population(loss).integrate(Q0, M0, TIMES, **TOL), Q0, M0


@pytest.mark.parametrize("activation", ["relu", "sigmoid2", {"name": "leaky_relu", "slope": 0.2}])
@pytest.mark.parametrize("convention", ["mean", "half_mean"])
@pytest.mark.parametrize("aligned", [False, True])
def test_loss_and_gradient_equal_population_loss(activation, convention, aligned):
    loss, w, w_t = population(activation, 6, convention)
    if aligned:  # aligned and anti-aligned students: the kernels' t = 0, pi
        w = torch.stack([w[0], 2 * w[0], -0.5 * w_t[1]])
    theta = w.reshape(-1)
    sc = SoftCommittee.from_population(loss)
    Q, M, _ = overlaps(w, w_t)
    g_q, g_m = sc.gradient(Q, M)
    assert torch.allclose(g_q, g_q.T, rtol=0, atol=1e-15)
    assert abs(sc.loss(Q, M) - loss.loss(theta)) < 1e-13
    grad_w = (2 * g_q @ w + g_m @ w_t).reshape(-1)  # = 2 (dL/dQ) W + (dL/dM) W*
    assert torch.allclose(grad_w, loss.gradient(theta), rtol=0, atol=1e-13)


@pytest.mark.parametrize("activation", ["relu", "sigmoid2", {"name": "leaky_relu", "slope": 0.2}])
def test_kernel_slopes_are_the_overlap_derivatives(activation):
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(2, 4, 4, generator=gen)
    c11, c12, c22 = (w[0] * w[0]).sum(-1), (w[0] * w[1]).sum(-1), (w[1] * w[1]).sum(-1)
    k1, k2 = kernel_slopes(activation, c11, c12, c22)
    h = 1e-6
    for c, (dp, dm) in ((k1, ((c11 + h, c12), (c11 - h, c12))),
                        (k2, ((c11, c12 + h), (c11, c12 - h)))):
        fd = (overlap_kernel(activation, *dp, c22) - overlap_kernel(activation, *dm, c22)) / (2 * h)
        assert torch.allclose(c, fd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("activation", ["relu", "sigmoid2", {"name": "leaky_relu", "slope": 0.2}])
def test_kernel_slope_derivatives_are_those_of_the_slopes(activation):
    """Central differences of :func:`kernel_slopes` at random pairs."""
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(2, 6, 4, generator=gen, dtype=torch.float64)
    c = [(w[0] * w[0]).sum(-1), (w[0] * w[1]).sum(-1), (w[1] * w[1]).sum(-1)]
    d1, d2 = kernel_slope_derivatives(activation, *c)
    h = 1e-6
    for j in range(3):
        up, dn = list(c), list(c)
        up[j], dn[j] = c[j] + h, c[j] - h
        for exact, fd_up, fd_dn in zip((d1, d2), kernel_slopes(activation, *up),
                                       kernel_slopes(activation, *dn)):
            fd = (fd_up - fd_dn) / (2 * h)
            assert torch.allclose(exact[..., j], fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", ["relu", "sigmoid2", {"name": "leaky_relu", "slope": 0.2}])
def test_flow_jvp_is_the_flow_jacobian(activation):
    """flow_jvp along every unit tangent equals jacfwd of the flow (kernel_slopes is written to be
    forward-mode safe), with a small neuron and one aligned to a teacher's (s = 0 there: the
    slopes' derivatives are set to 0, as jacfwd's tangents are)."""
    loss, w, w_t = population(activation, 6)
    w, w_t = w.double(), w_t.double()
    w = torch.stack([w[0], 1e-3 * w[1], 1.5 * w_t[0]])  # student 2 aligned with teacher 0
    sc = SoftCommittee.from_population(loss)
    Q, M, _ = overlaps(w, w_t)
    n = K * K + K * KS

    def flat(q_m: torch.Tensor) -> torch.Tensor:  # the flow on (Q, M) flattened, Q symmetrised
        q = q_m[:K * K].reshape(K, K)
        dq, dm = sc.flow(0.5 * (q + q.T), q_m[K * K:].reshape(K, KS))
        return torch.cat([dq.reshape(-1), dm.reshape(-1)])

    ref = torch.func.jacfwd(flat)(torch.cat([Q.reshape(-1), M.reshape(-1)]))  # (n, n)
    eye = torch.eye(n, dtype=torch.float64)
    dQ = eye[:, :K * K].reshape(n, K, K)
    dQ = 0.5 * (dQ + dQ.mT)
    dq, dm = sc.flow_jvp(Q, M, dQ, eye[:, K * K:].reshape(n, K, KS))
    assert torch.allclose(torch.cat([dq.reshape(n, -1), dm.reshape(n, -1)], 1).T, ref,
                          rtol=0, atol=1e-14 * ref.abs().max())


@pytest.mark.parametrize("activation", ["relu", "sigmoid2"])
@pytest.mark.parametrize("d", [K + KS, 50])
def test_overlap_dynamics_match_weight_space_dynamics(activation, d):
    """Must-show: Q(t) = W(t) W(t)^T, M(t) = W(t) W*^T of the weight-space population flow, in
    d = K + KS and in d = 50 from the same overlaps, are one (Q, M) trajectory."""
    traj, Q0, M0 = overlap_flow(activation)
    loss, w0, w_t = population(activation, d)
    Q0_d, M0_d, _ = overlaps(w0, w_t)
    assert torch.allclose(Q0_d, Q0, rtol=0, atol=1e-14) and torch.allclose(M0_d, M0, rtol=0,
                                                                          atol=1e-14)
    w = weight_flow(loss, w0)
    Q, M, _ = overlaps(w, w_t)
    assert traj.loss[-1] < 0.2 * SoftCommittee.from_population(loss).loss(Q0, M0)  # it moved
    assert torch.allclose(traj.Q, Q, rtol=0, atol=1e-10)
    assert torch.allclose(traj.M, M, rtol=0, atol=1e-10)
    assert torch.allclose(traj.loss, loss.loss(w.reshape(len(TIMES), -1)), rtol=0, atol=1e-10)


def test_batched_flow_equals_single_flows():
    traj, Q0, M0 = overlap_flow("relu")
    loss, _, w_t = population("relu", K + KS)
    Q1, M1, _ = overlaps(torch.randn(K, K + KS, generator=torch.Generator().manual_seed(5)), w_t)
    sc = SoftCommittee.from_population(loss)
    Qb, Mb = torch.stack([Q0, Q1]), torch.stack([M0, M1])
    both = sc.integrate(Qb, Mb, TIMES, **TOL)
    assert both.Q.shape == (len(TIMES), 2, K, K) and both.loss.shape == (len(TIMES), 2)
    assert torch.allclose(both.Q[:, 0], traj.Q, rtol=0, atol=1e-10)
    assert torch.allclose(both.loss[:, 1], sc.integrate(Q1, M1, TIMES, **TOL).loss, rtol=0,
                          atol=1e-10)
    for batched, single in zip(sc.flow(Qb, Mb), sc.flow(Q1, M1)):
        assert torch.allclose(batched[1], single, rtol=0, atol=1e-15)


def test_rejects_what_has_no_closed_form():
    with pytest.raises(ValueError, match="closed forms"):
        SoftCommittee("tanh", torch.eye(2), torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="fixed readout"):
        student = Network(NetSpec(input_dim=3, widths=K, activation="relu"))
        teacher = Network(NetSpec(input_dim=3, widths=KS, activation="relu"))
        SoftCommittee.from_population(PopulationLoss(student, teacher,
                                                     torch.ones(teacher.num_params)))
    with pytest.raises(ValueError, match="need Q0"):
        sc = SoftCommittee("relu", torch.eye(2), torch.ones(3), torch.ones(2))
        sc.integrate(torch.eye(2), torch.zeros(2, 2), [1.0])
