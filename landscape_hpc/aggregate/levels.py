"""Quantised losses: final losses clustered into discrete levels with a relative tolerance.

Sort the losses; a new level starts wherever the gap to the previous loss exceeds
``rtol * max(|a|, |b|) + atol``.  ``rtol`` (default 1e-3, as the papers' code) separates levels
relative to their size; ``atol`` (default 1e-12) only matters near 0, where it merges the
global-minimum losses of teacher-student problems (1e-30 ... 1e-14 are all "zero").  A level's
value is the median of its members (the mean of the middle two for an even count).  Levels are
found from all tasks at once, so the same loss reached at different widths is the same level, and
the result depends only on the set of losses, not on their order.  Like any gap rule this chains:
a run of losses each within tolerance of the next is one level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..config import ConfigError
from ..store.layout import DONE, EMPTY
from .flat import flat
from .stops import CHANNEL_STOPS, converged

RTOL = 1e-3
ATOL = 1e-12


@dataclass(frozen=True)
class Levels:
    """``index[i]``: level of loss i (-1 if not finite); per level: median ``value``, ``count``,
    smallest ``low`` and largest ``high`` member."""

    index: np.ndarray
    value: np.ndarray
    count: np.ndarray
    low: np.ndarray
    high: np.ndarray


def cluster(losses: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> Levels:
    """The loss levels of ``losses`` (NaN and infinite losses get index -1)."""
    x = np.asarray(losses, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(x))
    order = finite[np.argsort(x[finite], kind="stable")]
    xs = x[order]
    gap = np.diff(xs) > rtol * np.maximum(np.abs(xs[1:]), np.abs(xs[:-1])) + atol
    starts = np.concatenate([[0], np.flatnonzero(gap) + 1]) if len(xs) else np.zeros(0, int)
    count = np.diff(np.append(starts, len(xs)))
    index = np.full(x.shape, -1, dtype=np.int64)
    index[order] = np.cumsum(np.concatenate([[0], gap]))[: len(xs)] if len(xs) else []
    value = (xs[starts + (count - 1) // 2] + xs[starts + count // 2]) / 2
    return Levels(index, value, count, xs[starts], xs[starts + count - 1])


TASKS = ("converged", "done", "channel")


def quantise(ds: xr.Dataset, rtol: float = RTOL, atol: float = ATOL,
             tasks: str = "converged") -> xr.Dataset:
    """``ds`` with the loss levels: variable ``level_index`` (-1 for tasks not in a level) and a
    dim ``level`` whose coordinates are the level values (``level``), ``level_count``,
    ``level_low`` and ``level_high``.  Which tasks enter the levels: ``converged`` ones (see
    :func:`.stops.converged`), every ``done`` one with a finite loss, or those that ended in a
    ``channel`` (stopped by the channel stop or by maxnorm; their loss is the loss where the
    channel was recognised or where they reached the maxnorm)."""
    if tasks not in TASKS:
        raise ConfigError(f"tasks: expected one of {', '.join(TASKS)}, got '{tasks}'")
    ref = ds["status"]
    cols = flat(ds, ["loss", "stopped_by", "polish_stopped_by"])
    done = cols["status"] == DONE
    use = {"converged": converged(cols), "done": done,
           "channel": done & np.isin(cols["stopped_by"], CHANNEL_STOPS)}[tasks]
    lv = cluster(np.where(use, cols["loss"], np.nan), rtol, atol)
    index = np.full(ref.shape, -1, dtype=np.int64)
    index[ref.values != EMPTY] = lv.index
    rule = f"final losses of {tasks} tasks clustered with rtol={rtol:g}, atol={atol:g}"
    return ds.assign(level_index=(ref.dims, index, {
        "description": f"index of the loss level (dim level), -1: not in a level; {rule}"}),
    ).assign_coords(
        level=("level", lv.value, {"description": "loss level: median of its members"}),
        level_count=("level", lv.count, {"description": "tasks on the level, all groups"}),
        level_low=("level", lv.low, {"description": "smallest loss on the level"}),
        level_high=("level", lv.high, {"description": "largest loss on the level"}),
    ).assign_attrs(level_rtol=rtol, level_atol=atol, level_tasks=tasks)


def level_table(ds: xr.Dataset) -> xr.Dataset:
    """The levels of a quantised ``ds`` alone: dim ``level`` with its coordinates and attrs."""
    names = ("level", "level_count", "level_low", "level_high")
    attrs = {k: v for k, v in ds.attrs.items() if k.startswith("level_") or k in ("sweep", "store")}
    return xr.Dataset(coords={n: ds[n] for n in names}, attrs=attrs)
