"""Stopping rules, per trajectory, checked after every accepted step (and at the start).

In order of precedence (the first that holds is recorded as ``stopped_by``): nonfinite (L + R or
its gradient), maxnorm (weightnorm(theta) >= the loss's maxnorm: the trajectory left along a
channel), min_gradnorm (gradient infinity-norm of L + R), min_loss (L + R), patience (accepted
steps since the best L + R), maxsteps, maxT (flow time), maxtime (wall clock, the only
nondeterministic rule), min_step (an adaptive step size collapsed below 1e-14).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.objective import weightnorm
from .record import STOP_REASONS, TrajectoryState
from .spec import DynamicsSpec

Tensor = torch.Tensor

MIN_STEP = 1e-14


@dataclass
class Limits:
    """The stop rules and step parameters of a batch, one entry per trajectory."""

    maxtime: Tensor
    maxsteps: Tensor
    maxT: Tensor
    patience: Tensor
    min_loss: Tensor
    min_gradnorm: Tensor
    eta: Tensor
    reltol: Tensor
    abstol: Tensor

    @classmethod
    def from_specs(cls, specs: list[DynamicsSpec]) -> "Limits":
        def col(get) -> Tensor:
            return torch.tensor([float(get(s)) for s in specs], dtype=torch.float64)

        return cls(**{name: col(lambda s, n=name: getattr(s.stop, n))
                      for name in ("maxtime", "maxsteps", "maxT", "patience", "min_loss",
                                   "min_gradnorm")},
                   eta=col(lambda s: s.eta), reltol=col(lambda s: s.reltol),
                   abstol=col(lambda s: s.abstol))


def check(state: TrajectoryState, idx: Tensor, lim: Limits, maxnorm: float,
          adaptive: bool) -> Tensor:
    """Stop codes (0: go on) for the trajectories ``idx``."""
    s = state
    gnorm = s.grad[idx].abs().amax(-1)
    value = s.value[idx]
    rules = [
        ("nonfinite", ~torch.isfinite(value) | ~torch.isfinite(gnorm)),
        ("maxnorm", weightnorm(s.theta[idx]) >= maxnorm),
        ("min_gradnorm", gnorm <= lim.min_gradnorm[idx]),
        ("min_loss", value <= lim.min_loss[idx]),
        ("patience", s.since_best[idx] >= lim.patience[idx]),
        ("maxsteps", s.steps[idx] >= lim.maxsteps[idx]),
        ("maxT", s.t[idx] >= lim.maxT[idx]),
        ("maxtime", s.wall[idx] >= lim.maxtime[idx]),
        ("min_step", (s.h[idx] < MIN_STEP) if adaptive else torch.zeros_like(gnorm, dtype=torch.bool)),
    ]
    hits = torch.stack([hit for _, hit in rules])            # (rules, n)
    first = hits.to(torch.uint8).argmax(0)                    # the first rule that holds
    codes = torch.tensor([STOP_REASONS.index(name) for name, _ in rules], dtype=torch.int64)
    return torch.where(hits.any(0), codes[first], 0)
