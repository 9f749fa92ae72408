"""channels-to-infinity Fig. 2 / A1, a protocol check: where the flow ends with our channel stop
and without it (the paper's runs: until the maxnorm barrier).

    landscape-hpc run sweeps/channels_channel_stop.yaml --store runs/channels_channel_stop.zarr
    python analysis/channels_channel_stop.py runs/channels_channel_stop.zarr --out figures/

Per width and bias setting: the share of channels (outcome ``channel``: the channel stop or the
maxnorm) and of plateau saddles (converged with duplicated neurons) with the stop on (``{}``) and
off (``null``), with 95% Wilson intervals; the CSV also counts the seeds whose two runs end in
the same class and at the same loss level (relative 1e-3: a channel's loss at its detection is
within that of its loss at the maxnorm).
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
    df = task_table(ds, ["has_duplicates"], threshold=0.0)
    df["stop"] = np.where(df[STOP].astype(str) == "null", "off", "on")
    df["channel"] = df["outcome"] == "channel"
    df["plateau"] = df["has_duplicates"].astype(bool) & ~df["channel"] & (
        df["outcome"] != "not_converged")
    same = same_end_point(df, ["biases", "width", "seed"], "stop", "on", "off", rtol=RTOL)
    rows = []
    for (biases, width), g in df.groupby(["biases", "width"]):
        row = {"biases": biases, "width": width,
               "seeds": int(same.loc[(biases, width)].size),
               "same_end_point": int(same.loc[(biases, width)].sum())}
        for stop, h in g.groupby("stop"):
            for what in ("channel", "plateau"):
                k, n = int(h[what].sum()), len(h)
                lo, hi = wilson_interval(k, n)
                row |= {f"{what}_{stop}": k, f"{what}_{stop}_lower": float(lo),
                        f"{what}_{stop}_upper": float(hi), f"tasks_{stop}": n}
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
