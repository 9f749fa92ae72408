"""Thm. 4.1 of few-neurons-theory: Hessian inertia along a line of split critical points."""

import functools

import pytest
import torch

from landscape_hpc.analysis.splitting import (hessian_inertia, split_block, split_line_inertia,
                                              split_matrices)
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.neurons import split_neuron
from test_neurons import critical_point, underparameterised_problem

MUS = [-0.5, 0.25, 0.5, 1.5]
# (activation, biases, seed of the trust-exact start) giving a well-converged critical point
CASES = [("tanh", True, 1), ("tanh", False, 3), ("softplus", False, 1)]


@functools.lru_cache(maxsize=None)
def critical(activation, biases, seed):
    """Width-2 student of a width-3 teacher (d = 2) and a critical point of its loss."""
    obj = underparameterised_problem(activation, biases)
    theta = critical_point(obj, seed, tol=1e-10)
    assert obj.loss(theta) > 1e-6          # underparameterised: residuals do not vanish
    return obj, theta


def split_hessian(obj, theta, i, mu):
    net2, theta2 = split_neuron(obj.net, theta, i, mu)
    obj2 = EmpiricalLoss(net2, obj.x, obj.y, obj.loss_spec)
    return net2, theta2, obj2.hessian(theta2)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("i", [0, 1])
def test_predicted_inertia_matches_split_hessian(case, i):
    obj, theta = critical(*case)
    predicted = split_line_inertia(obj, obj.net, theta, i, MUS)
    computed = [hessian_inertia(split_hessian(obj, theta, i, mu)[2], 1e-8) for mu in MUS]
    assert predicted == computed
    P = obj.net.num_params
    for n_pos, n_neg, n_zero in computed:
        assert n_pos + n_neg + n_zero == P + obj.net.input_dim + 1 + int(obj.net.has("b"))
        assert n_zero == 1                 # the direction along the line (V = 0 for d_out = 1)


@pytest.mark.parametrize("case", CASES)
def test_V_vanishes_and_Y_is_the_curvature_across_the_copies(case):
    """V a_j = dL/dw_j = 0, and along w_i += (1-mu) delta, copy -= mu delta the split Hessian's
    quadratic form is mu (1-mu) delta^T Y delta."""
    obj, theta = critical(*case)
    net, gen = obj.net, torch.Generator().manual_seed(0)
    for i in range(2):
        Y, V = split_matrices(obj, theta, i)
        assert V.abs().max() < 1e-9
        torch.testing.assert_close(Y, Y.T, rtol=0, atol=1e-15)
        for mu in MUS:
            net2, theta2, H2 = split_hessian(obj, theta, i, mu)
            delta = torch.randn(Y.shape[0], generator=gen, dtype=torch.float64)
            e = torch.zeros(net2.num_params, dtype=torch.float64)
            d = net.input_dim
            w, ws = net2.slice("w"), net2.slice("w").start
            rows = {i: 1 - mu, i + 1: -mu}        # split_neuron puts the copy at i + 1
            for r, c in rows.items():
                e[ws + r * d: ws + (r + 1) * d] = c * delta[:d]
                if net.has("b"):
                    e[net2.slice("b").start + r] = c * delta[d]
            assert w.stop - w.start == 3 * d
            torch.testing.assert_close(e @ H2 @ e, mu * (1 - mu) * (delta @ Y @ delta),
                                       rtol=1e-9, atol=1e-14)


def test_negative_definite_Y_gives_minima_outside_and_saddles_inside():
    """Sec. 4 scenario ii: Y negative definite and H(theta) positive definite."""
    obj, theta = critical("softplus", False, 1)
    assert hessian_inertia(obj.hessian(theta)) == (obj.net.num_params, 0, 0)
    eigs = [torch.linalg.eigvalsh(split_matrices(obj, theta, i)[0]) for i in range(2)]
    i = next(k for k, ev in enumerate(eigs) if ev.max() < 0)
    d = obj.net.input_dim
    P2 = obj.net.num_params + d + 1
    expected = {-0.5: (P2 - 1, 0, 1), 1.5: (P2 - 1, 0, 1),
                0.25: (P2 - 1 - d, d, 1), 0.5: (P2 - 1 - d, d, 1)}
    assert split_line_inertia(obj, obj.net, theta, i, MUS) == [expected[m] for m in MUS]
    assert [hessian_inertia(split_hessian(obj, theta, i, m)[2]) for m in MUS] == \
        [expected[m] for m in MUS]


def test_indefinite_Y_changes_index_across_mu_zero():
    obj, theta = critical("tanh", True, 1)
    for i in range(2):
        ev = torch.linalg.eigvalsh(split_matrices(obj, theta, i)[0])
        assert ev.min() < 0 < ev.max()
        (_, neg_out, _), (_, neg_in, _) = split_line_inertia(obj, obj.net, theta, i, [-0.5, 0.5])
        # H(theta) is positive definite; mu (1-mu) < 0 outside [0, 1] flips the signs of Y
        assert neg_out == int((ev > 0).sum()) and neg_in == int((ev < 0).sum())


def test_split_block_shape_and_hessian_inertia():
    obj, theta = critical("tanh", True, 1)
    M = split_block(obj, theta, 0, 0.3)
    assert M.shape == (4, 4) and M[3, 3] == 0
    H = torch.diag(torch.tensor([3.0, -1.0, 1e-12, 0.0, 2.0], dtype=torch.float64))
    assert hessian_inertia(H, 1e-8) == (2, 1, 2)
    assert hessian_inertia(H, 1e-14) == (3, 1, 1)
