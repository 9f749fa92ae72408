"""Aggregates as rows, written as a table, CSV, JSON or netCDF."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

FORMATS = ("table", "csv", "json", "netcdf")


def rows(result: xr.Dataset, what: str) -> pd.DataFrame:
    """A long table: histogram (one row per group and occupied level), fractions (one row per
    group and class) or levels (one row per level)."""
    if what == "levels":
        return pd.DataFrame({"level": range(result.sizes["level"]), "loss": result["level"].values,
                             "count": result["level_count"].values,
                             "low": result["level_low"].values,
                             "high": result["level_high"].values})
    if what == "histogram":
        df = result["count"].to_dataframe().reset_index().rename(columns={"level": "loss"})
        df["level_index"] = np.tile(np.arange(result.sizes["level"]), len(df) // max(
            result.sizes["level"], 1))
        return df[df["count"] > 0][[*result["count"].dims[:-1], "level_index", "loss", "count"]]
    df = result[["count", "fraction", "lower", "upper"]].to_dataframe().reset_index()
    n = result["n_tasks"].broadcast_like(result["count"]).transpose(*result["count"].dims)
    df.insert(df.columns.get_loc("count") + 1, "n_tasks", n.values.ravel())
    return df


def write(df: pd.DataFrame, result: xr.Dataset, fmt: str, out: Path | None, meta: dict) -> str:
    """Write ``df`` (or ``result`` for netcdf) to ``out``; the text for stdout when ``out`` is
    None (table is returned as CSV-free rich markup by the caller)."""
    if fmt == "netcdf":
        result.to_netcdf(out)
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
