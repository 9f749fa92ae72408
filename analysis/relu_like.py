"""relu-like-stationary-points E1-E4 (Fig. 3, App. H-I): gradient descent from small
initialisations, and what kind of point its end point is.

    landscape-hpc run sweeps/relu_like.yaml --store runs/relu_like.zarr
    python analysis/relu_like.py runs/relu_like.zarr --out figures/

Left: the loss along each run (snapshots; the plateaus are the saddles GD passes).  Right: the
App. H check at each end point, 5000 loss changes under U(-zeta, zeta) perturbations of every
parameter (zeta = 1.28e-4 as in App. H).  The CSV has per run the loss, the gradient norm, the
stationarity test of Def. 3.3 with the escape neurons of Def. 4.1 (derivatives within --tol count
as zero: an end point of GD is stationary only up to its gradient), dead and small living
neurons, and the smallest loss change.
"""

from __future__ import annotations

import pandas as pd
import torch
from common import arguments, cell, finish, plt, task_table

from landscape_hpc.aggregate import open_results
from landscape_hpc.analysis import (
    dead_neurons,
    perturbation_changes,
    relu_stationarity,
    small_living_neurons,
)
from landscape_hpc.problem import build_problem
from landscape_hpc.store import Store

ZETA = 1.28e-4


def main() -> None:
    args = arguments(__doc__, tol={"type": float, "default": 1e-6,
                                   "help": "derivatives below this count as zero"},
                     small={"type": float, "default": 1e-2,
                            "help": "amplitude of a small living neuron"})
    store = Store(args.store)
    ds = open_results(args.store)
    df = task_table(ds)
    raw_axes = ds.attrs["axes"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = []
    for _, row in df.iterrows():
        task = cell(ds, row)
        config = store.group_config(int(task["group"]))["problem"]
        problem = build_problem(config)
        theta = torch.from_numpy(task["theta"].values[:problem.net.num_params])
        label = str(row[raw_axes[0]]).replace('"', "").strip("[]") if raw_axes else "run"
        n = int(task["snap_count"])
        left.plot(task["snap_step"].values[1:n], task["snap_loss"].values[1:n], label=label)
        st = relu_stationarity(problem.objective, theta, tol=args.tol, kink_tol=1e-8)
        changes = perturbation_changes(problem.objective, theta, ZETA)
        right.hist(changes.numpy(), bins=50, histtype="step", label=label)
        rows.append({"run": label, "data": config["target"]["file"],
                     "init_scale": config["init"]["scale"],
                     "loss": row["loss"], "gradnorm": row["gradnorm"],
                     "steps": int(task["steps"]), "stationary": st.stationary,
                     "escape_neurons": len(st.escape_neurons), "type1_minimum": st.type1_minimum,
                     "dead": int(dead_neurons(problem.objective, theta).sum()),
                     "small_living": int(small_living_neurons(problem.objective, theta,
                                                              args.small).sum()),
                     "min_loss_change": changes.min().item()})
    left.set(xscale="log", yscale="log", xlabel="GD step", ylabel="loss",
             title="loss along gradient descent (Fig. 3)")
    left.legend(fontsize=7)
    right.axvline(0, c="k", lw=0.8)
    right.set(xlabel="loss change", ylabel="occurrences",
              title=f"5000 perturbations, zeta = {ZETA:g} (App. H)")
    right.legend(fontsize=7)
    fig.suptitle(f"{ds.attrs.get('sweep', 'relu-like')}: ReLU networks from small initialisations")
    finish(fig, pd.DataFrame(rows), args.out, "relu_like")


if __name__ == "__main__":
    main()
