"""Sweeps that start from another store: its records for the planner, and initial points.

The planner selects source tasks from :func:`source_records` (``plan_from_records``); each new
task's ``initial`` says which source task and how theta_0 derives from its final theta
(:func:`initial_point`): split a neuron (``split_neuron``; ``min_readout``/``max_readout`` pick
the neuron with the smallest / largest outgoing weight to the first output), then add ``scale``
times a direction: N(0, 1) or U(-1, 1) noise drawn with the task seed, or the unit eigenvector of
the smallest Hessian eigenvalue (sign fixed so that its largest-magnitude entry is positive; the
sign of ``scale`` picks the side).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from .layout import DONE, EMPTY, STATUS
from .store import Store

SUMMARY = ("loss", "gradnorm", "gradnorm_nobarrier", "weightnorm", "stopped_by", "n_negative")


def source_records(path: str | Path) -> list:
    """Every task of a store as a SourceRecord (config with seed; status and results in summary)."""
    from ..sweep import SourceRecord

    store = Store(path)
    status = store.tasks["status"][:]
    used = np.flatnonzero(status != EMPTY)
    cols = {n: store.tasks[n][:][used] for n in ("task_id", "group", "seed", *SUMMARY)}
    out = []
    for k, _ in enumerate(used):
        config = {**store.group_config(int(cols["group"][k])), "seed": int(cols["seed"][k])}
        summary = {"status": STATUS[status[used[k]]]}
        for n in SUMMARY:
            v = cols[n][k]
            summary[n] = str(v) if n == "stopped_by" else v.item()
        out.append(SourceRecord(str(cols["task_id"][k]), config, summary))
    return out


def source_solution(path: str | Path, task_id: str):
    """(network, final theta) of done task ``task_id`` of the store at ``path``."""
    net, theta = _source_theta(str(Path(path).resolve()), task_id)
    return net, theta.clone()


def split_index(net, theta: torch.Tensor, split: dict) -> int:
    """The neuron that ``initial.split`` names: an index, ``min_readout`` or ``max_readout``
    (smallest / largest outgoing weight to the first output)."""
    layer, neuron = split.get("layer", 1), split["neuron"]
    if isinstance(neuron, str):
        out = net.readout(theta)[0] if layer == net.depth else net.view(theta, f"w{layer + 1}")[0]
        neuron = int(torch.argmin(out) if neuron == "min_readout" else torch.argmax(out))
    return neuron


@lru_cache(maxsize=64)
def _source_theta(path: str, task_id: str):
    """(network, final theta) of a done source task; read once per process for all its seeds."""
    from ..models.network import NetSpec, Network

    store = Store(path)
    ids = np.array(store.tasks["task_id"][:].tolist())
    hit = np.flatnonzero(ids == task_id)
    if len(hit) == 0:
        raise ConfigError(f"{store.path}: no source task {task_id}")
    i = int(hit[0])
    if store.tasks["status"][i] != DONE:
        raise ConfigError(f"{store.path}: source task {task_id} is not done")
    net = Network(NetSpec.model_validate(
        store.group_config(int(store.tasks["group"][i]))["problem"]["net"]))
    theta = torch.from_numpy(np.asarray(store.tasks["theta"][i][:net.num_params], dtype=np.float64))
    return net, theta


def initial_point(problem, initial: dict, seed: int, source: str | Path) -> torch.Tensor:
    """theta_0 of a task started from source task ``initial['source']`` of store ``source``."""
    from ..models.neurons import split_neuron

    net, theta = source_solution(source, initial["source"])
    split = initial.get("split")
    if split:
        net, theta = split_neuron(net, theta, split_index(net, theta, split), split["gamma"],
                                  split.get("layer", 1))
    if theta.numel() != problem.net.num_params:
        raise ConfigError(f"source task {initial['source']}: its theta has {theta.numel()} "
                          f"parameters, the task's network {problem.net.num_params}")
    perturb = initial.get("perturb")
    if perturb:
        gen = torch.Generator().manual_seed(int(seed))
        kind, scale = perturb["direction"], perturb["scale"]
        if kind == "normal":
            direction = torch.randn(theta.shape, generator=gen, dtype=torch.float64)
        elif kind == "uniform":
            direction = 2 * torch.rand(theta.shape, generator=gen, dtype=torch.float64) - 1
        else:
            direction = torch.linalg.eigh(problem.objective.hessian(theta))[1][:, 0]
            direction = direction * torch.sign(direction[direction.abs().argmax()])
        theta = theta + scale * direction
    return theta
