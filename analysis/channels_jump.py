"""channels-to-infinity Fig. 5 (App. C.1): the jump procedure down a channel found by the
loss-levels sweep, and the scalings the GLU limit predicts.

    python analysis/channels_jump.py runs/channels_loss_levels.zarr --out figures/

From the first task of the store that the channel stop ended on a pair (preferably with biases
and of the widest width: the paper's Fig. 5 uses r = 8 neurons with biases on 8-D Rosenbrock,
picked arbitrarily), eps of
the detected pair is halved ``--jumps`` times at fixed c, a, w, Delta, each jump followed by
gradient flow over a flow time ``--flow-time`` (maxnorm off).  Per jump: eps, the loss, the RMS
error of the GLU limit (eq. 4) and the sharpness (largest Hessian eigenvalue).  Predicted: the
limit error ~ eps^2, the loss's decrease per jump ~ eps^2, the sharpness ~ 1/eps^2; the CSV
``_slopes`` has the fitted log-log slopes over the jumps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from common import arguments, finish, plt, task_table

from landscape_hpc.aggregate import open_results
from landscape_hpc.analysis import jump_along_channel
from landscape_hpc.dynamics import DynamicsSpec
from landscape_hpc.problem import build_problem
from landscape_hpc.store import Store

PREDICTED = {"limit_error": 2.0, "loss_decrease": 2.0, "sharpness": -2.0}


def main() -> None:
    args = arguments(__doc__, jumps={"type": int, "default": 8, "help": "halvings of eps"},
                     flow_time={"type": float, "default": 100.0,
                                "help": "flow time after each jump"})
    store, ds = Store(args.store), open_results(args.store)
    df = task_table(ds, ["channel_neurons"], threshold=0.0)
    found = df[(df["stopped_by"] == "channel") & (df["channel_neurons"].str.count(",") == 1)]
    if found.empty:
        raise SystemExit(f"{args.store}: no channel of a pair of neurons to jump along")
    found = found.assign(biased=found["biases"].astype(str) == "true")
    row = found.sort_values(["biased", "width", "seed"], ascending=[False, False, True]).iloc[0]
    task = ds.sel({a: row[a] for a in ds.attrs["axes"]} | {"seed": row["seed"]})
    config = store.group_config(int(task["group"]))["problem"]
    problem = build_problem(config | {"loss": config.get("loss", {}) | {"maxnorm": float("inf")}})
    theta = torch.from_numpy(task["theta"].values[:problem.net.num_params])
    i, j = map(int, row["channel_neurons"].split(","))
    spec = DynamicsSpec.model_validate({"stop": {"maxT": args.flow_time}, "polish": None,
                                        "channel": None})
    jumps = jump_along_channel(problem, theta, i, j, spec, jumps=args.jumps)
    table = pd.DataFrame({
        "eps": [x.eps for x in jumps], "loss": [x.loss for x in jumps],
        "limit_error": [x.limit_error for x in jumps],
        "sharpness": [torch.linalg.eigvalsh(problem.objective.evaluate(x.theta, 2)[2])[-1].item()
                      for x in jumps],
        "stopped_by": [x.stopped_by for x in jumps]})
    table["loss_decrease"] = -table["loss"].diff()          # jump k - 1 -> k, so ~ eps_k^2
    log_eps = np.log(table["eps"])
    slopes = pd.DataFrame([{"quantity": q, "predicted": p,
                            "fitted": np.polyfit(log_eps[ok], np.log(table[q][ok]), 1)[0]}
                           for q, p in PREDICTED.items()
                           for ok in [table[q].notna() & (table[q] > 0)]])
    slopes["width"], slopes["seed"], slopes["pair"] = row["width"], row["seed"], f"{i},{j}"
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for q in PREDICTED:
        ax.loglog(table["eps"], table[q] / table[q].dropna().iloc[0], "o-", label=q)
    eps = table["eps"].to_numpy()
    ax.loglog(eps, (eps / eps[0]) ** 2, "k--", lw=0.8, label="eps^2, eps^-2")
    ax.loglog(eps, (eps / eps[0]) ** -2, "k--", lw=0.8)
    ax.set(xlabel="eps", ylabel="relative to the first jump",
           title=f"width {row['width']}, seed {row['seed']}, neurons {i}, {j}")
    ax.legend(fontsize=8)
    fig.suptitle("jump procedure along a channel (channels-to-infinity Fig. 5)")
    finish(fig, table, args.out, "channels_jump")
    slopes.to_csv(args.out / "channels_jump_slopes.csv", index=False)
    print(slopes.to_string(index=False))


if __name__ == "__main__":
    main()
