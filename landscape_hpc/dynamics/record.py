"""Per-trajectory result records and the resumable state of a batch of trajectories.

Both convert to a flat ``dict`` of numpy arrays, strings and numbers (``to_dict``) and back
(``from_dict``), the form the store writes along its ``task`` dimension.  Snapshot arrays have a
fixed capacity ``S`` (:attr:`SnapshotSpec.capacity`), padded with NaN; ``snap_count`` says how
many are filled.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields

import numpy as np
import torch

Tensor = torch.Tensor

#: why the dynamics stopped, by code (0: still running)
STOP_REASONS = ("", "nonfinite", "maxnorm", "min_gradnorm", "min_loss", "patience", "maxsteps",
                "maxT", "maxtime", "min_step", "channel")
#: why the polish stopped
POLISH_REASONS = ("", "gtol", "maxsteps", "stalled", "nonfinite", "skipped", "off", "maxtime")


def code(reason: str) -> int:
    return STOP_REASONS.index(reason)


@dataclass
class TrajectoryRecord:
    """One trajectory's result.  ``loss`` is L without the barrier; gradient norms are
    infinity-norms; ``eigenvalues`` are of the Hessian of L + R at the final theta, ascending."""

    theta: np.ndarray
    theta0: np.ndarray
    loss: float
    gradnorm: float              # with barrier
    gradnorm_nobarrier: float
    weightnorm: float
    stopped_by: str
    polish_stopped_by: str
    loss_dynamics: float         # where the dynamics stopped, before the polish
    gradnorm_dynamics: float
    t: float                     # flow time (eta * steps for gd, adam, sgd)
    steps: int
    rejected: int
    evals: int
    polish_steps: int
    polish_evals: int
    wall_time: float
    eigenvalues: np.ndarray
    n_negative: int
    snap_count: int
    snap_t: np.ndarray           # (S,)
    snap_step: np.ndarray        # (S,)
    snap_loss: np.ndarray        # (S,) L + R
    snap_gradnorm: np.ndarray    # (S,)
    snap_theta: np.ndarray | None  # (S, P), if SnapshotSpec.theta
    # the channel stop (:mod:`.channel`): NaN, -1, "" unless stopped_by == "channel", except
    # channel_checks (the checks it ran; 0 where it did not run)
    channel_neurons: str = ""          # the channel's neurons in channel_layer, "i,j[,k...]"
    channel_layer: int = -1            # its hidden layer, 1-based
    channel_t: float = math.nan        # flow time of the detection (= t)
    channel_t_window: float = math.nan  # flow time of the window's start (compared with)
    channel_cosine: float = math.nan   # cosine distance of the pair's input vectors
    channel_cosine_ratio: float = math.nan  # ... at detection / at the window's start
    channel_distance_ratio: float = math.nan  # |v_i - v_j| at detection / at the window's start
    channel_growth: float = math.nan   # |a_i - a_j| at detection / at the window's start
    channel_update_fraction: float = math.nan  # share of the window's update in the subspace
    channel_weightnorm_ratio: float = math.nan  # weightnorm at detection / at the window's start
    channel_glu_loss: float = math.nan  # L with the pair replaced by its GLU limit (eq. 4)
    channel_limit_loss: float = math.nan  # ... that GLU network polished: the channel's end
    channel_checks: int = 0

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "TrajectoryRecord":
        """From :meth:`to_dict`; fields with a default may be missing (older records)."""
        return cls(**{f.name: d[f.name] for f in fields(cls)
                      if f.name in d or f.default is MISSING})

    @property
    def snapshots(self) -> dict[str, np.ndarray]:
        """The filled snapshots only."""
        n = self.snap_count
        out = {"t": self.snap_t[:n], "step": self.snap_step[:n], "loss": self.snap_loss[:n],
               "gradnorm": self.snap_gradnorm[:n]}
        if self.snap_theta is not None:
            out["theta"] = self.snap_theta[:n]
        return out


@dataclass
class TrajectoryState:
    """Everything needed to continue a batch of B trajectories bit-identically.

    ``value``/``grad``/``hess`` cache L + R and its derivatives at ``theta`` (the next step reuses
    them); ``hess`` is None except for the stiff flows (for flow_auto it is current only in
    the rows in stiff mode), ``m``/``v`` are Adam's moments, ``seed``
    seeds the SGD minibatches.  ``code`` is the stop code (:data:`STOP_REASONS`).
    """

    theta0: Tensor
    theta: Tensor
    value: Tensor
    grad: Tensor
    hess: Tensor | None
    t: Tensor
    h: Tensor
    steps: Tensor
    rejected: Tensor
    evals: Tensor
    best: Tensor
    since_best: Tensor
    code: Tensor
    wall: Tensor
    m: Tensor | None
    v: Tensor | None
    seed: Tensor
    next_snap: Tensor
    snap_count: Tensor
    snap_t: Tensor
    snap_step: Tensor
    snap_loss: Tensor
    snap_gradnorm: Tensor
    snap_theta: Tensor | None
    # flow_auto (:mod:`.switching`): stiff mode, its counters and the power-iteration vector
    stiff: Tensor | None = None
    stiff_count: Tensor | None = None
    calm: Tensor | None = None
    switches: Tensor | None = None
    power: Tensor | None = None
    g_ref: Tensor | None = None
    # the channel stop (:mod:`.channel`): next check's flow time, checks done, the last K checks'
    # flow times and thetas (a ring, slot = check % K), consecutive passing checks, the last
    # passing check's layer and neurons (-1 padded) and its criteria values
    channel_next: Tensor | None = None
    channel_checks: Tensor | None = None
    channel_t: Tensor | None = None
    channel_theta: Tensor | None = None
    channel_streak: Tensor | None = None
    channel_neurons: Tensor | None = None
    channel_values: Tensor | None = None

    @property
    def batch(self) -> int:
        return self.theta.shape[0]

    @property
    def running(self) -> Tensor:
        return self.code == 0

    @property
    def finished(self) -> bool:
        return not bool(self.running.any())

    def take(self, idx: Tensor) -> "TrajectoryState":
        """The rows ``idx``, copied: the engine's working set of running trajectories."""
        return TrajectoryState(**{f.name: None if getattr(self, f.name) is None
                                  else getattr(self, f.name)[idx] for f in fields(self)})

    def put(self, idx: Tensor, part: "TrajectoryState") -> None:
        """Write the rows of ``part`` (from :meth:`take`) back to rows ``idx``."""
        for f in fields(self):
            if getattr(self, f.name) is not None:
                getattr(self, f.name)[idx] = getattr(part, f.name)

    def to_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name).numpy().copy()
                for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, d: dict) -> "TrajectoryState":
        return cls(**{f.name: torch.from_numpy(np.array(d[f.name])) if f.name in d else None
                      for f in fields(cls)})
