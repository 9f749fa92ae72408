"""Channels to infinity (channels-to-infinity.txt Sec. 3-4, App. B.3).

A neuron's input vector is v_i = w_i, or (w_i, b_i) when its layer has biases (the bias is the
weight of a constant input 1).  Its output weight a_i is column i of the next layer's weights (the
readout for the last hidden layer), shape (out,).  Every function takes theta of shape (..., P)
and keeps the leading batch dims; closest pairs work in any hidden ``layer`` of deep networks
(Fig. 4f), the update criterion and the GLU reparameterisation in one-hidden-layer networks.

Channel criteria (App. B.3): (1) weightnorm above maxnorm, (2) cosine distance 1 - cos below 1e-3
for some pair of input vectors, (3) the late parameter updates lie mostly (> 90 %) in the channel
subspace: the channel neurons' output weights and the span of their input vectors.

The geometric primitives (input vectors, output weights, cosine distances, the channel subspace,
the GLU reparameterisation and its limit) live in :mod:`landscape_hpc.models.channel_geometry`,
shared with the flow's channel stop (:mod:`landscape_hpc.dynamics.channel`); they are re-exported
here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.csgraph import connected_components

from ..models.channel_geometry import (GLU, check_layer, check_shallow, cosine_distances,
                                       glu_from_pair, glu_limit, glu_pair, input_vectors,
                                       output_weights, pair_from_glu, subspace_fraction)
from ..models.network import Network
from ..models.objective import weightnorm

Tensor = torch.Tensor

#: thresholds of App. B.3
CHANNEL_COSINE = 1e-3
GROUP_COSINE = 1e-2
CHANNEL_UPDATE_FRACTION = 0.9


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
    their input vectors at ``later``
    (:func:`~landscape_hpc.models.channel_geometry.subspace_fraction`)."""
    check_shallow(net)
    if net.fixed_a is not None:
        raise ValueError("update_fraction needs a free readout (no fixed_readout)")
    return subspace_fraction(net, later - theta, later, neurons)


def is_channel_late(net: Network, theta: Tensor, later: Tensor, maxnorm: float,
                    threshold: float = CHANNEL_COSINE,
                    fraction: float = CHANNEL_UPDATE_FRACTION) -> Tensor:
    """All three criteria, the channel being the closest pair by cosine distance at ``later``."""
    cos, _ = closest_pairs(net, later)
    frac = update_fraction(net, theta, later, torch.stack([cos.i, cos.j], -1))
    return is_channel(net, later, maxnorm, threshold) & (frac > fraction)


__all__ = ["CHANNEL_COSINE", "CHANNEL_UPDATE_FRACTION", "GLU", "GROUP_COSINE", "Pair",
           "check_layer", "check_shallow", "closest_pair", "closest_pairs", "cosine_distances",
           "glu_from_pair", "glu_limit", "glu_pair", "group_labels", "input_vectors", "is_channel",
           "is_channel_late", "l2_distances", "layer_channels", "layer_distances", "neuron_groups",
           "output_weights", "pair_from_glu", "update_fraction"]
