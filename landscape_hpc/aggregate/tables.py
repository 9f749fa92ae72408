"""Aggregates as rows, written as a table, CSV, JSON or netCDF.

The rows are a joint table: one row per combination of the ``by`` axes that has tasks (and per
level or class), never the empty combinations of the axes' product.  netCDF gets the Dataset:
with several axes its dim ``group`` lists those combinations, the axes as coordinates along it
(netCDF has no MultiIndex; ``ds.set_index(group=[...axes])`` restores it, ``.unstack("group")``
gives the grid).

Losses print as 0 in the rows (the ``loss`` of histogram and levels, ``low`` and ``high`` of the
levels) where their magnitude is below the zero-loss threshold (1e-10, :data:`.outcomes.ZERO_LOSS`):
a population loss ends at -5e-15 or 3e-16 by rounding.  The Dataset (netCDF) and the store keep
the computed values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .flat import GROUP, group_axes
from .outcomes import ZERO_LOSS

FORMATS = ("table", "csv", "json", "netcdf")


def rows(result: xr.Dataset, what: str) -> pd.DataFrame:
    """A long table: histogram (one row per group and occupied level), fractions (one row per
    group and class) or levels (one row per level)."""
    if what == "levels":
        return pd.DataFrame({"level": range(result.sizes["level"]),
                             "loss": zero(result["level"].values),
                             "count": result["level_count"].values,
                             "low": zero(result["level_low"].values),
                             "high": zero(result["level_high"].values)})
    if what == "histogram":
        count = result["count"].assign_coords(level_index=("level", range(result.sizes["level"])))
        df = count.to_dataframe().reset_index().rename(columns={"level": "loss"})
        df["loss"] = zero(df["loss"].to_numpy())
        return df[df["count"] > 0][[*group_axes(result), "level_index", "loss", "count"]]
    df = result[["count", "fraction", "lower", "upper"]].to_dataframe().reset_index()
    n = result["n_tasks"].broadcast_like(result["count"]).transpose(*result["count"].dims)
    df.insert(df.columns.get_loc("count") + 1, "n_tasks", n.values.ravel())
    return df


def zero(loss: np.ndarray) -> np.ndarray:
    """``loss`` with the values below the zero-loss threshold in magnitude set to 0."""
    loss = np.asarray(loss, dtype=np.float64)
    return np.where(np.abs(loss) < ZERO_LOSS, 0.0, loss)


def write(df: pd.DataFrame, result: xr.Dataset, fmt: str, out: Path | None, meta: dict) -> str:
    """Write ``df`` (or ``result`` for netcdf) to ``out``; the text for stdout when ``out`` is
    None (table is returned as CSV-free rich markup by the caller)."""
    if fmt == "netcdf":
        (result.reset_index(GROUP) if GROUP in result.dims else result).to_netcdf(out)
        return ""
    if fmt == "csv":
        text = df.to_csv(index=False)
    else:
        records = [{k: _plain(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
        text = json.dumps({**meta, "rows": records}, indent=1) + "\n"
    if out is not None:
        Path(out).write_text(text)
        return ""
    return text


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v
