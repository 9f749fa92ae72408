"""What a trajectory does: the dynamics, its tolerances, stopping rules, polish and snapshots.

In YAML (the ``dynamics`` of a sweep task)::

    method: flow            # flow (stiff ode23s, exact Hessian) | flow_rodas (stiff Rodas4, exact
                            # Hessian, order 4) | flow_explicit (DP5) | flow_auto (DP5 where
                            # not stiff, ode23s where stiff) | order_params (the (Q, M)
                            # flow of a population soft committee, by ode23s; .order_params)
                            # | gd | adam | sgd
    reltol: 1.0e-3          # flow tolerances (channels-to-infinity Table 1)
    abstol: 1.0e-6
    eta: 1.0e-3             # step size of gd, adam, sgd
    batch_size: 32          # sgd only
    stop: {maxtime: 3600, maxsteps: 1.0e9, patience: 1.0e6, min_loss: 0, min_gradnorm: 1.0e-12}
    polish: {method: newton, gtol: 1.0e-13, maxsteps: 200, maxtime: .inf}   # or polish: null;
                            # method: lm minimises the squared residuals (.least_squares)
    snapshots: {per_decade: 4, tmin: 1.0e-3, decades: 16, theta: true}
    channel: {cosine: 1.0e-3, update_fraction: 0.9, ...}   # channel-to-infinity stop; or null

Time ``t`` is the gradient-flow time; for gd, adam and sgd it is ``eta * steps``.
Snapshots are taken on the fixed grid ``t_k = tmin * 10^(k / per_decade)``, k < per_decade *
decades (the first accepted step at or after each grid point), plus the initial and final point.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from ..config import Spec


class StopSpec(Spec):
    """Stopping rules; the one that fires is recorded as ``stopped_by``.  maxnorm (from the
    problem's loss) and non-finite values are always checked."""

    maxtime: float = Field(default=3600.0, gt=0, description="wall-clock seconds")
    maxsteps: float = Field(default=math.inf, gt=0, description="accepted steps")
    maxT: float = Field(default=math.inf, gt=0, description="time of the gradient flow")
    patience: float = Field(default=1e6, gt=0, description="steps without loss improvement")
    min_loss: float = Field(default=0.0, ge=0)
    min_gradnorm: float = Field(default=1e-12, ge=0, description="gradient infinity-norm")


class PolishSpec(Spec):
    """The polish of the end point: ``newton`` (Levenberg-Marquardt on grad = 0, .polish) to the
    nearest critical point of any index, or ``lm`` (Levenberg-Marquardt on the residuals,
    .least_squares) to the nearest minimum, for singular Hessians of zero-loss manifolds."""

    method: Literal["newton", "lm"] = "newton"
    gtol: float = Field(default=1e-13, ge=0, description="gradient infinity-norm to reach")
    maxsteps: int = Field(default=200, ge=0, description="steps (newton) or evaluations (lm)")
    maxtime: float = Field(default=math.inf, gt=0, description="wall-time limit in seconds")


class SnapshotSpec(Spec):
    """Log-spaced snapshot grid t_k = tmin * 10^(k / per_decade), k < per_decade * decades."""

    per_decade: int = Field(default=4, ge=0, description="grid points per decade of t (0: none)")
    tmin: float = Field(default=1e-3, gt=0)
    decades: int = Field(default=16, ge=0)
    theta: bool = True

    @property
    def grid(self) -> list[float]:
        n = self.per_decade * self.decades
        return [self.tmin * 10 ** (k / self.per_decade) for k in range(n)]

    @property
    def capacity(self) -> int:
        """Most snapshots a trajectory can have: the grid plus initial and final point."""
        return self.per_decade * self.decades + 2


class ChannelSpec(Spec):
    """The channel-to-infinity stop (:mod:`.channel`, which documents the criteria): thresholds of
    channels-to-infinity App. B.3, checked along the flow over a window of flow time.  It runs in
    the flows (not gd, adam, sgd), by default only where the loss has a finite maxnorm.
    ``channel: null`` switches it off (the behaviour before it existed)."""

    per_decade: int = Field(default=4, ge=1, description="checks per decade of flow time")
    window: float = Field(default=1.0, gt=0, description="decades of flow time compared over")
    tmin: float = Field(default=1.0, gt=0, description="flow time of the first check")
    confirm: int = Field(default=2, ge=1, description="consecutive passing checks, same neurons")
    cosine: float = Field(default=1e-3, gt=0, lt=1, description="cosine distance below (B.3)")
    distance: float = Field(default=0.1, gt=0, description="|v_i - v_j| / |v_i + v_j| below")
    convergence: float = Field(default=0.8, gt=0, le=1, description="the cosine distance and "
                               "|v_i - v_j| fell to at most this share over the window")
    growth: float = Field(default=1.2, gt=1, description="|a_i - a_j| grew at least by this")
    update_fraction: float = Field(default=0.9, gt=0, le=1,
                                   description="share of the update in the channel subspace (B.3)")
    require_maxnorm: bool = Field(default=True, description="only where loss.maxnorm is finite")


class DynamicsSpec(Spec):
    method: Literal["flow", "flow_rodas", "flow_explicit", "flow_auto", "order_params", "gd",
                    "adam", "sgd"] = "flow"
    reltol: float = Field(default=1e-3, gt=0)
    abstol: float = Field(default=1e-6, gt=0)
    eta: float = Field(default=1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(default=1e-8, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    stop: StopSpec = StopSpec()
    polish: PolishSpec | None = PolishSpec()
    snapshots: SnapshotSpec = SnapshotSpec()
    channel: ChannelSpec | None = ChannelSpec()

    @model_validator(mode="after")
    def _check(self) -> "DynamicsSpec":
        if (self.method == "sgd") != (self.batch_size is not None):
            raise ValueError("batch_size: give it exactly when method is 'sgd'")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas: both must lie in [0, 1), got {list(self.betas)}")
        return self

    @property
    def discrete(self) -> bool:
        """gd, adam and sgd take steps of size eta; the flows adapt theirs."""
        return self.method in ("gd", "adam", "sgd")
