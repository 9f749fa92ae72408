"""The results of a store as an ``xarray.Dataset`` whose dims are the sweep's axes.

:func:`landscape_hpc.store.open_results` is the raw view: one entry per slot along ``task``.
:func:`results_by_axes` reshapes it so that every sweep axis and ``seed`` is a dimension
(``width``, ``activation``, ..., ``seed``), plus ``param`` and ``snapshot``.  Empty slots
(status 0) are dropped; pending, running and failed tasks are kept with their ``status``.  Cells
of a non-rectangular sweep that hold no task are NaN (``status`` 0, ``task_id`` "").  The data
stay lazy (dask) until computed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..config import ConfigError
from ..store.layout import EMPTY, STATUS

#: attrs of the dims and of variables the store does not describe
DIM_ATTRS = {
    "seed": {"description": "seed of the initial point"},
    "param": {"description": "index into theta (NaN-padded to the largest n_params)"},
    "snapshot": {"description": "index of a snapshot along the trajectory"},
    "status": {"description": "0 no task in this cell, 1 pending, 2 running, 3 done, 4 failed",
               "flag_values": list(range(len(STATUS))), "flag_meanings": " ".join(STATUS)},
}


def axis_names(ds: xr.Dataset) -> list[str]:
    """The sweep axes of a results dataset (either layout), without ``seed``."""
    if "axes" not in ds.attrs and "store" in ds.attrs:
        from ..store import Store

        return Store(ds.attrs["store"]).axes
    return list(ds.attrs.get("axes", []))


def results_by_axes(ds: xr.Dataset) -> xr.Dataset:
    """Reshape the raw ``task`` view of :func:`landscape_hpc.store.open_results` to axis dims."""
    names = axis_names(ds)
    axes = [*names, "seed"]
    status = ds["status"].values
    ds = ds.isel(task=np.flatnonzero(status != EMPTY))
    # unstacked on the codes of the values, the values set afterwards: pandas gives NaN (an axis
    # a group does not have) the missing code -1, which would put those tasks in the wrong cell
    levels, codes = zip(*(np.unique(ds[k].values, return_inverse=True) for k in axes))
    index = pd.MultiIndex(levels=[np.arange(len(v)) for v in levels],
                          codes=[c.ravel() for c in codes], names=axes)
    if index.has_duplicates:
        raise ConfigError(f"{ds.attrs.get('store', 'dataset')}: several tasks share the same "
                          f"({', '.join(axes)}); cannot lay them out on the axes")
    if len(index) < np.prod([len(level) for level in index.levels]):   # cells without a task
        ds = ds.assign({n: v.astype(np.float64) for n, v in ds.data_vars.items()
                        if v.dtype.kind in "iub" and n != "status"})
    flat = ds.drop_vars(axes).assign_coords(xr.Coordinates.from_pandas_multiindex(index, "task"))
    fill = {n: ("" if v.dtype == object else np.nan) for n, v in flat.variables.items()
            if "task" in v.dims and n != "task" and v.dtype.kind in "fO"}
    fill["status"] = EMPTY
    out = flat.unstack("task", fill_value=fill).assign_coords(dict(zip(axes, levels)))
    for name, attrs in DIM_ATTRS.items():
        if name in out.variables:
            out[name].attrs.update(attrs)
    for k in names:
        out[k].attrs.update(ds[k].attrs)
    out.attrs["axes"] = names
    return out.transpose(*axes, ...)


def open_results(path: str | Path) -> xr.Dataset:
    """The results of the store at ``path``, lazily, with the sweep's axes as dims."""
    from ..store import open_results as open_raw

    return results_by_axes(open_raw(path))
