"""channels-to-infinity Fig. 2 / A1, a protocol check: where the flow ends with our channel stop
and without it (the paper's runs: until the maxnorm barrier).

    landscape-hpc run sweeps/channels_channel_stop.yaml --store runs/channels_channel_stop.zarr
    python analysis/channels_channel_stop.py runs/channels_channel_stop.zarr --out figures/

Per width and bias setting: the share of channels (outcome ``channel``: the channel stop or the
maxnorm), of plateau saddles (converged with duplicated neurons: two input vectors closer than
1e-3, L2) and of end points of any class with such a pair (``close``: channels included, which
at the maxnorm look like converged networks with duplicated neurons) with the stop on (``{}``)
and off (``null``), with 95% Wilson intervals, the median L2 distance of the channels'
closest pair, and the close end points that the channel stop found in a channel of three or
more neurons (``close_triple_on``); the CSV also counts the seeds whose two runs end in the same
class and at the same loss level (relative 1e-3: a channel's loss at its detection is within
that of its loss at the maxnorm).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import COLORS, arguments, finish, plt, same_end_point, task_table

from landscape_hpc.aggregate import wilson_interval
from landscape_hpc.aggregate.levels import RTOL
from landscape_hpc.analysis.store import channel_results

STOP = "dynamics.channel"


def main() -> None:
    args = arguments(__doc__)
    ds = channel_results(args.store)
    df = task_table(ds, ["has_duplicates", "min_l2_distance", "channel_neurons"], threshold=0.0)
    df["stop"] = np.where(df[STOP].astype(str) == "null", "off", "on")
    df["channel"] = df["outcome"] == "channel"
    df["close"] = df["has_duplicates"].astype(bool)
    df["plateau"] = df["close"] & ~df["channel"] & (df["outcome"] != "not_converged")
    same = same_end_point(df, ["biases", "width", "seed"], "stop", "on", "off", rtol=RTOL)
    # seeds with both runs done (a store still running has fewer), and those ending the same
    pairs = same.groupby(level=["biases", "width"]).agg(["size", "sum"])
    rows = []
    for (biases, width), g in df.groupby(["biases", "width"]):
        seeds, agree = pairs.loc[(biases, width)] if (biases, width) in pairs.index else (0, 0)
        row = {"biases": biases, "width": width, "seeds": int(seeds),
               "same_end_point": int(agree)}
        for stop, h in g.groupby("stop"):
            for what in ("channel", "plateau", "close"):
                k, n = int(h[what].sum()), len(h)
                lo, hi = wilson_interval(k, n)
                row |= {f"{what}_{stop}": k, f"{what}_{stop}_lower": float(lo),
                        f"{what}_{stop}_upper": float(hi), f"tasks_{stop}": n}
            row[f"channel_l2_{stop}"] = float(h.loc[h["channel"], "min_l2_distance"].median())
        on = g[g["stop"] == "on"]
        row["close_triple_on"] = int((on["close"] & (on["channel_neurons"].fillna("")
                                                     .str.count(",") >= 2)).sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    panels = sorted(table["biases"].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, biases in zip(axes[0], panels):
        t = table[table["biases"] == biases]
        for shift, stop, hatch in ((-0.2, "on", ""), (0.2, "off", "//")):
            share = t[f"channel_{stop}"] / t[f"tasks_{stop}"]
            err = [share - t[f"channel_{stop}_lower"], t[f"channel_{stop}_upper"] - share]
            ax.bar(t["width"] + shift, share, 0.4, yerr=err, capsize=2, hatch=hatch,
                   color=COLORS["channel"], edgecolor="k", label=f"channels, stop {stop}")
        ax.set(xlabel="width r", ylabel="share of seeds", ylim=(0, 1.05),
               title=f"{'with' if biases == 'true' else 'without'} biases")
        ax.legend(fontsize=8)
    fig.suptitle(f"{ds.attrs.get('sweep', 'channel stop')}: the channel stop on and off")
    finish(fig, table, args.out, "channels_channel_stop")


if __name__ == "__main__":
    main()
