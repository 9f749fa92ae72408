"""Initial points theta_0: Glorot normal/uniform, scaled standard normal, or explicit.

Glorot follows MLPGradientFlow.jl: every weight matrix (fan_out, fan_in) is drawn with variance
2/(fan_in + fan_out) (normal) or uniformly on +-sqrt(6/(fan_in + fan_out)); biases start at 0.
``normal`` draws every parameter, biases included, as ``scale * N(0, 1)`` (the tiny
initialisations of relu-like-stationary-points.txt use scale down to 1e-11).
The draw is a pure function of (spec, seed) through a seeded ``torch.Generator``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator

from ..config import Spec
from .network import DTYPE, Network

Tensor = torch.Tensor


class InitSpec(Spec):
    """How theta_0 is drawn.  ``theta`` is used (and required) only for ``kind: explicit``."""

    kind: Literal["glorot_normal", "glorot_uniform", "normal", "explicit"] = "glorot_normal"
    scale: float = Field(default=1.0, gt=0)
    theta: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _explicit_needs_theta(self) -> "InitSpec":
        if (self.kind == "explicit") != (self.theta is not None):
            raise ValueError("init: 'theta' is given exactly when kind is 'explicit'")
        return self


def initial_theta(net: Network, spec: InitSpec, seed: int | None = None,
                  batch: int | None = None) -> Tensor:
    """theta_0 of shape (P,), or (batch, P) drawn one after another from the same generator."""
    if spec.kind == "explicit":
        theta = torch.tensor(spec.theta, dtype=DTYPE)
        if theta.numel() != net.num_params:
            raise ValueError(f"init.theta has {theta.numel()} numbers, the network has "
                             f"{net.num_params} parameters ({', '.join(net.names)})")
        return theta if batch is None else theta.expand(batch, -1).clone()
    gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
    n = 1 if batch is None else batch
    out = torch.stack([_draw(net, spec, gen) for _ in range(n)])
    return out[0] if batch is None else out


def _draw(net: Network, spec: InitSpec, gen: torch.Generator) -> Tensor:
    if spec.kind == "normal":
        return spec.scale * torch.randn(net.num_params, generator=gen, dtype=DTYPE)
    theta = torch.zeros(net.num_params, dtype=DTYPE)
    for name, blk in net.blocks.items():
        if name[0] not in "wa":
            continue
        fan_out, fan_in = blk.shape
        if spec.kind == "glorot_normal":
            vals = torch.randn(blk.shape, generator=gen, dtype=DTYPE) * math.sqrt(2 / (fan_in + fan_out))
        else:
            u = torch.rand(blk.shape, generator=gen, dtype=DTYPE)
            vals = (2 * u - 1) * math.sqrt(6 / (fan_in + fan_out))
        theta[blk.start:blk.stop] = spec.scale * vals.reshape(-1)
    return theta
