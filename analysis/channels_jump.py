"""channels-to-infinity Fig. 5 (App. C.1): the jump procedure down channels found by a sweep,
and the scalings the GLU limit predicts.

    landscape-hpc run sweeps/channels_jump.yaml --scale sample --store runs/channels_jump.zarr
    python analysis/channels_jump.py runs/channels_jump.zarr --out figures/

The channels are the store's tasks of one hidden layer that ended in a channel: stopped by the
channel stop on a pair of neurons (that pair), or at the maxnorm with a pair closer than the
channel threshold (criteria 1-2 of B.3: the closest cosine pair).  The paper's Fig. 5 uses one
such network of the largest architecture (r = 8 with biases on 8-D Rosenbrock, 81 parameters,
"picked arbitrarily"): the script takes the ``--channels`` first seeds of the architecture with
the most parameters.  For each, eps of the pair is halved ``--jumps`` times at fixed c, a, w,
Delta, each jump followed by gradient flow over a flow time ``--flow-time`` (maxnorm off).  Per
jump: eps, the loss, the RMS error of the GLU limit (eq. 4) and the sharpness (largest Hessian
eigenvalue).  Predicted: the limit error ~ eps^2, the loss's decrease per jump ~ eps^2, the
sharpness ~ 1/eps^2; ``NAME_slopes.csv`` has the fitted log-log slopes per channel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from common import arguments, finish, plt, task_table

from landscape_hpc.analysis import jump_along_channel
from landscape_hpc.analysis.channels import closest_pairs
from landscape_hpc.analysis.store import channel_results, group_network
from landscape_hpc.dynamics import DynamicsSpec
from landscape_hpc.problem import build_problem
from landscape_hpc.store import Store

PREDICTED = {"limit_error": 2.0, "loss_decrease": 2.0, "sharpness": -2.0}
COLORS = {"limit_error": "C0", "loss_decrease": "C1", "sharpness": "C2"}


def channels(store: str, ds, k: int) -> pd.DataFrame:
    """The first ``k`` channels (by seed) of the architecture with the most parameters: one row
    per task with its ``group`` and the pair ``i``, ``j``."""
    df = task_table(ds, ["channel_neurons", "is_channel", "n_params", "group"], threshold=0.0)
    pairs = df["channel_neurons"].fillna("").str.count(",") == 1
    df = df[((df["stopped_by"] == "channel") & pairs)
            | ((df["stopped_by"] != "channel") & df["is_channel"].astype(bool))]
    if df.empty:
        raise SystemExit(f"{store}: no channel of a pair of neurons to jump along")
    df = df[df["n_params"] == df["n_params"].max()].sort_values("seed").head(k).copy()
    st = Store(store)
    for idx, row in df.iterrows():
        if row["stopped_by"] == "channel":
            i, j = map(int, row["channel_neurons"].split(","))
        else:
            net = group_network(st.group_config(int(row["group"])))
            theta = torch.from_numpy(task_theta(ds, row)[:net.num_params])
            pair = closest_pairs(net, theta)[0]
            i, j = int(pair.i), int(pair.j)
        df.loc[idx, ["i", "j"]] = i, j
    return df.astype({"i": int, "j": int})


def task_theta(ds, row: pd.Series) -> np.ndarray:
    return ds["theta"].sel({a: row[a] for a in ds.attrs["axes"]} | {"seed": row["seed"]}).values


def jumps_of(store: Store, ds, row: pd.Series, jumps: int, flow_time: float) -> pd.DataFrame:
    """The jump table of one channel."""
    config = store.group_config(int(row["group"]))["problem"]
    problem = build_problem(config | {"loss": config.get("loss", {}) | {"maxnorm": float("inf")}})
    theta = torch.from_numpy(task_theta(ds, row)[:problem.net.num_params])
    spec = DynamicsSpec.model_validate({"stop": {"maxT": flow_time}, "polish": None,
                                        "channel": None})
    out = jump_along_channel(problem, theta, row["i"], row["j"], spec, jumps=jumps)
    table = pd.DataFrame({
        "seed": row["seed"], "width": row["width"], "pair": f"{row['i']},{row['j']}",
        "jump": np.arange(1, len(out) + 1), "eps": [x.eps for x in out],
        "loss": [x.loss for x in out], "limit_error": [x.limit_error for x in out],
        "sharpness": [torch.linalg.eigvalsh(problem.objective.evaluate(x.theta, 2)[2])[-1].item()
                      for x in out],
        "stopped_by": [x.stopped_by for x in out]})
    table["loss_decrease"] = -table["loss"].diff()          # jump k - 1 -> k, so ~ eps_k^2
    return table


def slopes(table: pd.DataFrame) -> pd.DataFrame:
    """The fitted log-log slope of each quantity against eps, per channel."""
    rows = []
    for (seed, width, pair), t in table.groupby(["seed", "width", "pair"], sort=False):
        for q, p in PREDICTED.items():
            ok = t[q].notna() & (t[q] > 0)
            fitted = np.polyfit(np.log(t["eps"][ok]), np.log(t[q][ok]), 1)[0]
            rows.append({"quantity": q, "predicted": p, "fitted": fitted, "width": width,
                         "seed": seed, "pair": pair})
    return pd.DataFrame(rows)


def main() -> None:
    args = arguments(__doc__, jumps={"type": int, "default": 8, "help": "halvings of eps"},
                     flow_time={"type": float, "default": 100.0,
                                "help": "flow time after each jump"},
                     channels={"type": int, "default": 5, "help": "channels to jump along"},
                     name={"default": "channels_jump", "help": "file name of the outputs"})
    ds = channel_results(args.store)
    store = Store(args.store)
    found = channels(args.store, ds, args.channels)
    table = pd.concat([jumps_of(store, ds, row, args.jumps, args.flow_time)
                       for _, row in found.iterrows()], ignore_index=True)
    fitted = slopes(table)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for (seed, pair), t in table.groupby(["seed", "pair"], sort=False):
        for q in PREDICTED:
            ax.loglog(t["eps"], t[q] / t[q].dropna().iloc[0], "o-", c=COLORS[q], ms=3, lw=1,
                      alpha=0.7, label=q if seed == found["seed"].iloc[0] else None)
    eps = np.sort(table["eps"].to_numpy())
    ax.loglog(eps, (eps / eps[-1]) ** 2, "k--", lw=0.8, label="eps^2, eps^-2")
    ax.loglog(eps, (eps / eps[-1]) ** -2, "k--", lw=0.8)
    ax.set(xlabel="eps", ylabel="relative to the first jump",
           title=f"{len(found)} channel(s), width {found['width'].iloc[0]}, "
                 f"P = {found['n_params'].iloc[0]}, seeds {', '.join(map(str, found['seed']))}")
    ax.legend(fontsize=8)
    fig.suptitle("jump procedure along channels (channels-to-infinity Fig. 5)")
    finish(fig, table, args.out, args.name)
    fitted.to_csv(args.out / f"{args.name}_slopes.csv", index=False)
    print(fitted.to_string(index=False))


if __name__ == "__main__":
    main()
