"""Channels to infinity (channels-to-infinity.txt Sec. 3-4, App. B.3).

A neuron's input vector is v_i = w_i, or (w_i, b_i) when its layer has biases (the bias is the
weight of a constant input 1).  Its output weight a_i is column i of the next layer's weights (the
readout for the last hidden layer), shape (out,).  Every function takes theta of shape (..., P)
and keeps the leading batch dims; closest pairs work in any hidden ``layer`` of deep networks
(Fig. 4f), the update criterion and the GLU reparameterisation in one-hidden-layer networks.

Channel criteria (App. B.3): (1) weightnorm above maxnorm, (2) cosine distance 1 - cos below 1e-3
for some pair of input vectors, (3) the late parameter updates lie mostly (> 90 %) in the channel
subspace: the channel neurons' output weights and the span of their input vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components

from ..models.network import Network
from ..models.objective import weightnorm

Tensor = torch.Tensor

#: thresholds of App. B.3
CHANNEL_COSINE = 1e-3
GROUP_COSINE = 1e-2
CHANNEL_UPDATE_FRACTION = 0.9


def _check_shallow(net: Network) -> None:
    if net.depth != 1:
        raise ValueError(f"channel analysis needs one hidden layer, got {net.depth}: {net}")


def _check_layer(net: Network, layer: int) -> None:
    if not 1 <= layer <= net.depth:
        raise ValueError(f"layer: expected 1..{net.depth} (hidden layers of {net}), got {layer}")


def input_vectors(net: Network, theta: Tensor, layer: int = 1) -> Tensor:
    """Input vectors v_i = (w_i[, b_i]) of the neurons of a hidden layer, shape (..., n, D)."""
    _check_layer(net, layer)
    v = net.view(theta, f"w{layer}")
    b = f"b{layer}"
    return torch.cat([v, net.view(theta, b)[..., None]], -1) if net.has(b) else v


def output_weights(net: Network, theta: Tensor, layer: int = 1) -> Tensor:
    """Output weights a_i of the neurons of a hidden layer, shape (..., n, out)."""
    _check_layer(net, layer)
    nxt = net.readout(theta) if layer == net.depth else net.view(theta, f"w{layer + 1}")
    return nxt.transpose(-1, -2)


def cosine_distances(v: Tensor) -> Tensor:
    """1 - cos between all rows of v (..., n, D): (..., n, n); 1 where a vector is zero."""
    u = v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)
    return 1.0 - u @ u.transpose(-1, -2)


def l2_distances(v: Tensor) -> Tensor:
    """Euclidean distances between all rows of v (..., n, D): (..., n, n)."""
    return (v[..., :, None, :] - v[..., None, :, :]).norm(dim=-1)


@dataclass(frozen=True)
class Pair:
    """Closest pair of neurons i < j and their distance, each of the batch shape."""

    i: Tensor
    j: Tensor
    distance: Tensor


def closest_pair(dist: Tensor) -> Pair:
    """The pair i < j with the smallest distance in (..., n, n) distance matrices (n >= 2)."""
    n = dist.shape[-1]
    if n < 2:
        raise ValueError("a closest pair needs at least two neurons")
    upper = torch.ones(n, n, dtype=torch.bool).triu(1)
    flat = dist.masked_fill(~upper, torch.inf).flatten(-2)
    d, k = flat.min(-1)
    return Pair(k // n, k % n, d)


def closest_pairs(net: Network, theta: Tensor, layer: int = 1) -> tuple[Pair, Pair]:
    """Closest pair of input vectors (of a hidden layer) by cosine distance and by L2 distance."""
    v = input_vectors(net, theta, layer)
    return closest_pair(cosine_distances(v)), closest_pair(l2_distances(v))


def group_labels(dist: np.ndarray, threshold: float) -> np.ndarray:
    """Connected components of the graph 'distance below threshold': labels (..., n)."""
    dist = np.asarray(dist)
    labels = np.empty(dist.shape[:-1], dtype=np.int64)
    for idx in np.ndindex(dist.shape[:-2]):
        labels[idx] = connected_components(dist[idx] < threshold, directed=False)[1]
    return labels


def neuron_groups(net: Network, theta: Tensor, threshold: float = GROUP_COSINE) -> list[list[int]]:
    """Groups (size >= 2) of near-equal neurons of one theta (P,): connected components of
    'cosine distance below threshold' (App. B.3, multi-dimensional channels)."""
    labels = group_labels(cosine_distances(input_vectors(net, theta)).numpy(), threshold)
    groups = [np.flatnonzero(labels == k).tolist() for k in np.unique(labels)]
    return [g for g in groups if len(g) > 1]


def is_channel(net: Network, theta: Tensor, maxnorm: float,
               threshold: float = CHANNEL_COSINE) -> Tensor:
    """Criteria (1) and (2): weightnorm >= maxnorm (where the flow stops with ``stopped_by =
    maxnorm``) and some pair with cosine distance < threshold, in any hidden layer."""
    return (weightnorm(theta) >= maxnorm) & layer_channels(net, theta, threshold).any(-1)


def layer_distances(net: Network, theta: Tensor) -> Tensor:
    """Cosine distance of the closest pair of each hidden layer, (..., depth) (inf for a layer of
    one neuron)."""
    out = []
    for layer in range(1, net.depth + 1):
        v = input_vectors(net, theta, layer)
        out.append(closest_pair(cosine_distances(v)).distance if v.shape[-2] > 1 else
                   torch.full(theta.shape[:-1], torch.inf, dtype=theta.dtype))
    return torch.stack(out, -1)


def layer_channels(net: Network, theta: Tensor, threshold: float = CHANNEL_COSINE) -> Tensor:
    """(..., depth) bool: the hidden layers with a pair closer than ``threshold`` in cosine
    distance (Fig. 4f: channels in several layers at once)."""
    return layer_distances(net, theta) < threshold


def update_fraction(net: Network, theta: Tensor, later: Tensor, neurons: Tensor) -> Tensor:
    """Criterion (3): ||update projected on the channel subspace|| / ||update|| for the update
    ``later - theta`` (e.g. between two late snapshots).  The channel subspace of ``neurons``
    (..., k) is spanned by their output weights and, in each of their input vectors, by the span of
    their input vectors at ``later`` (projector W_c (W_c^T W_c)^-1 W_c^T, here from a QR)."""
    _check_shallow(net)
    if net.fixed_a is not None:
        raise ValueError("update_fraction needs a free readout (no fixed_readout)")
    delta = later - theta
    idx = neurons.expand(*delta.shape[:-1], neurons.shape[-1])[..., None]
    wc = torch.take_along_dim(input_vectors(net, later), idx, dim=-2)           # (..., k, D)
    q = torch.linalg.qr(wc.transpose(-1, -2)).Q                                 # (..., D, k)
    dv = torch.take_along_dim(input_vectors(net, delta), idx, dim=-2)
    da = torch.take_along_dim(output_weights(net, delta), idx, dim=-2)
    inside = (dv @ q).square().sum((-1, -2)) + da.square().sum((-1, -2))
    return inside.sqrt() / delta.norm(dim=-1)


def is_channel_late(net: Network, theta: Tensor, later: Tensor, maxnorm: float,
                    threshold: float = CHANNEL_COSINE,
                    fraction: float = CHANNEL_UPDATE_FRACTION) -> Tensor:
    """All three criteria, the channel being the closest pair by cosine distance at ``later``."""
    cos, _ = closest_pairs(net, later)
    frac = update_fraction(net, theta, later, torch.stack([cos.i, cos.j], -1))
    return is_channel(net, later, maxnorm, threshold) & (frac > fraction)


@dataclass(frozen=True)
class GLU:
    """Eq. 3 of a pair (i, j): w = (v_i + v_j)/2, eps = |v_i - v_j|/2, Delta = (v_i - v_j)/(2 eps),
    a = eps (a_i - a_j), c = a_i + a_j.  Vectors (..., D), output weights (..., out), eps (...)."""

    c: Tensor
    a: Tensor
    w: Tensor
    delta: Tensor
    eps: Tensor


def glu_from_pair(v_i: Tensor, a_i: Tensor, v_j: Tensor, a_j: Tensor) -> GLU:
    """The GLU reparameterisation (eq. 3) of neurons (v_i, a_i), (v_j, a_j)."""
    diff = v_i - v_j
    eps = diff.norm(dim=-1) / 2
    return GLU(c=a_i + a_j, a=eps[..., None] * (a_i - a_j), w=(v_i + v_j) / 2,
               delta=diff / (2 * eps[..., None]), eps=eps)


def pair_from_glu(g: GLU) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Inverse of :func:`glu_from_pair`: (v_i, a_i, v_j, a_j)."""
    e = g.eps[..., None]
    return g.w + e * g.delta, g.c / 2 + g.a / (2 * e), g.w - e * g.delta, g.c / 2 - g.a / (2 * e)


