"""relu-population-landscape, the protocol choices of App. G as axes: how the outcome shares of
K = M move with the input dimension d of the initial draw (d = M, 2M, 4M) and with the dynamics
(the weight-space flow ``flow_auto``, the paper's order-parameter (Q, M) flow ``order_params``,
gradient descent with a finite budget of 10^4 steps, ``gd``).

    landscape-hpc run sweeps/relu_population_protocol.yaml --store runs/relu_population_protocol.zarr
    python analysis/relu_population_protocol.py runs/relu_population_protocol.zarr --out figures/

One panel per teacher width M: the shares of global minima, spurious local minima and the rest
(saddles, and runs that did not converge: for ``gd`` the runs still moving after 10^4 steps)
against d / M, one line per method, with 95% Wilson intervals.  The classes are those of
``relu_population.py`` (zero loss is the global minimum).  The CSV has the counts per
(M, d, method, kind), and ``_agreement.csv`` per (M, d): on how many seeds the two flows reach
the same class and loss level.
"""

from __future__ import annotations

import pandas as pd
from common import (COLORS, KINDS, arguments, finish, kind_shares, plt, same_end_point,
                    task_table)

from landscape_hpc.aggregate import ZERO_LOSS
from landscape_hpc.analysis.store import TEACHER, teacher_results

STYLE = {"flow_auto": "o-", "order_params": "s--", "gd": "^:"}


def agreement(df: pd.DataFrame) -> pd.DataFrame:
    """Per (M, d): seeds both flows ran, and on how many they end in the same class at the same
    loss (relative 1e-6, or both below the zero loss)."""
    same = same_end_point(df, ["M", "d", "seed"], "method", "flow_auto", "order_params",
                          rtol=1e-6, zero=ZERO_LOSS)
    out = same.groupby(level=["M", "d"]).agg(["size", "sum"]).reset_index()
    return out.rename(columns={"size": "seeds", "sum": "same_end_point"})


def main() -> None:
    args = arguments(__doc__)
    ds = teacher_results(args.store, by_axes=False)   # the axes' product is huge
    df = task_table(ds, list(TEACHER), ZERO_LOSS).rename(columns={"teacher_width": "M",
                                                                  "width": "K"})
    df["d_over_M"] = df["d"] / df["M"]
    table = kind_shares(df, ["M", "K", "d", "d_over_M", "method"]).rename(
        columns={"kind": "outcome"})
    ms = sorted(table["M"].unique())
    fig, axes = plt.subplots(1, len(ms), figsize=(6 * len(ms), 4.2), squeeze=False)
    for ax, m in zip(axes[0], ms):
        for (method, kind), g in table[table["M"] == m].groupby(["method", "outcome"]):
            err = [g["fraction"] - g["lower"], g["upper"] - g["fraction"]]
            ax.errorbar(g["d_over_M"], g["fraction"], err, fmt=STYLE.get(method, "x-"),
                        c=COLORS.get(kind, COLORS["saddle"]), capsize=2,
                        label=f"{KINDS[kind]}, {method}")
        ax.set(xscale="log", xlabel="d / M of the initial draw", ylim=(-0.02, 1.02),
               ylabel="share of initialisations", title=f"K = M = {m}")
        ax.set_xticks(sorted(table["d_over_M"].unique()),
                      [f"{x:g}" for x in sorted(table["d_over_M"].unique())])
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"{ds.attrs.get('sweep', 'protocol')}: the d of the initial draw and the "
                 "dynamics (relu-population App. G)")
    finish(fig, table, args.out, "relu_population_protocol")
    same = agreement(df)
    same.to_csv(args.out / "relu_population_protocol_agreement.csv", index=False)
    print(same.to_string(index=False))


if __name__ == "__main__":
    main()
