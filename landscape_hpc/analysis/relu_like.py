"""Stationary points of one-hidden-layer ReLU-like networks (relu-like-stationary-points.txt).

rho(z) = alpha+ z for z >= 0 and alpha- z for z < 0 (relu, leaky_relu).  Paper -> code: the input
weight w_i is the neuron's input vector v_i = (w_i[, b_i]) acting on x~ = (x[, 1]); the output
weights h_ji are a_i = column i of the readout; the error e_kj is dL/df at sample k, output j
(= f - y for the paper's loss ``half_sum``; other conventions rescale it).

At a kink (v_i . x~_k = 0) the loss has one-sided derivatives only.  Lemma 3.2 splits the moves of
v_i into the radial direction u_i = v_i/|v_i| (smooth) and tangential directions (unit vectors
orthogonal to u_i; any unit vector when v_i = 0), along which the one-sided derivative is

    d^v_ji . v = sum_k e_kj rho~(v . x~_k),      dL/ds_i(v) = sum_j h_ji d^v_ji . v      (eq. 6)

with rho~ = alpha+ or alpha- by the side of v_i . x~_k, and rho~ = rho where x~_k is on the kink.

Both are continuous, positively homogeneous and piecewise linear in v, linear on the cones cut
out of the tangent space by the kink samples' hyperplanes v . x~_k = 0.  The sign conditions of
Def. 3.3 and Def. 4.1 over all tangential directions therefore reduce to finitely many directions
(:func:`tangent_directions`): the edges of that arrangement and +- a basis of its lineality space.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch

from ..models.loss import EmpiricalLoss
from ..models.network import DTYPE, Network
from ..models.neurons import split_neuron
from .channels import input_vectors, output_weights

Tensor = torch.Tensor


def _setup(objective: EmpiricalLoss, theta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Inputs x~ (N, D), input vectors (n, D), output weights (n, out), errors e (N, out)."""
    net = objective.net
    if net.depth != 1 or not net.activation.homogeneous or net.fixed_a is not None:
        raise ValueError(f"needs one hidden layer, a ReLU-like activation and a free readout, "
                         f"got {net}")
    x = objective.x
    xt = torch.cat([x, torch.ones_like(x[:, :1])], 1) if net.has("b") else x
    e = 2.0 * objective.weight * objective.residuals(theta)
    return xt, input_vectors(net, theta), output_weights(net, theta), e


def _slopes(net: Network) -> tuple[float, float]:
    """(alpha+, alpha-) of the network's activation."""
    one = torch.ones(1, dtype=DTYPE)
    return net.activation(one).item(), -net.activation(-one).item()


def _kinks(xt: Tensor, v: Tensor, kink_tol: float) -> Tensor:
    """(N, n): sample k lies on the kink of neuron i, |v_i . x~_k| <= kink_tol |v_i| |x~_k|."""
    return (xt @ v.T).abs() <= kink_tol * xt.norm(dim=1)[:, None] * v.norm(dim=1)


def _slope(side: Tensor, ap: float, am: float) -> Tensor:
    """alpha+ where side > 0, else alpha-."""
    return torch.full_like(side, am).masked_fill(side > 0, ap)


@dataclass(frozen=True)
class NeuronDerivatives:
    """Lemma 3.2 per hidden neuron i (n of them), output j (out): ``d`` (n, out, D) the vectors
    d_ji of eq. 3 (kink samples left out), ``dh`` (n, out) dL/dh_ji = v_i . d_ji (eq. 4), ``dr``
    (n,) the radial derivative sum_j h_ji d_ji . u_i (eq. 5; 0 where v_i = 0)."""

    d: Tensor
    dh: Tensor
    dr: Tensor


def neuron_derivatives(objective: EmpiricalLoss, theta: Tensor,
                       kink_tol: float = 1e-10) -> NeuronDerivatives:
    """Eq. 3-5 at theta (P,)."""
    xt, v, a, e = _setup(objective, theta)
    ap, am = _slopes(objective.net)
    z = xt @ v.T
    s = _slope(z, ap, am).masked_fill(_kinks(xt, v, kink_tol), 0.0)              # (N, n)
    d = torch.einsum("kn,kj,kD->njD", s, e, xt)
    dh = torch.einsum("njD,nD->nj", d, v)
    norm = v.norm(dim=1)
    dr = torch.where(norm > 0, (dh * a).sum(1) / norm.clamp_min(torch.finfo(DTYPE).tiny), 0.0)
    return NeuronDerivatives(d, dh, dr)


