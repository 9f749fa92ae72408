"""channels-to-infinity Fig. 2c-d and A2: where gradient flow goes from a saddle line.

    landscape-hpc run sweeps/channels_saddle_line.yaml --store runs/channels_saddle_line.zarr
    python analysis/channels_saddle_line.py runs/channels_saddle_line.zarr --out figures/

Left: the loss reached from theta^gamma +/- alpha e_min for each gamma (circles: converged,
crosses: channels, at the loss where they reached the maxnorm); the dashed line is the loss of the
saddle line.  Middle: the number of negative Hessian eigenvalues along the saddle line, computed
(eigenvalues of the Hessian at theta^gamma) and predicted by few-neurons-theory Thm. 4.1 (the
inertia of H(theta*) and of the split block); gamma in (0, 1) is the plateau-saddle segment when
both are 0.  Right: loss along each trajectory (the snapshots).  The source store is the one the
sweep started from (recorded in the store).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import COLORS, arguments, cell, finish, plt, task_table

from landscape_hpc.aggregate import open_results
from landscape_hpc.analysis import hessian_inertia, split_line_inertia
from landscape_hpc.models.neurons import split_neuron
from landscape_hpc.problem import build_problem
from landscape_hpc.store import Store
from landscape_hpc.store.source import source_solution, split_index

GAMMA, ALPHA = "initial.split.gamma", "initial.perturb.scale"


def inertia_along_line(store: Store, gammas: np.ndarray) -> pd.DataFrame:
    """Computed and Thm. 4.1-predicted negative eigenvalue counts at theta^gamma."""
    config = store.group_config(0)
    net, theta = source_solution(store.meta["source_store"], config["initial"]["source"])
    problem = dict(config["problem"],
                   net={**config["problem"]["net"], "widths": [net.spec.widths[0]]})
    source, split = build_problem(problem), build_problem(config["problem"])
    i = split_index(net, theta, config["initial"]["split"])
    predicted = split_line_inertia(source.objective, net, theta, i, gammas)
    computed = [hessian_inertia(split.objective.evaluate(split_neuron(net, theta, i, g)[1], 2)[2])
                for g in gammas]
    return pd.DataFrame({"gamma": gammas, "predicted_negative": [p[1] for p in predicted],
                         "computed_negative": [c[1] for c in computed],
                         "computed_zero": [c[2] for c in computed],
                         "saddle_line_loss": source.objective.loss(theta).item()})


def main() -> None:
    args = arguments(__doc__)
    store = Store(args.store)
    ds = open_results(args.store)
    df = task_table(ds, threshold=0.0)                    # no known global minimum
    gammas = df[GAMMA].to_numpy(float)
    line = inertia_along_line(store, np.linspace(min(gammas.min(), -1), max(gammas.max(), 2), 61))
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    for sign, marker in ((1, "o"), (-1, "s")):
        for channel in (True, False):
            sel = (np.sign(df[ALPHA]) == sign) & ((df["outcome"] == "channel") == channel)
            left.scatter(df[GAMMA][sel], df["loss"][sel], marker="x" if channel else marker,
                         c=COLORS["channel" if channel else "local_min"],
                         label=f"alpha {'+' if sign > 0 else '-'}, "
                               f"{'channel' if channel else 'converged'}")
    left.axhline(line["saddle_line_loss"][0], ls="--", c="k", lw=0.8, label="saddle line")
    left.axvspan(0, 1, color="0.9", zorder=0)
    left.set(xlabel="gamma", ylabel="loss reached", title="end points (Fig. 2d, A2c)")
    left.legend(fontsize=7)
    mid.plot(line["gamma"], line["computed_negative"], "k-", label="computed")
    mid.plot(line["gamma"], line["predicted_negative"], "r--", label="Thm. 4.1")
    mid.axvspan(0, 1, color="0.9", zorder=0)
    mid.set(xlabel="gamma", ylabel="negative Hessian eigenvalues", title="inertia on the line")
    mid.legend(fontsize=8)
    cmap = plt.get_cmap("viridis")
    span = np.ptp(gammas) or 1.0
    for _, row in df.iterrows():
        task = cell(ds, row)
        n = int(task["snap_count"])
        t, loss = task["snap_t"].values[1:n], task["snap_loss"].values[1:n]
        right.plot(t, loss, ls="-" if row[ALPHA] > 0 else ":",
                   c=cmap((row[GAMMA] - gammas.min()) / span), label=f"gamma {row[GAMMA]:g}")
    right.set(xscale="log", yscale="log", xlabel="t", ylabel="loss", title="trajectories (Fig. 2d)")
    right.legend(fontsize=6, ncol=2)
    fig.suptitle(f"{store.meta['sweep']}: perturbations from the saddle line")
    table = df[[GAMMA, ALPHA, "outcome", "loss", "weightnorm", "stopped_by"]]
    finish(fig, table, args.out, "channels_saddle_line")
    line.to_csv(args.out / "channels_saddle_line_inertia.csv", index=False)
    mismatch = line[line["predicted_negative"] != line["computed_negative"]]
    print(f"Thm. 4.1 inertia: {len(line) - len(mismatch)} of {len(line)} gamma agree"
          + (f"; differ at gamma {mismatch['gamma'].round(3).tolist()}" if len(mismatch) else ""))


if __name__ == "__main__":
    main()
