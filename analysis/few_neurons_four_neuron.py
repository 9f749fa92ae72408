"""few-neurons-theory Table 1 and Fig. 5 (A.1): the minima of a width-4 student of a width-4
teacher in d = 2.

    landscape-hpc run sweeps/few_neurons_four_neuron.yaml --store runs/few_neurons_four_neuron.zarr
    python analysis/few_neurons_four_neuron.py runs/few_neurons_four_neuron.zarr --out figures/

Converged tasks are grouped by loss level; per level the CSV has the share of tasks, mean loss and
gradient norm, the smallest, second smallest and largest Hessian eigenvalue (Table 1) and the
neuron classes against the teacher (copies, zero output weight, zero-sum groups).  The figure
shows, per level, the input vectors w_i of its first task (labelled with a_i) and the teacher's
(black), as Fig. 5 does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from common import CONVERGED, arguments, finish, plt, task_table

from landscape_hpc.aggregate import cluster
from landscape_hpc.analysis.store import TEACHER, group_network, teacher_results
from landscape_hpc.store import Store
from landscape_hpc.targets import teacher_network


def main() -> None:
    args = arguments(__doc__)
    ds = teacher_results(args.store)
    df = task_table(ds, list(TEACHER))
    eig = ds["eigenvalues"].stack(task=[*ds.attrs["axes"], "seed"]).transpose("task", "param")
    df = df.assign(**{f"eig{k}": eig.values[df.index, k] for k in (0, 1)},
                   eig_max=np.nanmax(eig.values[df.index], -1))
    conv = df[df["outcome"].isin(CONVERGED)].copy()
    conv["level"] = cluster(conv["loss"].to_numpy()).index
    rows = conv.groupby("level").agg(
        tasks=("seed", "size"), loss=("loss", "mean"), grad=("gradnorm", "mean"),
        min_eig=("eig0", "mean"), second_min_eig=("eig1", "mean"), max_eig=("eig_max", "mean"),
        copies=("n_copy", "median"), zero=("n_zero", "median"), groups=("n_group", "median"),
        first_seed=("seed", "min")).reset_index()
    rows.insert(2, "fraction", rows["tasks"] / len(df))
    rows = pd.concat([rows, pd.DataFrame([{"level": "not converged / channel",
                                           "tasks": len(df) - len(conv),
                                           "fraction": (len(df) - len(conv)) / len(df)}])])
    config = Store(args.store).group_config(0)
    net = group_network(config)
    teacher, theta_t = teacher_network(config["problem"]["target"], net.input_dim)
    v = teacher.view(theta_t, "w").numpy()
    levels = rows[rows["level"] != "not converged / channel"]
    fig, axes = plt.subplots(1, max(len(levels), 1), figsize=(4 * max(len(levels), 1), 4),
                             squeeze=False)
    theta = ds["theta"].sel(seed=levels["first_seed"].to_numpy()).values
    for ax, (_, lv), th in zip(axes[0], levels.iterrows(), torch.from_numpy(theta)):
        th = th[:net.num_params]
        w, a = net.view(th, "w").numpy(), net.readout(th)[0].numpy()
        ax.scatter(v[:, 0], v[:, 1], c="k", s=30, label="teacher")
        ax.scatter(w[:, 0], w[:, 1], c="tab:red", s=20, label="student")
        for wi, ai in zip(w, a):
            ax.annotate(f"{ai:.2f}", wi, fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set(title=f"loss {lv['loss']:.3g} ({lv['tasks']:.0f} tasks)", aspect="equal")
        ax.axhline(0, c="0.8", lw=0.5)
        ax.axvline(0, c="0.8", lw=0.5)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{ds.attrs.get('sweep', 'four neurons')}: minima of the width-4 student "
                 "(few-neurons Fig. 5, Table 1)")
    finish(fig, rows, args.out, "few_neurons_four_neuron")


if __name__ == "__main__":
    main()
