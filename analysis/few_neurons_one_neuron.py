"""few-neurons-theory Fig. 2: the one-neuron student of k orthonormal teacher neurons.

    landscape-hpc run sweeps/few_neurons_one_neuron.yaml --store runs/few_neurons_one_neuron.zarr
    python analysis/few_neurons_one_neuron.py runs/few_neurons_one_neuron.zarr --out figures/

Per activation, against the teacher width k: (a) ||w|| a, with Thm. 3.3 for relu
(k h(u) / h(1), u = 1/sqrt(k), h the arc-cosine kernel) and sqrt(k); (b) ||w|| with 1/sqrt(k)
(Thm. 3.4: ||w|| <= 1/sqrt(k) for softplus); (c) a with k (Thm. 3.4: a >= k for softplus).  The
CSV also has the smallest and largest similarity cos(w, v_i), all 1/sqrt(k) at the optimum
(-1/sqrt(k) for the sign-flipped tanh solution, drawn as (||w||, |a|) like the paper).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from common import arguments, finish, plt, task_table

from landscape_hpc.analysis.store import group_network, per_group
from landscape_hpc.models.population import gaussian_kernel
from landscape_hpc.targets import teacher_network

NEURON = {"norm_w": "||w|| of the student neuron", "a": "its output weight",
          "sim_min": "smallest cos(w, v_i) over the teacher neurons", "sim_max": "largest"}


def neuron(tasks: xr.Dataset, config: dict) -> dict[str, np.ndarray]:
    net = group_network(config)
    teacher, theta_t = teacher_network(config["problem"]["target"], net.input_dim)
    v = teacher.view(theta_t, "w")
    theta = torch.from_numpy(tasks["theta"].values[:, :net.num_params])
    w, a = net.view(theta, "w")[:, 0], net.readout(theta)[:, 0, 0]
    norm = w.norm(dim=-1)
    sim = (w @ v.T) / (norm[:, None] * v.norm(dim=-1))
    return {"norm_w": norm.numpy(), "a": a.numpy(), "sim_min": sim.min(-1).values.numpy(),
            "sim_max": sim.max(-1).values.numpy()}


def relu_theorem(k: np.ndarray) -> np.ndarray:
    """||w*|| a* = k h(u) / h(1) with u = 1/sqrt(k) (Thm. 3.3, eq. 15)."""
    u = 1 / np.sqrt(k)
    e1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    vec = torch.from_numpy(np.stack([u, np.sqrt(1 - u**2)], -1))
    return k * (gaussian_kernel("relu", e1, vec) / gaussian_kernel("relu", e1, e1)).numpy()


def main() -> None:
    args = arguments(__doc__)
    ds = per_group(args.store, neuron, NEURON)
    df = task_table(ds, list(NEURON)).rename(columns={"teacher_width": "k"})
    flip = df["a"] < 0                                      # the sign-symmetric tanh solution
    df["abs_a"] = df["a"].abs()
    df.loc[flip, ["sim_min", "sim_max"]] = -df.loc[flip, ["sim_max", "sim_min"]].to_numpy()
    df["norm_w_a"] = df["norm_w"] * df["abs_a"]
    df["activation"] = df["activation"].astype(str)
    ks = np.arange(df["k"].min(), df["k"].max() + 1, dtype=float)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    refs = [("norm_w_a", "||w|| a", [(np.sqrt(ks), "sqrt(k)"), (relu_theorem(ks), "Thm. 3.3")]),
            ("norm_w", "||w||", [(1 / np.sqrt(ks), "1/sqrt(k)")]),
            ("abs_a", "a", [(ks, "k")])]
    for ax, (col, label, curves) in zip(axes, refs):
        for act, g in df.groupby("activation"):
            ax.plot(g["k"], g[col], "o", ms=4, alpha=0.7, label=act)
        for y, name in curves:
            ax.plot(ks, y, "--", lw=1, label=name)
        ax.set(xlabel="teacher neurons k", ylabel=label, yscale="log")
        ax.legend(fontsize=7)
    fig.suptitle(f"{ds.attrs.get('sweep', 'one neuron')}: one-neuron student (few-neurons Fig. 2)")
    table = df[["activation", "k", "seed", "loss", "gradnorm", "norm_w", "a", "norm_w_a",
                "sim_min", "sim_max"]].assign(relu_thm_3_3=relu_theorem(df["k"].to_numpy(float)))
    finish(fig, table, args.out, "few_neurons_one_neuron")


if __name__ == "__main__":
    main()
