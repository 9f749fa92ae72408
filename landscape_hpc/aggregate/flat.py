"""Flat per-task arrays from a results dataset of either layout (``task`` or axis dims).

The aggregates are group-bys over all tasks, done with numpy on flat arrays: each variable is
broadcast to the dims of ``status`` and raveled, and cells without a task (status 0) are dropped.
"""

from __future__ import annotations

import numpy as np
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


def group_codes(columns: dict[str, np.ndarray], n: int
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One integer code per task for the combination of its values in ``columns`` (raveled over
    the product of the unique values of each column), and those unique values; ``n`` tasks."""
    codes, values = [], {}
    for name, col in columns.items():
        uniq, inverse = np.unique(col, return_inverse=True)
        values[name] = uniq
        codes.append(inverse.ravel())
    shape = tuple(len(v) for v in values.values())
    code = np.ravel_multi_index(codes, shape) if codes else np.zeros(n, dtype=np.int64)
    return code, values
