"""Solutions of one-hidden-layer networks: duplicates, uniqueness up to permutation, neuron classes
against a teacher (symmetry-induced-critical-points.txt Fig. 5), anti-aligned students
(relu-population-landscape.txt Sec. 3.1, App. B.1), and a per-task summary of a results Dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from scipy.optimize import linear_sum_assignment

from ..dynamics.record import Stop
from ..models.network import Network
from ..models.neurons import permute_neurons
from ..models.objective import weightnorm
from .channels import (CHANNEL_COSINE, closest_pair, cosine_distances, input_vectors,
                       l2_distances, output_weights, update_fraction)

Tensor = torch.Tensor


def has_duplicates(net: Network, theta: Tensor, threshold: float = 1e-3) -> Tensor:
    """Whether some pair of input vectors (w_i[, b_i]) is closer than ``threshold`` (L2)."""
    return closest_pair(l2_distances(input_vectors(net, theta))).distance < threshold


def _neurons(net: Network, theta: Tensor) -> Tensor:
    return torch.cat([input_vectors(net, theta), output_weights(net, theta)], -1)


def match_neurons(net: Network, theta: Tensor, other: Tensor) -> tuple[float, list[int]]:
    """Distance between two solutions (P,) up to permutation of the hidden neurons: the Hungarian
    matching of neurons (w_i, b_i, a_i) by squared L2 distance, then |theta - permuted other|.
    Returns the distance and the permutation (``permute_neurons(net, other, perm)`` matches)."""
    cost = torch.cdist(_neurons(net, theta), _neurons(net, other)).square()
    _, perm = linear_sum_assignment(cost.numpy())
    perm = perm.tolist()
    return (theta - permute_neurons(net, other, perm)).norm().item(), perm


def cluster_solutions(net: Network, thetas: Tensor, tol: float) -> np.ndarray:
    """Labels (S,) of solutions (S, P) unique up to permutation: each solution joins the first
    earlier representative within matched distance ``tol``, else starts a new cluster."""
    reps: list[int] = []
    labels = np.empty(len(thetas), dtype=np.int64)
    for s, theta in enumerate(thetas):
        for k, r in enumerate(reps):
            if match_neurons(net, thetas[r], theta)[0] < tol:
                labels[s] = k
                break
        else:
            labels[s] = len(reps)
            reps.append(s)
    return labels


@dataclass(frozen=True)
class NeuronClasses:
    """Per student neuron (n,): ``kind`` "zero" (vanishing output weight), "copy" (of teacher
    neuron ``teacher``), "group" (a zero-type group of ``group_size`` >= 2 neurons with equal input
    vectors and output weights summing to zero), or "other"."""

    kind: list[str]
    teacher: np.ndarray
    group_size: np.ndarray


def neuron_classes(net: Network, theta: Tensor, teacher: Network, teacher_theta: Tensor,
                   angle_deg: float = 1.0, zero_tol: float = 1e-6) -> NeuronClasses:
    """Classify the neurons of a student solution (P,) against a teacher (Fig. 5): input vectors
    within ``angle_deg`` are equal, output weights below ``zero_tol`` (L2) vanish."""
    v, a = input_vectors(net, theta), output_weights(net, theta)
    cos_tol = 1.0 - math.cos(math.radians(angle_deg))
    to_teacher = 1.0 - _unit(v) @ _unit(input_vectors(teacher, teacher_theta)).T
    near = (cosine_distances(v) < cos_tol).numpy()
    n = v.shape[0]
    kind, teach, size = ["other"] * n, np.full(n, -1), np.ones(n, dtype=np.int64)
    for i in range(n):
        k = int(to_teacher[i].argmin())
        group = np.flatnonzero(near[i])
        if a[i].norm() < zero_tol:
            kind[i] = "zero"
        elif to_teacher[i, k] < cos_tol:
            kind[i], teach[i] = "copy", k
        elif len(group) > 1 and a[group].sum(0).norm() < zero_tol:
            kind[i], size[i] = "group", len(group)
    return NeuronClasses(kind, teach, size)


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


def count_anti_aligned(net: Network, theta: Tensor, teacher_w: Tensor) -> np.ndarray:
    """Anti-aligned students (App. B.1): students are matched one-to-one to the teacher vectors
    (k, d) maximising the |overlaps| |w_i . w*_k| (Hungarian); a matched student with negative
    overlap is anti-aligned.  theta (..., P) gives counts of the batch shape."""
    overlap = (net.view(theta, "w") @ teacher_w.T).numpy()          # (..., n, k)
    counts = np.empty(overlap.shape[:-2], dtype=np.int64)
    for idx in np.ndindex(counts.shape):
        rows, cols = linear_sum_assignment(-np.abs(overlap[idx]))
        counts[idx] = int((overlap[idx][rows, cols] < 0).sum())
    return counts


def _cells(var: xr.DataArray, cells: list[str], net: Network) -> np.ndarray:
    return var.transpose(*cells, ..., "param").values[..., :net.num_params]


def _last_update(ds: xr.Dataset, cells: list[str], net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The last two filled snapshots (..., P) of every cell (NaN where fewer than two)."""
    snaps = _cells(ds["snap_theta"], cells, net)                         # (..., snapshot, P)
    count = np.nan_to_num(ds["snap_count"].transpose(*cells).values).astype(np.int64)
    pick = [np.take_along_axis(snaps, np.clip(count - k, 0, None)[..., None, None], -2)[..., 0, :]
            for k in (2, 1)]
    return tuple(np.where((count >= 2)[..., None], p, np.nan) for p in pick)


