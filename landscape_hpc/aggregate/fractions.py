"""Aggregates per group of axis values: loss-level histograms and convergence fractions.

Groups are the combinations of ``by`` values that have tasks (:mod:`.flat`): one dim per axis
for one axis, else a dim ``group`` with a MultiIndex of the axes, a joint table.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .flat import Groups, check_by, flat, groups, subset
from .levels import ATOL, RTOL, quantise
from .outcomes import CLASSES, THRESHOLDS, ZERO_LOSS, check_classes, classify

Z95 = 1.959963984540054
RECORD = ["loss", "stopped_by", "polish_stopped_by", "n_negative"]  # what the classes need


def wilson_interval(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k / n (NaN where n = 0); exactly 0 at
    k = 0 and 1 at k = n, where the formula leaves rounding errors."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    some = n > 0
    return (np.where(some & (k == 0), 0.0, centre - half),
            np.where(some & (k == n), 1.0, centre + half))


def _counts(ds: xr.Dataset, by: list[str], var: str, n_bins: int
            ) -> tuple[np.ndarray, np.ndarray, Groups]:
    """Counts per (group, bin) of the codes in ``var`` (negative codes not counted), tasks per
    group, and the groups."""
    cols = flat(ds, [*by, var])
    g = groups({b: cols[b] for b in by}, len(cols["status"]))
    binned = cols[var].astype(np.int64)
    use = binned >= 0
    counts = np.bincount(g.index[use] * n_bins + binned[use], minlength=g.size * n_bins)
    shape = (g.size,) if g.dims else ()
    n_tasks = np.bincount(g.index, minlength=g.size).reshape(shape)
    return counts.reshape(*shape, n_bins), n_tasks, g


def loss_histogram(ds: xr.Dataset, by: list[str] = (), rtol: float = RTOL, atol: float = ATOL,
                   tasks: str = "converged") -> xr.Dataset:
    """Tasks per (group of ``by`` values, loss level): ``count`` (dims: the group's, then
    ``level``), ``n_quantised`` and ``n_tasks`` per group; the levels' values and totals as coordinates.
    The levels are those of ``ds`` if it has them, else :func:`.levels.quantise` of ``tasks``."""
    by = check_by(ds, list(by))
    attrs = ds.attrs
    ds = subset(ds, [*by, *RECORD, "level_index"])
    if "level_index" not in ds:
        ds = quantise(ds, rtol, atol, tasks)
    counts, n_tasks, g = _counts(ds, by, "level_index", ds.sizes["level"])
    coords = {n: ds[n] for n in ("level", "level_count", "level_low", "level_high")}
    out = xr.Dataset({
        "count": ([*g.dims, "level"], counts, {"description": "tasks ending on the level"}),
        "n_quantised": (g.dims, counts.sum(-1), {"description": "tasks in a level"}),
        "n_tasks": (g.dims, n_tasks, {"description": "tasks in the group (any status)"}),
    }, coords=coords, attrs={k: v for k, v in ds.attrs.items() if k.startswith("level_")})
    return _axis_attrs(out.assign_coords(g.coords), attrs, ds, by)


def convergence_fractions(ds: xr.Dataset, by: list[str] = (), classes: list[str] | None = None,
                          threshold: float | None = None, rtol: float = RTOL,
                          atol: float = ATOL, zero_loss: float = ZERO_LOSS,
                          z: float = Z95) -> xr.Dataset:
    """Per group of ``by`` values and outcome class (:mod:`.outcomes`): ``count``, ``n_tasks``
    (every task of the group: pending, running and failed ones count as not converged),
    ``fraction`` and its Wilson interval ``lower``, ``upper`` (95% for the default ``z``);
    attrs: the thresholds of the classes (:data:`.outcomes.THRESHOLDS`) and ``z``."""
    by = check_by(ds, list(by))
    chosen = check_classes(classes)
    attrs = ds.attrs
    ds = subset(ds, [*by, *RECORD, "level_index", "outcome"])
    if "outcome" not in ds:
        ds = classify(ds, threshold, rtol, atol, zero_loss)
    counts, n_tasks, g = _counts(ds, by, "outcome", len(CLASSES))
    counts = counts[..., [CLASSES.index(c) for c in chosen]]
    n = np.broadcast_to(n_tasks[..., None], counts.shape)
    lower, upper = wilson_interval(counts, n, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = counts / n
    dims = [*g.dims, "outcome"]
    out = xr.Dataset({
        "count": (dims, counts, {"description": "tasks with this outcome"}),
        "n_tasks": (g.dims, n_tasks, {"description": "tasks in the group (any status)"}),
        "fraction": (dims, fraction, {"description": "count / n_tasks"}),
        "lower": (dims, lower, {"description": f"Wilson score interval, lower end (z={z:g})"}),
        "upper": (dims, upper, {"description": f"Wilson score interval, upper end (z={z:g})"}),
    }, coords={"outcome": ("outcome", chosen, {"description": "outcome class"})},
        attrs={**{k: ds.attrs[k] for k in THRESHOLDS}, "z": z})
    return _axis_attrs(out.assign_coords(g.coords), attrs, ds, by)


def _axis_attrs(out: xr.Dataset, attrs: dict, ds: xr.Dataset, by: list[str]) -> xr.Dataset:
    """``out`` with the attrs of the ``by`` coordinates and the source's sweep and store."""
    for b in by:
        out[b].attrs.update(ds[b].attrs)
    return out.assign_attrs({k: attrs[k] for k in ("sweep", "store") if k in attrs})