def glu_pair(net: Network, theta: Tensor, i: int, j: int) -> GLU:
    """The GLU reparameterisation of neurons i, j of theta."""
    _check_shallow(net)
    v, a = input_vectors(net, theta), output_weights(net, theta)
    return glu_from_pair(v[..., i, :], a[..., i, :], v[..., j, :], a[..., j, :])


def glu_limit(net: Network, theta: Tensor, i: int, j: int, x: Tensor) -> Tensor:
    """The network function (..., N, out) with the pair (i, j) replaced by its eps -> 0 limit
    (eq. 4): c sigma(w.x) + a (Delta.x) sigma'(w.x)."""
    g = glu_pair(net, theta, i, j)
    xa = torch.cat([x, torch.ones_like(x[:, :1])], 1) if net.has("b") else x
    v, a = input_vectors(net, theta), output_weights(net, theta)
    rest = [k for k in range(v.shape[-2]) if k not in (i, j)]
    y = net.activation(xa @ v[..., rest, :].transpose(-1, -2)) @ a[..., rest, :]
    s, ds = net.activation.derivatives(xa @ g.w[..., None], 1)                 # (..., N, 1)
    y = y + s * g.c[..., None, :] + (xa @ g.delta[..., None]) * ds * g.a[..., None, :]
    return y + net.view(theta, "c")[..., None, :] if net.has("c") else y
