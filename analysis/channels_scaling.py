"""channels-to-infinity Fig. 4a and 4c: how often gradient flow ends in a channel.

    landscape-hpc run sweeps/channels_scaling.yaml --store runs/channels_scaling.zarr
    python analysis/channels_scaling.py runs/channels_scaling.zarr --out figures/

Left (Fig. 4a): per one-hidden-layer task, the cosine distance of the closest pair of input
vectors against |a_i| + |a_j| of that pair; channels (criteria 1-2: weightnorm at the maxnorm and
cosine distance < 1e-3, or the flow's channel stop) in red.  Middle (Fig. 4c): per
configuration, the share of channels with its 95% Wilson interval, and the share of tasks
stopped by the maxnorm or the channel rule (open marks; the only measure for the deep nets, whose
per-layer pair criteria are not computed here).  Right, and ``channels_scaling_datasets.csv``:
per dataset, pooled over the architectures the store holds, the channels, the maxnorm or channel
stops, the tasks stopped by maxtime (not converged: their class is unknown) and those of them
whose closest pair already meets criterion 2 (cosine distance below 1e-3: channels if their norm
would reach the maxnorm; the tick mark).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from common import COLORS, arguments, finish, plt, task_table

from landscape_hpc.aggregate import wilson_interval
from landscape_hpc.analysis.channels import CHANNEL_COSINE
from landscape_hpc.analysis.store import channel_results


COUNTS = {"tasks": ("seed", "size"), "channels": ("is_channel", "sum"),
          "maxnorm": ("maxnorm", "sum"), "maxtime": ("maxtime", "sum"),
          "maxtime_pair": ("maxtime_pair", "sum")}


def _shares(df: pd.DataFrame, by: str, **first) -> pd.DataFrame:
    """Per value of ``by``: ``first`` (name -> (column, aggregation)) and :data:`COUNTS` (maxnorm:
    stopped by maxnorm or the channel stop; maxtime_pair: stopped by maxtime with the closest
    pair below the cosine threshold), the channel share with its Wilson interval, ordered by s."""
    maxtime = df["stopped_by"] == "maxtime"
    g = df.assign(maxnorm=df["stopped_by"].isin(["maxnorm", "channel"]), maxtime=maxtime,
                  maxtime_pair=maxtime & (df["min_cosine_distance"] < CHANNEL_COSINE)
                  ).groupby(by, sort=False)
    out = g.agg(**first, **COUNTS)
    lo, hi = wilson_interval(out["channels"].to_numpy(), out["tasks"].to_numpy())
    out = out.assign(fraction=out["channels"] / out["tasks"], lower=lo, upper=hi).reset_index()
    return out.sort_values("s", na_position="first", kind="stable", ignore_index=True)


def configurations(df: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Per configuration (the axes but the seed): its dataset, s and architecture, and the
    counts of :func:`_shares`."""
    label = df[axes].apply(lambda r: ", ".join(
        str(v) if a == "target" else f"{a} = {v}" for a, v in r.items() if pd.notna(v)), axis=1)
    return _shares(df.assign(config=label), "config", dataset=("target", "first"),
                   s=("s", "first"), arch=("arch", "first"))


def dataset(target: str) -> tuple[str, float]:
    """A target axis value as the paper names it, and its GP kernel scale s (NaN if none)."""
    t = json.loads(target)
    if t["kind"] == "gp":
        return f"GP s = {t['scale']:g}", float(t["scale"])
    return t["kind"].capitalize(), np.nan


def datasets(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (``target`` as :func:`dataset` names it, ``s``): the counts of
    :func:`_shares` and the architectures pooled (``arch``: d/width(s)/activation)."""
    return _shares(df, "target", s=("s", "first"), architectures=(
        "arch", lambda a: " ".join(sorted(set(a))))).rename(columns={"target": "dataset"})


def main() -> None:
    args = arguments(__doc__)
    ds = channel_results(args.store)
    df = task_table(ds, ["is_channel", "min_cosine_distance", "pair_output_weight"], 0.0)
    axes = [a for a in ds.attrs["axes"] if a not in ("target.seed", "inputs")]  # set by d
    axes = [a for a in axes if df[a].astype(str).nunique() > 1] or axes
    df["is_channel"] = df["is_channel"].astype(bool)
    names = df["target"].map(dataset)
    df["target"], df["s"] = names.str[0], names.str[1]
    cols = [a for a in ("d", "width", "widths", "activation") if a in df]
    df["arch"] = df[cols].apply(lambda r: "/".join(str(v) for v in r if pd.notna(v)), axis=1)
    table = configurations(df, axes)
    per_dataset = datasets(df)
    fig, (left, right, third) = plt.subplots(
        1, 3, figsize=(19, max(4.0, 0.3 * len(table) + 1.5)), gridspec_kw={"wspace": 0.45})
    pair = df[np.isfinite(df["min_cosine_distance"])]
    for channel in (False, True):
        sel = pair["is_channel"] == channel
        left.scatter(pair["pair_output_weight"][sel], pair["min_cosine_distance"][sel].clip(1e-17),
                     s=10, c=COLORS["channel"] if channel else COLORS["local_min"],
                     label="channel" if channel else "other")
    left.set(xscale="log", yscale="log", xlabel="|a_i| + |a_j| of the closest pair",
             ylabel="cosine distance of the closest pair", title="criterion 1 (Fig. 4a)")
    left.axhline(1e-3, ls="--", c="k", lw=0.8)
    left.legend(fontsize=8)
    y = np.arange(len(table))
    right.errorbar(table["fraction"], y, xerr=[table["fraction"] - table["lower"],
                                               table["upper"] - table["fraction"]],
                   fmt="o", c=COLORS["channel"], label="channels (criteria 1-2)")
    right.scatter(table["maxnorm"] / table["tasks"], y, facecolors="none", edgecolors="k",
                  label="stopped by maxnorm or channel")
    right.set_yticks(y, table["config"], fontsize=7)
    right.set(xlim=(-0.02, 1.02), xlabel="share of tasks", title="channel probability (Fig. 4c)")
    right.invert_yaxis()
    right.legend(fontsize=8)
    y = np.arange(len(per_dataset))
    f = per_dataset["fraction"]
    third.errorbar(f, y, xerr=[f - per_dataset["lower"], per_dataset["upper"] - f], fmt="o",
                   c=COLORS["channel"])
    third.scatter((per_dataset["channels"] + per_dataset["maxtime_pair"]) / per_dataset["tasks"],
                  y, marker="|", s=80, c="k",
                  label="with the maxtime stops that have a close pair")
    third.set_yticks(y, per_dataset["dataset"])
    third.set(xlim=(-0.02, 1.02), xlabel="share of tasks",
              title="per dataset, architectures pooled")
    third.invert_yaxis()
    third.legend(fontsize=8)
    fig.suptitle(f"{ds.attrs.get('sweep', 'scaling')}: channels to infinity")
    finish(fig, table, args.out, "channels_scaling")
    per_dataset.to_csv(args.out / "channels_scaling_datasets.csv", index=False)


if __name__ == "__main__":
    main()
