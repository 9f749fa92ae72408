"""What a trajectory does: the dynamics, its tolerances, stopping rules, polish and snapshots.

In YAML (the ``dynamics`` of a sweep task)::

    method: flow            # flow (stiff, exact Hessian) | flow_explicit | gd | adam | sgd
    reltol: 1.0e-3          # flow tolerances (channels-to-infinity Table 1)
    abstol: 1.0e-6
    eta: 1.0e-3             # step size of gd, adam, sgd
    batch_size: 32          # sgd only
    stop: {maxtime: 3600, maxsteps: 1.0e9, patience: 1.0e6, min_loss: 0, min_gradnorm: 1.0e-12}
    polish: {method: newton, gtol: 1.0e-13, maxsteps: 200}      # or polish: null
    snapshots: {count: 100, theta: true}
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StopSpec(_Spec):
    """Stopping rules; the one that fires is recorded as ``stopped_by``.  maxnorm and non-finite
    values are always checked (maxnorm comes from the problem's loss)."""

    maxtime: float = Field(default=3600.0, gt=0, description="wall-clock seconds")
    maxsteps: float = Field(default=math.inf, gt=0)
    maxT: float = Field(default=math.inf, gt=0, description="time of the gradient flow")
    patience: float = Field(default=1e6, gt=0, description="steps without loss improvement")
    min_loss: float = Field(default=0.0, ge=0)
    min_gradnorm: float = Field(default=1e-12, ge=0, description="gradient infinity-norm")


class PolishSpec(_Spec):
    """Newton polish to the nearest critical point of any index."""

    method: Literal["newton"] = "newton"
    gtol: float = Field(default=1e-13, ge=0)
    maxsteps: int = Field(default=200, ge=0)


class SnapshotSpec(_Spec):
    count: int = Field(default=100, ge=0, description="log-spaced snapshots per trajectory")
    theta: bool = True


class DynamicsSpec(_Spec):
    method: Literal["flow", "flow_explicit", "gd", "adam", "sgd"] = "flow"
    reltol: float = Field(default=1e-3, gt=0)
    abstol: float = Field(default=1e-6, gt=0)
    eta: float = Field(default=1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int | None = Field(default=None, ge=1)
    stop: StopSpec = StopSpec()
    polish: PolishSpec | None = PolishSpec()
    snapshots: SnapshotSpec = SnapshotSpec()

    @model_validator(mode="after")
    def _batch_size_for_sgd(self) -> "DynamicsSpec":
        if (self.method == "sgd") != (self.batch_size is not None):
            raise ValueError("batch_size: give it exactly when method is 'sgd'")
        return self
