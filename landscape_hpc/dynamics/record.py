"""Per-trajectory result records and the resumable state of a batch of trajectories.

Both convert to a flat ``dict`` of numpy arrays, strings and numbers (``to_dict``) and back
(``from_dict``), the form the store writes along its ``task`` dimension.  Snapshot arrays have a
fixed capacity ``S`` (:attr:`SnapshotSpec.capacity`), padded with NaN; ``snap_count`` says how
many are filled.

Decisions:

* :class:`TrajectoryRecord` is the one definition of the record fields: each field carries its
  store column (dtype, dims after ``task``, description, units) in its ``metadata``
  (:func:`column`), and the store layout derives its record arrays from ``fields()`` (in field
  order; :mod:`landscape_hpc.store.layout`).  Fields are declared in the store's array order.
* Stop reasons are :class:`Stop` and :class:`Polish` (string enums, equal to the strings the store
  holds); the codes of a batch's state are their indices (:data:`STOP_REASONS`,
  :data:`POLISH_REASONS`).  Other stages compare with the members, never with literals.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the store imports the record schema: no torch for it (import time)
    from torch import Tensor


class Stop(StrEnum):
    """Why the dynamics stopped (:mod:`.stopping`, :mod:`.channel`); the order gives the codes."""

    RUNNING = ""
    NONFINITE = "nonfinite"
    MAXNORM = "maxnorm"
    MIN_GRADNORM = "min_gradnorm"
    MIN_LOSS = "min_loss"
    PATIENCE = "patience"
    MAXSTEPS = "maxsteps"
    MAX_T = "maxT"
    MAXTIME = "maxtime"
    MIN_STEP = "min_step"
    CHANNEL = "channel"


class Polish(StrEnum):
    """Why the polish stopped (:mod:`.polish`, :mod:`.least_squares`); the order gives the codes."""

    RUNNING = ""
    GTOL = "gtol"
    MAXSTEPS = "maxsteps"
    STALLED = "stalled"
    NONFINITE = "nonfinite"
    SKIPPED = "skipped"
    OFF = "off"
    MAXTIME = "maxtime"


#: why the dynamics stopped, by code (0: still running)
STOP_REASONS = tuple(s.value for s in Stop)
#: why the polish stopped
POLISH_REASONS = tuple(s.value for s in Polish)


def code(reason: str) -> int:
    return STOP_REASONS.index(reason)


def column(dtype: str, description: str, dims: tuple[str, ...] = (), units: str = "",
           **default: Any) -> Any:
    """A record field with its store column: dtype ``f8``, ``i8``, ``i4`` or ``str``, meaning,
    dims after ``task`` (``param``, ``snapshot``) and units; ``default=`` as for ``field``."""
    return field(metadata={"dtype": dtype, "dims": dims, "description": description,
                           "units": units}, **default)


@dataclass
class TrajectoryRecord:
    """One trajectory's result.  ``loss`` is L without the barrier; gradient norms are
    infinity-norms; ``eigenvalues`` are of the Hessian of L + R at the final theta, ascending."""

    loss: float = column("f8", "final loss L(theta), without the barrier")
    gradnorm: float = column("f8", "gradient infinity-norm of L + R at the end")
    gradnorm_nobarrier: float = column("f8", "gradient infinity-norm of L at the end")
    weightnorm: float = column("f8", "sum(theta^2) / (2P) at the end")
    stopped_by: str = column("str", "stopping rule that ended the dynamics")
    polish_stopped_by: str = column("str", "why the Newton polish stopped")
    loss_dynamics: float = column("f8", "L + R where the dynamics stopped")
    gradnorm_dynamics: float = column("f8", "gradient infinity-norm where the dynamics stopped")
    t: float = column("f8", "gradient-flow time reached (eta * steps for discrete methods)")
    steps: int = column("i8", "accepted steps")
    rejected: int = column("i8", "rejected steps")
    evals: int = column("i8", "gradient evaluations of the dynamics")
    polish_steps: int = column("i8", "Newton polish steps")
    polish_evals: int = column("i8", "evaluations of the polish")
    wall_time: float = column("f8", "wall-clock time of the trajectory", units="s")
    n_negative: int = column("i4", "negative Hessian eigenvalues at the end")
    theta: np.ndarray = column("f8", "final parameters", ("param",))
    theta0: np.ndarray = column("f8", "initial parameters", ("param",))
    eigenvalues: np.ndarray = column("f8", "Hessian eigenvalues of L + R at the end, ascending",
                                     ("param",))
    snap_count: int = column("i4", "number of snapshots filled")
    snap_t: np.ndarray = column("f8", "flow time of each snapshot", ("snapshot",))
    snap_step: np.ndarray = column("i8", "step of each snapshot", ("snapshot",))
    snap_loss: np.ndarray = column("f8", "L + R at each snapshot", ("snapshot",))
    snap_gradnorm: np.ndarray = column("f8", "gradient infinity-norm at each snapshot",
                                       ("snapshot",))
    snap_theta: np.ndarray | None = column("f8", "theta at each snapshot",  # if SnapshotSpec.theta
                                           ("snapshot", "param"))
    # the channel stop (:mod:`.channel`): NaN, -1, "" unless stopped_by == "channel", except
    # channel_checks (the checks it ran; 0 where it did not run); the criteria compare the
    # detection point with the window's start
    channel_neurons: str = column("str", "neurons of the detected channel, 'i,j[,k...]' (0-based, "
                                  "in layer channel_layer)", default="")
    channel_layer: int = column("i4", "hidden layer of the detected channel, 1-based", default=-1)
    channel_t: float = column("f8", "flow time of the channel detection", default=math.nan)
    channel_t_window: float = column("f8", "flow time of the detection window's start",
                                     default=math.nan)
    channel_cosine: float = column("f8", "cosine distance of the channel pair's input vectors at "
                                   "the detection", default=math.nan)
    channel_cosine_ratio: float = column("f8", "the pair's cosine distance at the detection / at "
                                         "the window's start", default=math.nan)
    channel_distance_ratio: float = column("f8", "|v_i - v_j| of the pair's input vectors at the "
                                           "detection / at the window's start", default=math.nan)
    channel_growth: float = column("f8", "|a_i - a_j| of the pair at the detection / at the "
                                   "window's start", default=math.nan)
    channel_update_fraction: float = column("f8", "share of the window's update in the channel "
                                            "subspace", default=math.nan)
    channel_weightnorm_ratio: float = column("f8", "weightnorm at the detection / at the window's "
                                             "start", default=math.nan)
    channel_glu_loss: float = column("f8", "loss with the pair replaced by its gated linear unit "
                                     "limit (channels-to-infinity eq. 4)", default=math.nan)
    channel_limit_loss: float = column("f8", "loss of that gated-linear-unit network polished to "
                                       "its nearest critical point (the end of the channel; NaN "
                                       "if not reached)", default=math.nan)
    channel_checks: int = column("i8", "channel checks run along the flow (0: stop off)",
                                 default=0)

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
        import torch

        return cls(**{f.name: torch.from_numpy(np.array(d[f.name])) if f.name in d else None
                      for f in fields(cls)})
