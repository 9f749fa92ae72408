"""relu-population-landscape App. G (Table 3) and Sec. 3.1: outcomes of gradient flow on the
population loss of ReLU soft committee machines, and the anti-aligned families of local minima.

    landscape-hpc run sweeps/relu_population.yaml --store runs/relu_population.zarr
    python analysis/relu_population.py runs/relu_population.zarr --out figures/

Left: per teacher width M, the shares of global minima, spurious local minima and the rest (saddles,
not converged) with 95% Wilson intervals, for K = M (solid) and K = M + 1 (dashed): Table 3 (a, b).
Right: the local minima by their number of anti-aligned student units (Hungarian matching of
students to teachers by |overlap|, negative overlap), the families of Sec. 3.1.  The CSV has the
counts per (M, K, outcome) and the family sizes.
"""

from __future__ import annotations

import pandas as pd
from common import COLORS, arguments, finish, plt, task_table

from landscape_hpc.aggregate import ZERO_LOSS, wilson_interval
from landscape_hpc.analysis.store import TEACHER, teacher_results

GROUPS = {"global_min": "global minima", "local_min": "spurious local minima",
          "other": "saddles / not converged"}


def main() -> None:
    args = arguments(__doc__)
    ds = teacher_results(args.store)
    # K >= M students represent the teacher: the global minimum is 0 even where no seed reaches
    # it, so a converged task above zero loss is a spurious minimum or a saddle
    df = task_table(ds, list(TEACHER), ZERO_LOSS).rename(columns={"teacher_width": "M",
                                                                  "width": "K"})
    df["case"] = (df["K"] - df["M"]).map(lambda e: "K = M" if e == 0 else f"K = M + {e:g}")
    df["kind"] = df["outcome"].where(df["outcome"].isin(["global_min", "local_min"]), "other")
    counts = df.groupby(["case", "M", "K", "kind"]).size().unstack("kind", fill_value=0)
    counts = counts.reindex(columns=list(GROUPS), fill_value=0)
    total = counts.sum(axis=1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = []
    for (case, m, k), row in counts.iterrows():
        for kind in GROUPS:
            lo, hi = wilson_interval(row[kind], total[(case, m, k)])
            rows.append({"case": case, "M": m, "K": k, "outcome": kind, "count": int(row[kind]),
                         "tasks": int(total[(case, m, k)]),
                         "fraction": row[kind] / total[(case, m, k)],
                         "lower": float(lo), "upper": float(hi)})
    table = pd.DataFrame(rows)
    for (case, kind), g in table.groupby(["case", "outcome"]):
        color = COLORS.get(kind, COLORS["saddle"])
        err = [g["fraction"] - g["lower"], g["upper"] - g["fraction"]]
        left.errorbar(g["M"], g["fraction"], err, fmt="o-" if case == "K = M" else "s--",
                      c=color, capsize=2, label=f"{GROUPS[kind]}, {case}")
    left.set(xlabel="teacher width M", ylabel="share of initialisations", ylim=(-0.02, 1.02),
             title="outcomes (App. G, Table 3)")
    left.legend(fontsize=7)
    local = df[df["outcome"] == "local_min"]
    families = local.groupby(["case", "M", "n_anti_aligned"]).size().rename("local_minima")
    for (case, m), g in families.groupby(level=["case", "M"]):
        n = g.index.get_level_values("n_anti_aligned")
        right.plot(n, g.to_numpy(), "o-" if case == "K = M" else "s--", label=f"M = {m}, {case}")
    right.set(xlabel="anti-aligned student units", ylabel="local minima",
              title="families of spurious minima (Sec. 3.1)")
    if len(families):
        right.legend(fontsize=7)
    fig.suptitle(f"{ds.attrs.get('sweep', 'relu population')}: ReLU soft committee machines")
    finish(fig, table, args.out, "relu_population")
    families.reset_index().to_csv(args.out / "relu_population_families.csv", index=False)
    print(families.to_string() if len(families) else "no spurious local minima")


if __name__ == "__main__":
    main()
