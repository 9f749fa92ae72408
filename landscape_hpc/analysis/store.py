"""Analyses over a whole store: per-task results as new variables of its Dataset.

A store mixes architectures (one per group), so each analysis runs group by group on the raw
``task`` view and its per-task results are laid out on the sweep's axes like the store's own
fields::

    from landscape_hpc.analysis.store import channel_results, teacher_results
    ds = channel_results("runs/loss_levels.zarr")       # + is_channel, has_duplicates, ...
    ds.is_channel.mean("seed")                           # channel share per width
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..models.network import NetSpec, Network
from ..models.objective import weightnorm
from ..store.layout import EMPTY
from .channels import CHANNEL_COSINE, layer_distances
from .solutions import channel_summary, cluster_solutions, count_anti_aligned, neuron_classes

#: fn(tasks of one group (dims task, param, ...), the group's task config) -> {name: (task,) array}
GroupAnalysis = Callable[[xr.Dataset, dict], dict[str, np.ndarray]]


def per_group(path: str | Path, fn: GroupAnalysis, descriptions: dict[str, str],
              by_axes: bool = True) -> xr.Dataset:
    """The results of the store at ``path`` on its axes, with the variables that ``fn`` computes
    for the tasks of each group (NaN, or False for booleans, where a group has no result).
    ``by_axes=False`` keeps the ``task`` view of the tasks: for sweeps whose axes are far from a
    product (``d: {expr: teacher_width}``), where the axes' product would not fit in memory."""
    from ..aggregate.dataset import results_by_axes
    from ..store import Store
    from ..store import open_results as open_raw

    store = Store(path)
    raw = open_raw(path)
    raw = raw.isel(task=np.flatnonzero(raw["status"].values != EMPTY))
    group = raw["group"].values
    out: dict[str, np.ndarray] = {}
    for g in np.unique(group):
        idx = np.flatnonzero(group == g)
        for name, values in fn(raw.isel(task=idx), store.group_config(int(g))).items():
            if name not in out:
                out[name] = np.zeros(len(group), bool) if values.dtype == bool else \
                    np.full(len(group), np.nan)
            out[name][idx] = values
    raw = raw.assign({k: xr.Variable("task", v, {"description": descriptions[k]})
                      for k, v in out.items()})
    return results_by_axes(raw) if by_axes else raw


def group_network(config: dict) -> Network:
    """The network of a group's task config (``Store.group_config``)."""
    return Network(NetSpec.model_validate(config["problem"]["net"]))


CHANNELS = {
    "min_cosine_distance": "closest pair of input vectors of the final theta, 1 - cos (deep "
                           "nets: the closest over the hidden layers)",
    "min_l2_distance": "closest pair of input vectors of the final theta, L2",
    "pair_output_weight": "|a_i| + |a_j| of the closest cosine pair (Fig. 4a)",
    "is_channel": "weightnorm >= maxnorm and min cosine distance < the channel threshold",
    "channel_layers": "hidden layers with a pair closer than the channel threshold (Fig. 4f)",
    "has_duplicates": "min L2 distance of input vectors < the duplicate threshold",
    "channel_update_fraction": "share of the last snapshot update in the closest pair's subspace",
}


