"""channels-to-infinity Fig. 2a-b and A1: loss levels of converged networks per width.

    landscape-hpc run sweeps/channels_loss_levels.yaml --store runs/channels_loss_levels.zarr
    python analysis/channels_loss_levels.py runs/channels_loss_levels.zarr --out figures/

Left/right panel: without/with biases.  Each dot is a task: converged tasks at their final loss,
channels (stopped at the maxnorm) at the loss where they reached it, coloured by outcome.  Below:
per width, the share of initialisations that converge with duplicated neurons (the signature of a
plateau saddle, Fig. 2b inset) and the share of channels (Fig. A1 insets), with 95% Wilson
intervals.  The CSV lists per width the tasks, converged tasks, distinct loss levels, unique
solutions up to permutation, duplicates, end points of any class with duplicated neurons
(``close``: channels included), channels, the converged tasks whose loss level another width
also reaches (``shared``: "many identical-loss solutions are found by networks of different
sizes", Fig. 2), and the same for the channels, at the loss where each was stopped
(``channels_shared``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import COLORS, CONVERGED, arguments, finish, plt, task_table

from landscape_hpc.aggregate import cluster, wilson_interval
from landscape_hpc.analysis.store import channel_results, solution_results


def shared_levels(conv: pd.DataFrame) -> pd.Series:
    """Per task: is its loss level (per bias setting) reached by another width's task too?"""
    out = pd.Series(False, index=conv.index)
    for _, g in conv.groupby("biases"):
        level = pd.Series(cluster(g["loss"].to_numpy()).index, index=g.index)
        widths = g.groupby(level)["width"].nunique()
        out[g.index] = (widths[level].to_numpy() > 1)
    return out


def main() -> None:
    args = arguments(__doc__)
    ds = channel_results(args.store)
    ds["solution"] = solution_results(args.store)["solution"]
    df = task_table(ds, ["has_duplicates", "is_channel", "solution"], threshold=0.0)  # no known
    conv = df["outcome"].isin(CONVERGED)                                             # global min
    shared = shared_levels(df[conv])
    chan = df["outcome"] == "channel"
    chan_shared = shared_levels(df[chan])
    rows = []
    for (biases, width), g in df.groupby(["biases", "width"]):
        c = conv[g.index]
        rows.append({"biases": biases, "width": width, "tasks": len(g), "converged": int(c.sum()),
                     "levels": len(cluster(g["loss"][c].to_numpy()).value),
                     "unique": g["solution"][c].nunique(),
                     "duplicates": int(g["has_duplicates"][c].sum()),
                     "close": int(g["has_duplicates"].sum()),
                     "channels": int(chan[g.index].sum()),
                     "shared": int(shared[g.index[c]].sum()),
                     "channels_shared": int(chan_shared[g.index[chan[g.index]]].sum())})
    table = pd.DataFrame(rows)
    panels = sorted(df["biases"].unique())
    fig, axes = plt.subplots(2, len(panels), figsize=(5 * len(panels), 6), squeeze=False,
                             height_ratios=[3, 1], sharex=True)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(df))
    for k, biases in enumerate(panels):
        ax, share = axes[0, k], axes[1, k]
        for outcome, color in COLORS.items():
            sel = (df["biases"] == biases) & (df["outcome"] == outcome)
            if sel.any():
                ax.scatter(df["width"][sel] + jitter[sel], df["loss"][sel], s=12, c=color,
                           label=outcome, alpha=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{'with' if biases == 'true' else 'without'} biases")
        ax.set_ylabel("final loss")
        t = table[table["biases"] == biases]
        for shift, what, color in ((-0.2, "duplicates", None), (0.2, "channels",
                                                                 COLORS["channel"])):
            f = t[what] / t["tasks"]
            lo, hi = wilson_interval(t[what].to_numpy(), t["tasks"].to_numpy())
            share.bar(t["width"] + shift, f, 0.4, yerr=[f - lo, hi - f], capsize=2, color=color,
                      label=f"{'plateau saddles' if what == 'duplicates' else what} / tasks")
        share.set_ylim(0, 1)
        share.set_xlabel("width r")
        ax.legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    fig.suptitle(f"{ds.attrs.get('sweep', 'loss levels')}: loss levels (channels-to-infinity "
                 "Fig. 2b, A1)")
    finish(fig, table, args.out, "channels_loss_levels")


if __name__ == "__main__":
    main()
