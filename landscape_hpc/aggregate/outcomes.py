"""Outcome classes per task, and the thresholds of the lowest classes.

Rules, first match wins, for every task of the sweep (cells without a task get -1):

- ``not_converged``: the task is not done (pending, running, failed), or it did not converge
  (below) and did not end in a channel;
- ``channel``: stopped by ``channel`` (the flow's channel-to-infinity stop recognised a channel,
  :mod:`landscape_hpc.dynamics.channel`) or by ``maxnorm`` (the weight norm diverged to the
  maxnorm: a channel the stop did not recognise, or another divergence to infinity);
- ``global_min``: converged with loss below the global threshold: zero loss (below
  ``zero_loss``, 1e-10), or below ``threshold`` when one is given;
- ``lowest_found``: converged at the lowest loss found when that loss is not zero (below the
  lowest threshold); only without a given ``threshold``;
- ``saddle``: converged with a negative Hessian eigenvalue (``n_negative`` > 0);
- ``local_min``: converged, no negative eigenvalue.

*Converged* means done, not stopped by ``maxnorm``, ``channel`` or ``nonfinite``, and stopped by
``min_gradnorm`` or ``min_loss``, or polished to ``gtol`` (after patience, maxsteps, maxT,
maxtime or min_step).  A loss below either threshold decides the class whatever the sign of tiny
eigenvalues.

The classes say what is known.  A loss of 0 is a global minimum of any target: a teacher that
the student can represent, or any target some network fits exactly.  When no converged task
reaches 0 (a target that no network of the sweep fits exactly, such as the quickstart's
Rosenbrock function), the global minimum is unknown: the tasks at the lowest levels found are
``lowest_found``, not ``global_min``.  The lowest threshold comes from the loss levels
(:mod:`.levels`): at the largest gap in log loss between neighbouring levels (largest member of
the lower level to the smallest of the upper), the geometric mean of its ends, so that all levels
below the gap count as lowest; with one level, just above it; with none, 0; ``zero_loss`` if the
lowest level reaches below it.  A given ``threshold`` (``--global-threshold``) is a global
minimum known to the caller: both thresholds are that value and ``lowest_found`` stays empty.
Both are one value per store (not per width).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..config import ConfigError
from ..store.layout import DONE, EMPTY
from .flat import flat
from .levels import ATOL, RTOL, quantise
from .stops import CHANNEL_STOPS, converged

CLASSES = ("global_min", "lowest_found", "local_min", "saddle", "channel", "not_converged")
GLOBAL_MIN, LOWEST_FOUND, LOCAL_MIN, SADDLE, CHANNEL, NOT_CONVERGED = range(len(CLASSES))
ZERO_LOSS = 1e-10
#: attrs of a classified dataset: the loss below which a converged task is global_min, and
#: below which it is lowest_found (or global_min)
THRESHOLDS = ("global_threshold", "lowest_threshold")


def check_classes(classes: list[str] | None) -> list[str]:
    """``classes`` (all when None) if every one is a known class, else a ConfigError."""
    for c in classes or []:
        if c not in CLASSES:
            raise ConfigError(f"no outcome class '{c}'; classes: {', '.join(CLASSES)}")
    return list(classes or CLASSES)


def lowest_threshold(low: np.ndarray, high: np.ndarray, zero_loss: float = ZERO_LOSS) -> float:
    """The loss below which a converged task is at the lowest levels found, from the levels'
    smallest (``low``) and largest (``high``) members, levels in ascending order."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if len(low) == 0:
        return 0.0
    if low[0] < zero_loss:
        return zero_loss
    if len(low) == 1:
        return float(high[0] * (1 + 1e-9))
    k = int(np.argmax(np.log(low[1:]) - np.log(high[:-1])))
    return float(np.sqrt(high[k] * low[k + 1]))


def outcome_codes(cols: dict[str, np.ndarray], glob: float, lowest: float) -> np.ndarray:
    """Codes into :data:`CLASSES` of flat tasks (``status``, ``loss``, ``stopped_by``,
    ``polish_stopped_by``, ``n_negative``) by the rules above, with the global and lowest
    thresholds ``glob`` and ``lowest``."""
    code = np.select(
        [np.isin(cols["stopped_by"], CHANNEL_STOPS), ~converged(cols), cols["loss"] < glob,
         cols["loss"] < lowest, cols["n_negative"] > 0],
        [CHANNEL, NOT_CONVERGED, GLOBAL_MIN, LOWEST_FOUND, SADDLE], LOCAL_MIN)
    code[cols["status"] != DONE] = NOT_CONVERGED
    return code


def classify(ds: xr.Dataset, threshold: float | None = None, rtol: float = RTOL,
             atol: float = ATOL, zero_loss: float = ZERO_LOSS) -> xr.Dataset:
    """``ds`` with ``outcome`` (codes into :data:`CLASSES`, -1 where no task) and the loss
    levels (:func:`.levels.quantise`, unless ``ds`` has them); attrs ``global_threshold`` and
    ``lowest_threshold``."""
    if "level_index" not in ds:
        ds = quantise(ds, rtol, atol)
    glob = zero_loss if threshold is None else threshold
    lowest = threshold if threshold is not None else lowest_threshold(
        ds["level_low"].values, ds["level_high"].values, zero_loss)
    code = outcome_codes(flat(ds, ["loss", "stopped_by", "polish_stopped_by", "n_negative"]),
                         glob, lowest)
    ref = ds["status"]
    out = np.full(ref.shape, -1, dtype=np.int8)
    out[ref.values != EMPTY] = code
    attrs = {"description": "outcome class of the task, -1: no task",
             "flag_values": list(range(len(CLASSES))), "flag_meanings": " ".join(CLASSES)}
    return ds.assign(outcome=(ref.dims, out, attrs)).assign_attrs(
        global_threshold=float(glob), lowest_threshold=float(lowest))
