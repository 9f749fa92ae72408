"""relu-population-landscape App. G (Table 3), Fig. 1b / 2 and Sec. 3.1: outcomes of gradient
flow on the population loss of ReLU soft committee machines, their quantised losses, and the
anti-aligned families of local minima.

    landscape-hpc run sweeps/relu_population.yaml --store runs/relu_population.zarr
    python analysis/relu_population.py runs/relu_population.zarr --out figures/

Left: per teacher width M, the shares of global minima, spurious local minima and the rest (saddles,
not converged) with 95% Wilson intervals, for K = M (solid) and K = M + 1 (dashed): Table 3 (a, b).
Middle: the final losses of the spurious end points, one histogram per case (Fig. 1b, 2: the
losses concentrate on discrete levels).  Right: the local minima by their number of anti-aligned
student units (Hungarian matching of students to teachers by |overlap|, negative overlap), the
families of Sec. 3.1.  CSVs: the counts per (M, K, kind) (``relu_population.csv``), the family
sizes (``_families``) and the loss levels of the spurious end points per (M, K) (``_levels``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import COLORS, KINDS, arguments, finish, kind_shares, plt, task_table

from landscape_hpc.aggregate import ZERO_LOSS, cluster
from landscape_hpc.analysis.store import TEACHER, teacher_results


def case(k: pd.Series, m: pd.Series) -> pd.Series:
    return (k - m).map(lambda e: "K = M" if e == 0 else f"K = M + {e:g}")


def levels(df: pd.DataFrame) -> pd.DataFrame:
    """The loss levels of the converged end points above zero loss, per (case, M, K)."""
    rows = []
    spurious = df[(df["loss"] > ZERO_LOSS) & df["outcome"].isin(["local_min", "saddle"])]
    for (c, m, k), g in spurious.groupby(["case", "M", "K"]):
        lv = cluster(g["loss"].to_numpy())
        rows += [{"case": c, "M": m, "K": k, "loss": v, "count": int(n)}
                 for v, n in zip(lv.value, lv.count)]
    return pd.DataFrame(rows, columns=["case", "M", "K", "loss", "count"])


def main() -> None:
    args = arguments(__doc__)
    ds = teacher_results(args.store, by_axes=False)   # the axes' product is huge
    # K >= M students represent the teacher: the global minimum is 0 even where no seed reaches
    # it, so a converged task above zero loss is a spurious minimum or a saddle
    df = task_table(ds, list(TEACHER), ZERO_LOSS).rename(columns={"teacher_width": "M",
                                                                  "width": "K"})
    df["case"] = case(df["K"], df["M"])
    table = kind_shares(df, ["case", "M", "K"]).rename(columns={"kind": "outcome"})
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(17, 4.2))
    for (c, kind), g in table.groupby(["case", "outcome"]):
        err = [g["fraction"] - g["lower"], g["upper"] - g["fraction"]]
        left.errorbar(g["M"], g["fraction"], err, fmt="o-" if c == "K = M" else "s--",
                      c=COLORS.get(kind, COLORS["saddle"]), capsize=2, label=f"{KINDS[kind]}, {c}")
    left.set(xlabel="teacher width M", ylabel="share of initialisations", ylim=(-0.02, 1.02),
             title="outcomes (App. G, Table 3)")
    left.legend(fontsize=7)
    spurious = df[(df["loss"] > ZERO_LOSS) & (df["outcome"] != "not_converged")]
    if len(spurious):
        bins = np.geomspace(spurious["loss"].min() / 1.5, spurious["loss"].max() * 1.5, 120)
        for c, g in spurious.groupby("case"):
            mid.hist(g["loss"], bins, histtype="step", label=f"{c} ({len(g)} end points)")
        mid.legend(fontsize=7)
    mid.set(xscale="log", xlabel="final loss (above zero)", ylabel="end points",
            title="quantised losses of spurious end points (Fig. 1b, 2)")
    local = df[df["outcome"] == "local_min"]
    families = local.groupby(["case", "M", "n_anti_aligned"]).size().rename("local_minima")
    for (c, m), g in families.groupby(level=["case", "M"]):
        n = g.index.get_level_values("n_anti_aligned")
        right.plot(n, g.to_numpy(), "o-" if c == "K = M" else "s--", label=f"M = {m}, {c}")
    right.set(xlabel="anti-aligned student units", ylabel="local minima",
              title="families of spurious minima (Sec. 3.1)")
    if len(families):
        right.legend(fontsize=6, ncol=2)
    fig.suptitle(f"{ds.attrs.get('sweep', 'relu population')}: ReLU soft committee machines")
    finish(fig, table, args.out, "relu_population")
    families.reset_index().to_csv(args.out / "relu_population_families.csv", index=False)
    levels(df).to_csv(args.out / "relu_population_levels.csv", index=False)
    print(families.to_string() if len(families) else "no spurious local minima")


if __name__ == "__main__":
    main()
