"""Neuron operations: split, merge, permute into canonical order.

A neuron of hidden layer l owns row i of ``w{l}`` (and ``b{l}``: its incoming weights) and
column i of the next layer's weights (``w{l+1}``, or ``a`` for the last hidden layer: its outgoing
weights).  Each operation returns a new :class:`Network` (width changed) and the new theta.
Every function accepts theta with leading batch dimensions.

Splitting (few-neurons-theory eq. 10, channels-to-infinity eq. 2): the neuron is copied and its
outgoing weights shared as ``gamma * a`` (neuron i) and ``(1 - gamma) * a`` (the copy).  The network
function is unchanged, and a critical point maps to a critical point for every gamma.
"""

from __future__ import annotations

import torch

from .network import Network, NetSpec

Tensor = torch.Tensor


def _outgoing(net: Network, layer: int) -> str:
    if layer == net.depth:
        if net.fixed_a is not None:
            raise ValueError("the readout is fixed (fixed_readout): neurons of the last hidden "
                             "layer cannot be split, merged or weighted differently")
        return "a"
    return f"w{layer + 1}"


def _check(net: Network, layer: int, neurons: list[int]) -> None:
    if not 1 <= layer <= net.depth:
        raise ValueError(f"layer must be 1..{net.depth}, got {layer}")
    width = net.spec.widths[layer - 1]
    bad = [i for i in neurons if not 0 <= i < width]
    if bad:
        raise ValueError(f"neuron index {bad} out of range 0..{width - 1} in layer {layer}")


def _resized(net: Network, layer: int, width: int) -> Network:
    widths = list(net.spec.widths)
    widths[layer - 1] = width
    return Network(NetSpec(**{**net.spec.model_dump(), "widths": tuple(widths)}))


def _rebuild(net: Network, new: Network, theta: Tensor, layer: int,
             rows: Tensor, cols: Tensor) -> Tensor:
    """Apply row maps (incoming) and column maps (outgoing) given as matrices to the layer."""
    blocks = {}
    out = None if layer == net.depth and net.fixed_a is not None else _outgoing(net, layer)
    for name in net.blocks:
        v = net.view(theta, name)
        if name == f"w{layer}":
            v = torch.einsum("ji,...ik->...jk", rows, v)
        elif name == f"b{layer}":
            v = torch.einsum("ji,...i->...j", rows, v)
        elif name == out:
            v = torch.einsum("...ki,ij->...kj", v, cols)
        blocks[name] = v
    return new.pack(**blocks)


def split_neuron(net: Network, theta: Tensor, i: int, gamma: float, layer: int = 1,
                 at: int | None = None) -> tuple[Network, Tensor]:
    """Split neuron i of ``layer``: outgoing weights gamma*a (neuron i) and (1-gamma)*a (the copy,
    inserted at position ``at``, default i + 1)."""
    _outgoing(net, layer)
    _check(net, layer, [i])
    width = net.spec.widths[layer - 1]
    at = i + 1 if at is None else at
    if not 0 <= at <= width:
        raise ValueError(f"insert position must be 0..{width}, got {at}")
    order = list(range(width))
    order.insert(at, i)
    rows = torch.zeros(width + 1, width, dtype=theta.dtype)
    rows[torch.arange(width + 1), torch.tensor(order)] = 1.0
    cols = rows.T.clone()
    cols[i, i + 1 if at <= i else i] = gamma
    cols[i, at] = 1.0 - gamma
    new = _resized(net, layer, width + 1)
    return new, _rebuild(net, new, theta, layer, rows, cols)


def merge_neurons(net: Network, theta: Tensor, group: list[int], layer: int = 1
                  ) -> tuple[Network, Tensor]:
    """Replace a group of neurons by one with their mean incoming and summed outgoing weights,
    placed where the first of the group was."""
    _outgoing(net, layer)
    _check(net, layer, group)
    if len(set(group)) != len(group) or len(group) < 2:
        raise ValueError(f"merge needs at least two distinct neurons, got {group}")
    width = net.spec.widths[layer - 1]
    keep = sorted(set(range(width)) - set(group[1:]))
    rows = torch.zeros(len(keep), width, dtype=theta.dtype)
    cols = torch.zeros(width, len(keep), dtype=theta.dtype)
    for j, n in enumerate(keep):
        members = group if n == group[0] else [n]
        rows[j, members] = 1.0 / len(members)
        cols[members, j] = 1.0
    new = _resized(net, layer, len(keep))
    return new, _rebuild(net, new, theta, layer, rows, cols)


def permute_neurons(net: Network, theta: Tensor, perm: list[int] | Tensor, layer: int = 1
                    ) -> Tensor:
    """theta with the neurons of ``layer`` reordered: new neuron j is old neuron perm[j]."""
    width = net.spec.widths[layer - 1]
    perm = torch.as_tensor(perm)
    if sorted(perm.tolist()) != list(range(width)):
        raise ValueError(f"not a permutation of 0..{width - 1}: {perm.tolist()}")
    rows = torch.zeros(width, width, dtype=theta.dtype)
    rows[torch.arange(width), perm] = 1.0
    if layer == net.depth and net.fixed_a is not None:
        fixed = net.fixed_a
        if not torch.equal(fixed, fixed[:, perm]):
            raise ValueError("the fixed readout is not invariant under this permutation")
    return _rebuild(net, net, theta, layer, rows, rows.T)


def canonical_order(net: Network, theta: Tensor) -> Tensor:
    """Permutation-invariant representative of theta (P,): in every hidden layer, from the first,
    neurons sorted lexicographically by their incoming weights (w row, then bias)."""
    if theta.dim() != 1:
        return torch.stack([canonical_order(net, t) for t in theta])
    for layer in range(1, net.depth + 1):
        keys = net.view(theta, f"w{layer}")
        if net.has(f"b{layer}"):
            keys = torch.cat([keys, net.view(theta, f"b{layer}")[:, None]], 1)
        order = sorted(range(keys.shape[0]), key=lambda i: keys[i].tolist())
        theta = permute_neurons(net, theta, order, layer)
    return theta
