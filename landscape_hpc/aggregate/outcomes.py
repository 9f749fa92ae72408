"""Outcome classes per task, and the global-minimum threshold.

Rules, first match wins, for every task of the sweep (cells without a task get -1):

- ``not_converged``: the task is not done (pending, running, failed), or it did not converge
  (below) and did not end in a channel;
- ``channel``: stopped by ``channel`` (the flow's channel-to-infinity stop recognised a channel,
  :mod:`landscape_hpc.dynamics.channel`) or by ``maxnorm`` (the weight norm diverged to the
  maxnorm: a channel the stop did not recognise, or another divergence to infinity);
- ``global_min``: converged with loss below the global threshold;
- ``saddle``: converged with a negative Hessian eigenvalue (``n_negative`` > 0);
- ``local_min``: converged, no negative eigenvalue.

*Converged* means done, not stopped by ``maxnorm``, ``channel`` or ``nonfinite``, and stopped by
``min_gradnorm`` or ``min_loss``, or polished to ``gtol`` (after patience, maxsteps, maxT,
maxtime or min_step).  A loss below the global threshold is
a global minimum whatever the sign of tiny eigenvalues.  The threshold is ``global_threshold``
when given; else, from the loss levels (:mod:`.levels`): ``zero_loss`` (1e-10) if the lowest
level reaches below it (teacher-student problems, whose global minimum is 0); else, at the
largest gap in log loss between neighbouring levels (largest member of the lower level to the
smallest of the upper), the geometric mean of its ends, so that all levels below the gap are
global; with one level, just above it; with none, 0.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..config import ConfigError
from ..store.layout import DONE, EMPTY
from .flat import flat
from .levels import ATOL, RTOL, quantise
from .stops import CHANNEL_STOPS, converged

CLASSES = ("global_min", "local_min", "saddle", "channel", "not_converged")
GLOBAL_MIN, LOCAL_MIN, SADDLE, CHANNEL, NOT_CONVERGED = range(len(CLASSES))
ZERO_LOSS = 1e-10


def check_classes(classes: list[str] | None) -> list[str]:
    """``classes`` (all when None) if every one is a known class, else a ConfigError."""
    for c in classes or []:
        if c not in CLASSES:
            raise ConfigError(f"no outcome class '{c}'; classes: {', '.join(CLASSES)}")
    return list(classes or CLASSES)


def global_threshold(low: np.ndarray, high: np.ndarray, zero_loss: float = ZERO_LOSS) -> float:
    """The loss below which a converged task is a global minimum, from the levels' smallest
    (``low``) and largest (``high``) members, levels in ascending order."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if len(low) == 0:
        return 0.0
    if low[0] < zero_loss:
        return zero_loss
    if len(low) == 1:
        return float(high[0] * (1 + 1e-9))
    k = int(np.argmax(np.log(low[1:]) - np.log(high[:-1])))
    return float(np.sqrt(high[k] * low[k + 1]))


def classify(ds: xr.Dataset, threshold: float | None = None, rtol: float = RTOL,
             atol: float = ATOL, zero_loss: float = ZERO_LOSS) -> xr.Dataset:
    """``ds`` with ``outcome`` (codes into :data:`CLASSES`, -1 where no task) and the loss
    levels (:func:`.levels.quantise`, unless ``ds`` has them); attrs ``global_threshold``."""
    if "level_index" not in ds:
        ds = quantise(ds, rtol, atol)
    if threshold is None:
        threshold = global_threshold(ds["level_low"].values, ds["level_high"].values, zero_loss)
    cols = flat(ds, ["loss", "stopped_by", "polish_stopped_by", "n_negative"])
    ok = converged(cols)
    code = np.select(
        [np.isin(cols["stopped_by"], CHANNEL_STOPS), ~ok, cols["loss"] < threshold,
         cols["n_negative"] > 0],
        [CHANNEL, NOT_CONVERGED, GLOBAL_MIN, SADDLE], LOCAL_MIN)
    code[cols["status"] != DONE] = NOT_CONVERGED
    ref = ds["status"]
    out = np.full(ref.shape, -1, dtype=np.int8)
    out[ref.values != EMPTY] = code
    attrs = {"description": "outcome class of the task, -1: no task",
             "flag_values": list(range(len(CLASSES))), "flag_meanings": " ".join(CLASSES)}
    return ds.assign(outcome=(ref.dims, out, attrs)).assign_attrs(
        global_threshold=float(threshold))
