"""Stopping rules, per trajectory, checked after every accepted step (and at the start).

In order of precedence (the first that holds is recorded as ``stopped_by``): nonfinite (L + R or
its gradient), maxnorm (weightnorm(theta) >= the loss's maxnorm: the trajectory left along a
channel), min_gradnorm (gradient infinity-norm of L + R), min_loss (L + R), patience (accepted
steps since the best L + R), maxsteps, maxT (flow time), maxtime (wall clock, the only
nondeterministic rule), min_step (an adaptive step size collapsed below 1e-14).  After them the
engine runs the channel stop (:mod:`.channel`, ``stopped_by = channel``) on the trajectories none
of these rules stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from ..models.objective import weightnorm
from .record import STOP_REASONS, Stop, TrajectoryState
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

    def take(self, idx: Tensor) -> "Limits":
        return Limits(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


_RULES = (Stop.NONFINITE, Stop.MAXNORM, Stop.MIN_GRADNORM, Stop.MIN_LOSS, Stop.PATIENCE,
          Stop.MAXSTEPS, Stop.MAX_T, Stop.MAXTIME, Stop.MIN_STEP)
_CODES = torch.tensor([STOP_REASONS.index(name) for name in _RULES], dtype=torch.int64)


def check(s: TrajectoryState, lim: Limits, maxnorm: float, adaptive: bool) -> Tensor | None:
    """Stop codes (0: go on) for every trajectory of ``s``, with ``lim`` its rows' limits; None
    when none stops."""
    gnorm = s.grad.abs().amax(-1)
    value = s.value
    hits = torch.stack([
        ~torch.isfinite(value + gnorm),
        weightnorm(s.theta) >= maxnorm,
        gnorm <= lim.min_gradnorm,
        value <= lim.min_loss,
        s.since_best >= lim.patience,
        s.steps >= lim.maxsteps,
        s.t >= lim.maxT,
        s.wall >= lim.maxtime,
        s.h < MIN_STEP if adaptive else torch.zeros_like(gnorm, dtype=torch.bool),
    ])                                                        # (rules, n), in _RULES order
    stop = hits.any(0)
    if not bool(stop.any()):
        return None
    first = hits.to(torch.uint8).argmax(0)                    # the first rule that holds
    return torch.where(stop, _CODES[first], 0)
