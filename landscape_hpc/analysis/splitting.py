"""Second-order nature of symmetry-induced critical points (few-neurons-theory Sec. 4, Thm. 4.1).

Splitting neuron j of a critical point theta of a one-hidden-layer network with mixing ratio mu
(outgoing weights mu*a_j and (1-mu)*a_j, :func:`~landscape_hpc.models.neurons.split_neuron`)
gives a critical point theta_mu whose Hessian is congruent to the block-diagonal matrix

    diag( [[mu(1-mu) Y, -V], [-V^T, 0]],  H(theta) )

(the congruence A(mu) of eq. 101 has determinant +-1 for every mu), with, for the incoming
vector w~_j = [w_j, b_j] and x~ = [x, 1] (or w_j, x without biases),

    Y = < sigma''(w~_j . x~) x~ x~^T  (a_j . c') >          (d~ x d~)
    V = < sigma'(w~_j . x~) x~ c'^T >                        (d~ x d_out)

where c' = dc/df is the derivative of the per-sample cost with respect to the network output and
< . > the (empirical) average that makes up the loss.  By Sylvester's law of inertia the numbers
of positive, negative and zero Hessian eigenvalues at theta_mu are those of H(theta) plus those of
the small matrix.  For d_out = 1, V a_j = dL/dw_j = 0 forces V = 0 at a critical point.
"""

from __future__ import annotations

from typing import Iterable

import torch

from ..models.loss import EmpiricalLoss
from ..models.network import Network

Tensor = torch.Tensor


def hessian_inertia(H: Tensor, tol: float = 1e-8) -> tuple[int, int, int]:
    """(n_pos, n_neg, n_zero) of a symmetric matrix; an eigenvalue counts as zero when its
    modulus is at most ``tol`` times the largest eigenvalue modulus."""
    ev = torch.linalg.eigvalsh(0.5 * (H + H.transpose(-1, -2)))
    return _inertia(ev, tol)


def _inertia(ev: Tensor, tol: float) -> tuple[int, int, int]:
    scale = ev.abs().max().item() if ev.numel() else 0.0
    cut = tol * scale
    zero = ev.abs() <= cut
    return (int(((ev > 0) & ~zero).sum()), int(((ev < 0) & ~zero).sum()), int(zero.sum()))


def split_matrices(objective: EmpiricalLoss, theta: Tensor, i: int) -> tuple[Tensor, Tensor]:
    """Y (d~ x d~) and V (d~ x d_out) of Thm. 4.1 for neuron i of a one-hidden-layer network,
    computed exactly from the residuals of ``objective`` at theta."""
    net: Network = objective.net
    if net.depth != 1:
        raise ValueError("split_matrices handles one hidden layer only")
    if net.fixed_a is not None:
        raise ValueError("the readout is fixed: neurons cannot be split")
    x = objective.x
    xt = torch.cat([x, torch.ones_like(x[:, :1])], 1) if net.has("b") else x
    z = x @ net.view(theta, "w")[i]
    if net.has("b"):
        z = z + net.view(theta, "b")[i]
    _, s1, s2 = net.activation.derivatives(z, 2)
    # L = weight * sum_n ||e_n||^2  =>  c'_n = 2 * weight * e_n (the average is folded in)
    cprime = 2.0 * objective.weight * objective.residuals(theta)          # (N, out)
    a = net.view(theta, "a")[:, i]                                        # (out,)
    Y = torch.einsum("n,n,nk,nl->kl", s2, cprime @ a, xt, xt)
    V = torch.einsum("n,nk,nl->kl", s1, xt, cprime)
    return Y, V


def split_block(objective: EmpiricalLoss, theta: Tensor, i: int, mu: float) -> Tensor:
    """The matrix [[mu(1-mu) Y, -V], [-V^T, 0]] of Thm. 4.1, eq. 18."""
    Y, V = split_matrices(objective, theta, i)
    out = V.shape[1]
    top = torch.cat([mu * (1 - mu) * Y, -V], 1)
    bottom = torch.cat([-V.T, torch.zeros(out, out, dtype=V.dtype)], 1)
    return torch.cat([top, bottom], 0)


def split_line_inertia(objective: EmpiricalLoss, net: Network, theta: Tensor, i: int,
                       mus: Iterable[float], tol: float = 1e-8) -> list[tuple[int, int, int]]:
    """Predicted (n_pos, n_neg, n_zero) of the Hessian at the split point of neuron i with mixing
    ratio mu, for each mu: the inertia of blockdiag(eq. 18 matrix, H(theta)).

    Zero eigenvalues are those at most ``tol`` times the largest eigenvalue modulus of that
    block-diagonal matrix.  ``net`` must be the network of ``objective``."""
    if net.spec != objective.net.spec:
        raise ValueError("net is not the network of the objective")
    H = objective.evaluate(theta, 2)[2]
    ev_H = torch.linalg.eigvalsh(0.5 * (H + H.T))
    result = []
    for mu in mus:
        M = split_block(objective, theta, i, float(mu))
        ev = torch.cat([torch.linalg.eigvalsh(M), ev_H])
        result.append(_inertia(ev, tol))
    return result
