"""Flat per-task arrays from a results dataset of either layout (``task`` or axis dims), and
the groups of axis values that the aggregates count over.

The aggregates are group-bys over all tasks, done with numpy on flat arrays: each variable is
broadcast to the dims of ``status`` and raveled, and cells without a task (status 0) are dropped.

A group is a combination of values of the ``by`` axes that some task has: a sweep with an
include or expressions (``width: {expr: teacher_width}``) has far fewer combinations than the
product of its axes' values, so the aggregates are joint tables of the groups that exist.  With
one axis the group dim is that axis; with several it is ``group``, indexed by a pandas
MultiIndex of the axes (``result.sel(width=3)`` selects by an axis; :func:`grid` gives the full
product, as the plots need, with count 0 and NaN elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..config import ConfigError
from ..store.layout import EMPTY
from .dataset import axis_names


def check_by(ds: xr.Dataset, by: list[str]) -> list[str]:
    """``by`` if every name is an axis of ``ds`` (or ``seed``), else a ConfigError naming them."""
    known = [*axis_names(ds), "seed"]
    for name in by:
        if name not in known:
            raise ConfigError(f"no axis '{name}'; axes of this store: {', '.join(known)}")
    if len(set(by)) != len(by):
        raise ConfigError(f"an axis is given twice in {', '.join(by)}")
    return by


def subset(ds: xr.Dataset, names: list[str]) -> xr.Dataset:
    """Those of ``names`` that ``ds`` has, with ``status``, the indexes and the level
    coordinates, loaded into memory (one pass over the store instead of one per use)."""
    keep = {*names, "status", *ds.indexes} | {c for c in ds.coords if ds[c].dims == ("level",)}
    return ds.drop_vars([v for v in ds.variables if v not in keep]).compute()


def flat(ds: xr.Dataset, names: list[str]) -> dict[str, np.ndarray]:
    """The variables ``names`` (and ``status``) as 1-D arrays over the cells that hold a task,
    computed together; strings as object arrays."""
    ref = ds["status"]
    names = list(dict.fromkeys([*names, "status"]))
    sub = xr.Dataset({n: ds[n].variable for n in names}).compute()
    out = {n: sub[n].broadcast_like(ref).transpose(*ref.dims).values.ravel() for n in names}
    keep = out["status"] != EMPTY
    return {n: (v[keep].astype(object) if v.dtype.kind == "T" else v[keep])
            for n, v in out.items()}


GROUP = "group"


@dataclass(frozen=True)
class Groups:
    """``index[i]``: group of task i, in 0 .. ``size`` - 1; ``dims`` and ``coords`` of the
    groups in an aggregate (no dim without axes)."""

    index: np.ndarray
    size: int
    dims: list[str]
    coords: xr.Coordinates


def groups(columns: dict[str, np.ndarray], n: int) -> Groups:
    """The groups of ``n`` tasks: the combinations of their values in ``columns`` that occur,
    in the order of the sorted values."""
    if not columns:
        return Groups(np.zeros(n, dtype=np.int64), 1, [], xr.Coordinates())
    uniq, codes = zip(*(np.unique(c, return_inverse=True) for c in columns.values()))
    shape = tuple(len(u) for u in uniq)
    code = np.ravel_multi_index([c.ravel() for c in codes], shape)
    present, index = np.unique(code, return_inverse=True)
    names = list(columns)
    if len(names) == 1:
        return Groups(index, len(present), names, xr.Coordinates({names[0]: uniq[0]}))
    multi = pd.MultiIndex(levels=list(uniq), codes=list(np.unravel_index(present, shape)),
                          names=names)
    return Groups(index, len(present), [GROUP],
                  xr.Coordinates.from_pandas_multiindex(multi, GROUP))


def group_axes(result: xr.Dataset) -> list[str]:
    """The axes that an aggregate (``n_tasks`` per group) is grouped by."""
    if GROUP in result.dims:
        return list(result.indexes[GROUP].names)
    return list(result["n_tasks"].dims)


def grid(result: xr.Dataset) -> xr.Dataset:
    """An aggregate on the full product of its axes' values: counts 0, the rest NaN where no
    task has the combination."""
    if GROUP not in result.dims:
        return result
    zero = {n: 0 for n in ("count", "n_tasks", "n_quantised") if n in result}
    return result.unstack(GROUP, fill_value=zero).transpose(*group_axes(result), ...)