def tangential(objective: EmpiricalLoss, theta: Tensor, i: int, v: Tensor,
               kink_tol: float = 1e-10) -> tuple[Tensor, Tensor]:
    """One-sided derivatives of the loss moving the input vector of neuron i along directions v
    (M, D): dL/ds_i (M,) and d^v_ji . v (M, out) (eq. 6; for v = u_i the radial derivative)."""
    xt, vi, a, e = _setup(objective, theta)
    ap, am = _slopes(objective.net)
    z = (xt @ vi[i])[:, None]                                                     # (N, 1)
    t = xt @ v.T                                                                  # (N, M)
    side = torch.where(_kinks(xt, vi[i:i + 1], kink_tol), t, z)
    f = (_slope(side, ap, am) * t).T @ e                                          # (M, out)
    return f @ a[i], f


def tangent_directions(objective: EmpiricalLoss, theta: Tensor, i: int,
                       kink_tol: float = 1e-10) -> Tensor:
    """Unit tangential directions (M, D) of neuron i on which Def. 3.3 (3) and Def. 4.1 are
    decided: the edges of the arrangement of the kink samples' hyperplanes in the tangent space
    (each orthogonal to rank - 1 independent kink samples) and +- a basis of its lineality space.
    Their number grows as (number of kink samples choose rank - 1): meant for small D."""
    xt, v, _, _ = _setup(objective, theta)
    vi = v[i]
    basis = torch.eye(len(vi), dtype=DTYPE)                       # of the tangent space, (D, m)
    if vi.norm() > 0:
        basis = torch.linalg.svd(basis - torch.outer(vi, vi) / vi.dot(vi)).U[:, :-1]
    p = xt[_kinks(xt, v[i:i + 1], kink_tol)[:, 0]] @ basis        # kink samples, (K, m)
    _, sv, vh = torch.linalg.svd(p)
    rank = int((sv > 1e-10 * sv.max()).sum()) if len(sv) else 0
    span, lineality = vh[:rank], vh[rank:]
    dirs = [lineality, span] if rank == 1 else [lineality]
    for sub in combinations(range(p.shape[0]), rank - 1) if rank > 1 else ():
        sq = torch.linalg.svd(p[list(sub)] @ span.T)                              # (rank-1, rank)
        if sq.S[-1] > 1e-10 * sq.S[0]:
            dirs.append(sq.Vh[-1:] @ span)                                        # its null space
    dirs = torch.cat(dirs) @ basis.T
    return torch.cat([dirs, -dirs]) if len(dirs) else dirs


@dataclass(frozen=True)
class ReluStationarity:
    """Def. 3.3 and Def. 4.1 at theta: per hidden neuron (n,) ``dh`` max_j |dL/dh_ji|, ``dr``
    |dL/dr_i|, ``ds`` the smallest tangential derivative over :func:`tangent_directions` (the sign
    of the minimum over all of them; inf without tangential directions), ``escape`` whether i is an
    escape neuron; ``dc`` max |dL/dc| of the readout bias (0 without).  A derivative counts as
    zero within ``tol`` (absolute)."""

    dh: Tensor
    dr: Tensor
    ds: Tensor
    escape: Tensor
    dc: float
    tol: float

    @property
    def stationary(self) -> bool:
        """Def. 3.3: dL/dh = 0, dL/dr = 0, dL/ds >= 0 along every tangential direction."""
        smooth = max(self.dh.max().item(), self.dr.max().item(), self.dc)
        return smooth <= self.tol and self.ds.min().item() >= -self.tol

    @property
    def escape_neurons(self) -> list[int]:
        return torch.nonzero(self.escape).flatten().tolist()

    @property
    def type1_minimum(self) -> bool:
        """Stationary without escape neurons: a local minimum (Thm. 4.2); for scalar output every
        other stationary point is a saddle or a local maximum."""
        return self.stationary and not self.escape.any()