def channel_results(path: str | Path, maxnorm: float | None = None,
                    duplicate_threshold: float = 1e-3,
                    channel_threshold: float = CHANNEL_COSINE) -> xr.Dataset:
    """The store's results with the channel criteria of every task of a group with two or more
    neurons per hidden layer: :func:`~landscape_hpc.analysis.channel_summary` for one hidden
    layer, the closest pair of every layer for deep nets (min over layers, ``channel_layers``).
    ``maxnorm`` defaults to each group's ``problem.loss.maxnorm``."""

    def fn(tasks: xr.Dataset, config: dict) -> dict[str, np.ndarray]:
        net = group_network(config)
        if min(net.spec.widths) < 2:
            return {}
        norm = maxnorm or config["problem"].get("loss", {}).get("maxnorm", np.inf)
        if net.depth == 1:
            ds = channel_summary(tasks, net, norm, duplicate_threshold, channel_threshold)
            out = {k: ds[k].values for k in CHANNELS if k in ds}
            out["channel_layers"] = out["is_channel"].astype(np.float64)
            return out
        theta = tasks["theta"].values[:, :net.num_params]
        ok = np.isfinite(theta).all(-1)
        t = torch.from_numpy(np.where(ok[:, None], theta, 0.0))
        dist = layer_distances(net, t).numpy()
        heavy = ok & (weightnorm(t).numpy() >= norm)
        return {"min_cosine_distance": np.where(ok, dist.min(-1), np.nan),
                "is_channel": heavy & (dist.min(-1) < channel_threshold),
                "channel_layers": np.where(ok, heavy * (dist < channel_threshold).sum(-1), np.nan)}

    return per_group(path, fn, CHANNELS)


TEACHER = {
    "n_copy": "student neurons within 1 degree of a teacher neuron (with non-zero output weight)",
    "n_zero": "student neurons with vanishing output weight",
    "n_group": "student neurons in zero-sum groups of equal input vectors",
    "n_other": "other student neurons",
    "n_anti_aligned": "students matched (Hungarian, by |overlap|) to a teacher with negative "
                      "overlap",
}


def teacher_results(path: str | Path, angle_deg: float = 1.0, zero_tol: float = 1e-6,
                    by_axes: bool = True) -> xr.Dataset:
    """The store's results with the neuron classes of every done task of a teacher-student group
    (few-neurons-theory / symmetry-induced Fig. 5, relu-population-landscape Sec. 3); ``by_axes``
    as for :func:`per_group`."""
    from ..targets import teacher_network

    def fn(tasks: xr.Dataset, config: dict) -> dict[str, np.ndarray]:
        net = group_network(config)
        problem = config["problem"]
        if net.depth != 1 or problem["target"].get("kind") not in ("teacher", "erf_toy"):
            return {}
        teacher, theta_t = teacher_network(problem["target"], net.input_dim, net.output_dim)
        thetas = tasks["theta"].values[:, :net.num_params]
        counts = {k: np.full(len(thetas), np.nan) for k in TEACHER}
        for i, theta in enumerate(thetas):
            if not np.isfinite(theta).all():
                continue
            t = torch.from_numpy(theta)
            kinds = neuron_classes(net, t, teacher, theta_t, angle_deg, zero_tol).kind
            for kind in ("copy", "zero", "group", "other"):
                counts[f"n_{kind}"][i] = kinds.count(kind)
            counts["n_anti_aligned"][i] = count_anti_aligned(net, t, teacher.view(theta_t, "w1"))
        return counts

    return per_group(path, fn, TEACHER, by_axes)


SOLUTIONS = {"solution": "label of the converged solution, unique up to permutation of the "
                         "neurons within its group (NaN: not converged)"}


def solution_results(path: str | Path, tol: float = 1e-4) -> xr.Dataset:
    """The store's results with ``solution``: converged tasks (:func:`~landscape_hpc.aggregate.
    converged`) of a group clustered up to permutation (:func:`cluster_solutions`, matched
    distance < ``tol``)."""
    from ..aggregate import converged

    def fn(tasks: xr.Dataset, config: dict) -> dict[str, np.ndarray]:
        net = group_network(config)
        ok = converged({k: tasks[k].values for k in ("status", "stopped_by", "polish_stopped_by")})
        labels = np.full(len(ok), np.nan)
        if ok.any():
            theta = torch.from_numpy(tasks["theta"].values[ok, :net.num_params])
            labels[ok] = cluster_solutions(net, theta, tol)
        return {"solution": labels}

    return per_group(path, fn, SOLUTIONS)
