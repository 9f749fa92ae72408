"""Plumbing shared by the figure scripts: arguments, the per-task table, saving figures."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr

from landscape_hpc.aggregate import CLASSES, classify, wilson_interval
from landscape_hpc.aggregate.outcomes import THRESHOLDS
from landscape_hpc.aggregate.plots import COLORS  # noqa: F401  (the scripts' class colours)
from landscape_hpc.store import DONE

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)

#: the classes of converged tasks (:mod:`landscape_hpc.aggregate.outcomes`)
CONVERGED = ["global_min", "lowest_found", "local_min", "saddle"]


def arguments(doc: str, **extra: dict) -> argparse.Namespace:
    """STORE and --out (default figures/), plus ``extra`` options (name -> add_argument kwargs)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("store", type=Path, help="results store of the matching sweep file")
    p.add_argument("--out", type=Path, default=Path("figures"), help="folder for PNG and CSV")
    for name, kwargs in extra.items():
        p.add_argument(f"--{name.replace('_', '-')}", **kwargs)
    args = p.parse_args()
    if not (args.store / "zarr.json").exists():
        p.error(f"{args.store}: not a landscape-hpc store (no zarr.json)")
    return args


def task_table(ds: xr.Dataset, names: list[str] = (), threshold: float | None = None
               ) -> pd.DataFrame:
    """One row per done task: the sweep axes, seed, ``outcome`` (a class name), the scalar
    results and ``names``.  Cells without a task, and tasks not done (pending, running, failed:
    ``landscape-hpc status`` counts them), are left out, so a store still running gives the
    shares of the tasks done so far."""
    ds = classify(ds, threshold)
    scalar = ["status", "loss", "gradnorm", "weightnorm", "stopped_by", "n_negative", *names]
    df = ds[[*scalar, "outcome"]].to_dataframe().reset_index()
    df = df[(df["outcome"] >= 0) & (df["status"] == DONE)].copy()
    df["outcome"] = np.asarray(CLASSES)[df["outcome"].to_numpy()]
    df.attrs.update({k: ds.attrs[k] for k in THRESHOLDS})
    return df


#: the outcome kinds of the relu-population tables (App. G, Table 3: Global, Local, None)
KINDS = {"global_min": "global minima", "local_min": "spurious local minima",
         "other": "saddles / not converged"}


def kind_shares(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per combination of ``by`` and kind of :data:`KINDS`: count, tasks, fraction and its
    Wilson 95% interval (lower, upper); tasks that are neither minimum are ``other``."""
    kind = df["outcome"].where(df["outcome"].isin(["global_min", "local_min"]), "other")
    counts = df.assign(kind=kind).groupby([*by, "kind"]).size().unstack("kind", fill_value=0)
    counts = counts.reindex(columns=list(KINDS), fill_value=0)
    table = counts.stack().rename("count").reset_index()
    table["tasks"] = table.groupby(by)["count"].transform("sum")
    table["fraction"] = table["count"] / table["tasks"]
    table["lower"], table["upper"] = wilson_interval(table["count"].to_numpy(),
                                                     table["tasks"].to_numpy())
    return table


def same_end_point(df: pd.DataFrame, keys: list[str], column: str, a: str, b: str,
                   rtol: float, zero: float = 0.0) -> pd.Series:
    """Per ``keys`` (a task's seed and the axes but ``column``): whether its tasks with ``column``
    = ``a`` and = ``b`` end in the same outcome at the same loss (relative ``rtol``, or both below
    ``zero``); keys that lack one of the two are left out."""
    wide = df.pivot_table(index=keys, columns=column, values=["outcome", "loss"],
                          aggfunc="first").dropna()
    if wide.empty:
        return pd.Series(dtype=bool, index=pd.MultiIndex.from_tuples([], names=keys))
    x, y = wide["loss"][a].astype(float), wide["loss"][b].astype(float)
    same_loss = (np.abs(x - y) <= rtol * np.maximum(x, y)) | ((x < zero) & (y < zero))
    return same_loss & (wide["outcome"][a] == wide["outcome"][b])


def cell(ds: xr.Dataset, row: pd.Series) -> xr.Dataset:
    """The task of a row of :func:`task_table` in ``ds``."""
    return ds.sel({a: row[a] for a in ds.attrs["axes"]} | {"seed": row["seed"]})


def finish(fig, df: pd.DataFrame, out: Path, name: str) -> None:
    """Write OUT/NAME.png and OUT/NAME.csv (the table behind the figure), print the table."""
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    df.to_csv(out / f"{name}.csv", index=False)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(df.to_string(index=False))
    print(f"wrote {out / (name + '.png')} and {out / (name + '.csv')}")