def channel_summary(ds: xr.Dataset, net: Network, maxnorm: float,
                    duplicate_threshold: float = 1e-3,
                    channel_threshold: float = CHANNEL_COSINE) -> xr.Dataset:
    """``ds`` with, per task cell, ``min_cosine_distance`` and ``min_l2_distance`` (closest pair of
    input vectors of the final theta), ``pair_output_weight`` (|a_i| + |a_j| of the cosine pair), ``is_channel`` (criteria 1-2: weightnorm >= maxnorm and min
    cosine distance below ``channel_threshold``; or ``stopped_by`` channel, whose rule checks
    all three criteria during the flow) and ``has_duplicates``.  With snapshots
    (``snap_theta``, ``snap_count``), also ``channel_update_fraction``: criterion 3 for the closest
    cosine pair, on the update between the last two snapshots (NaN with fewer than two).
    Every task of ``ds`` has the architecture of ``net``; cells without a finite theta get NaN and
    False."""
    if net.depth != 1:
        raise ValueError(f"channel_summary needs one hidden layer (deep nets: layer_channels), "
                         f"got {net}")
    cells = [d for d in ds["theta"].dims if d != "param"]
    values = _cells(ds["theta"], cells, net)
    n_params = ds["n_params"].transpose(*cells).values
    ok = np.isfinite(values).all(-1)
    if (n_params[ok] != net.num_params).any():
        raise ValueError(f"channel_summary: tasks with n_params {sorted(set(n_params[ok]))} "
                         f"do not match the network's {net.num_params} ({net})")
    t = torch.from_numpy(np.where(ok[..., None], values, 0.0))
    v = input_vectors(net, t)
    cos = closest_pair(cosine_distances(v))
    l2 = closest_pair(l2_distances(v)).distance.numpy()
    a = output_weights(net, t).abs().sum(-1)                              # (..., n)
    pair_a = (a.gather(-1, cos.i[..., None]) + a.gather(-1, cos.j[..., None]))[..., 0].numpy()
    heavy = weightnorm(t).numpy() >= maxnorm
    stopped = (ds["stopped_by"].transpose(*cells).values == Stop.CHANNEL if "stopped_by" in ds
               else np.zeros_like(heavy))  # the flow's channel stop (its criteria include 1-3)
    out = {
        "min_cosine_distance": (np.where(ok, cos.distance.numpy(), np.nan),
                                "closest pair of input vectors, 1 - cos"),
        "min_l2_distance": (np.where(ok, l2, np.nan), "closest pair of input vectors, L2"),
        "pair_output_weight": (np.where(ok, pair_a, np.nan),
                               "|a_i| + |a_j| of the closest cosine pair (Fig. 4a)"),
        "is_channel": (ok & ((heavy & (cos.distance.numpy() < channel_threshold)) | stopped),
                       f"weightnorm >= {maxnorm} and min cosine distance < {channel_threshold}, "
                       f"or stopped by the flow's channel rule"),
        "has_duplicates": (ok & (l2 < duplicate_threshold),
                           f"min L2 distance of input vectors < {duplicate_threshold}"),
    }
    if "snap_theta" in ds and "snap_count" in ds:
        before, after = (torch.from_numpy(np.nan_to_num(x)) for x in _last_update(ds, cells, net))
        pair = torch.stack([cos.i, cos.j], -1)
        frac = update_fraction(net, before, after, pair).numpy()
        out["channel_update_fraction"] = (
            np.where(ok & (after != before).any(-1).numpy(), frac, np.nan),
            "share of the last snapshot update in the subspace of the closest cosine pair")
    return ds.assign({k: xr.Variable(cells, x, {"description": d}) for k, (x, d) in out.items()})