def relu_stationarity(objective: EmpiricalLoss, theta: Tensor, tol: float = 1e-9,
                      kink_tol: float = 1e-10) -> ReluStationarity:
    """Test Def. 3.3 and find the escape neurons (Def. 4.1: a tangential direction v with
    dL/ds_i(v) = 0 and d^v_ji . v != 0 for some j) at theta (P,)."""
    nd = neuron_derivatives(objective, theta, kink_tol)
    n = nd.dr.shape[0]
    ds, escape = torch.full((n,), torch.inf, dtype=DTYPE), torch.zeros(n, dtype=torch.bool)
    for i in range(n):
        dirs = tangent_directions(objective, theta, i, kink_tol)
        if len(dirs):
            g, f = tangential(objective, theta, i, dirs, kink_tol)
            ds[i] = g.min()
            escape[i] = ((g.abs() <= tol) & (f.abs() > tol).any(1)).any()
    e = 2.0 * objective.weight * objective.residuals(theta)
    dc = e.sum(0).abs().max().item() if objective.net.has("c") else 0.0
    return ReluStationarity(nd.dh.abs().amax(1), nd.dr.abs(), ds, escape, dc, tol)


def dead_neurons(objective: EmpiricalLoss, theta: Tensor) -> Tensor:
    """(n,) bool: rho(v_i . x~_k) = 0 with v_i . x~_k < 0 for every sample (alpha- = 0 only), so
    that all derivatives of the neuron's parameters vanish nearby (sec. 4.1.1)."""
    xt, v, _, _ = _setup(objective, theta)
    if _slopes(objective.net)[1] != 0:
        return torch.zeros(v.shape[0], dtype=torch.bool)
    return (xt @ v.T < 0).all(0)


def small_living_neurons(objective: EmpiricalLoss, theta: Tensor, threshold: float) -> Tensor:
    """(n,) bool: neurons not dead with amplitude (|v_i|^2 + |a_i|^2)^(1/2) <= threshold, the
    traces of the escape neurons of a nearby saddle (sec. 4.1.1)."""
    _, v, a, _ = _setup(objective, theta)
    amplitude = (v.square().sum(1) + a.square().sum(1)).sqrt()
    return (amplitude <= threshold) & ~dead_neurons(objective, theta)


def balance(net: Network, theta: Tensor) -> Tensor:
    """|v_i|^2 - |a_i|^2 per neuron (..., n), conserved by gradient flow (Fact 4.6)."""
    return input_vectors(net, theta).square().sum(-1) - output_weights(net, theta).square().sum(-1)


def replicate_unit(net: Network, theta: Tensor, i: int, betas: list[float],
                   gammas: list[float]) -> tuple[Network, Tensor]:
    """Unit replication (sec. 4.3, Prop. 4.9): neuron i becomes neurons i, ..., i+L-1 with input
    vectors beta_l v_i and output weights gamma_l a_i; beta_l > 0 and sum beta_l gamma_l = 1 keep
    the network function."""
    beta, gamma = torch.as_tensor(betas, dtype=DTYPE), torch.as_tensor(gammas, dtype=DTYPE)
    if beta.dim() != 1 or beta.shape != gamma.shape or (beta <= 0).any():
        raise ValueError(f"need L positive betas and L gammas, got {betas} and {gammas}")
    if abs((beta * gamma).sum().item() - 1) > 1e-12:
        raise ValueError(f"sum beta_l gamma_l must be 1, got {(beta * gamma).sum().item()}")
    for _ in range(len(beta) - 1):
        net, theta = split_neuron(net, theta, i, 1.0)
    blocks = {name: net.view(theta, name).clone() for name in net.blocks}
    new = slice(i, i + len(beta))
    blocks["w1"][..., new, :] = beta[:, None] * blocks["w1"][..., i:i + 1, :]
    if "b1" in blocks:
        blocks["b1"][..., new] = beta * blocks["b1"][..., i:i + 1]
    blocks["a"][..., new] = gamma * blocks["a"][..., i:i + 1]
    return net, net.pack(**blocks)


def perturbation_changes(objective: EmpiricalLoss, theta: Tensor, zeta: float, draws: int = 5000,
                         seed: int = 0) -> Tensor:
    """App. H: L(theta + delta) - L(theta) (draws,) for perturbations delta of i.i.d. U(-zeta,
    zeta) entries; all >= 0 (up to rounding) at a local minimum when zeta is small enough."""
    gen = torch.Generator().manual_seed(seed)
    delta = (2 * torch.rand(draws, theta.shape[-1], generator=gen, dtype=DTYPE) - 1) * zeta
    return objective.loss(theta + delta) - objective.loss(theta)


def plot_loss_changes(changes: Tensor, ax=None, bins: int = 50):
    """Occurrence histogram of the loss changes (Fig. 10, 13); returns the axes."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4, 3)).subplots()
    ax.hist(changes.numpy(), bins=bins)
    ax.set_xlabel("loss change")
    ax.set_ylabel("occurrences")
    return ax
