"""symmetry-induced-critical-points Fig. 1c and Fig. 5: mild vs vast overparameterisation, and the
classes of the neurons of global minima.

    landscape-hpc run sweeps/symmetry_induced.yaml --store runs/symmetry_induced.zarr
    python analysis/symmetry_induced.py runs/symmetry_induced.zarr --out figures/

Left (Fig. 1c, 5 left): the final loss of every seed, sorted, per student (width and activation);
the dashed line is the loss 1e-7 the training aims for.  Right (Fig. 5 right): the hidden neurons
of all tasks that reach it, classified against the teacher: copies of a teacher neuron (within
1 degree) and zero-type neurons by group size (1: vanishing output weight; k >= 2: k neurons with
equal input vectors whose output weights sum to zero).  The CSV lists per student the tasks, the
share reaching the loss, those below 1e-15 (``exact``: App. A's polished global minima), the
polish method and its budget (steps or evaluations), the tasks that reach 1e-7 but not 1e-15
because the polish ran out of it (``budget_spent``), the highest loss below 1e-7, and the
number of symmetry-induced critical manifolds T(4, m) of Thm. 3.1 (the closed form) for the student width m; ``_neurons.csv`` the neuron classes per
student (of the tasks that reach the loss).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch
from common import arguments, cell, finish, plt, task_table

from landscape_hpc.analysis import T, neuron_classes
from landscape_hpc.analysis.store import TEACHER, group_network, teacher_results
from landscape_hpc.dynamics import DynamicsSpec
from landscape_hpc.store import Store
from landscape_hpc.targets import teacher_network

TARGET_LOSS = 1e-7
EXACT_LOSS = 1e-15   # App. A: the polished global minima are below it


def neuron_kinds(store: Store, ds, rows: pd.DataFrame) -> Counter:
    """Counts of 'copy' and 'zero, group size k' over the neurons of ``rows``."""
    counts: Counter = Counter()
    for _, row in rows.iterrows():
        task = cell(ds, row)
        config = store.group_config(int(task["group"]))
        net = group_network(config)
        teacher, theta_t = teacher_network(config["problem"]["target"], net.input_dim)
        theta = torch.from_numpy(task["theta"].values[:net.num_params])
        c = neuron_classes(net, theta, teacher, theta_t)
        for kind, size in zip(c.kind, c.group_size):
            counts["copy" if kind == "copy" else f"zero, group size {size}"
                   if kind in ("zero", "group") else "other"] += 1
    return counts


def main() -> None:
    args = arguments(__doc__)
    store = Store(args.store)
    ds = teacher_results(args.store)
    df = task_table(ds, [*TEACHER, "polish_stopped_by"])
    configs = [store.group_config(int(cell(ds, row)["group"])) for _, row in df.iterrows()]
    df["width"] = [group_network(c).spec.widths[0] for c in configs]
    polishes = [DynamicsSpec.model_validate(c["dynamics"]).polish for c in configs]
    df["polish"] = [p.method if p else "off" for p in polishes]
    df["polish_budget"] = [p.maxsteps if p else 0 for p in polishes]
    df["label"] = df["student"].str.strip("[]").str.replace('"', "")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = []
    for student, g in df.groupby("label", sort=False):
        loss = np.sort(g["loss"].to_numpy())
        left.plot(np.arange(1, len(loss) + 1), loss, "o-", ms=3, label=f"width {student}")
        m = int(g["width"].iloc[0])
        rows.append({"student": student, "tasks": len(g),
                     "reached": int((g["loss"] < TARGET_LOSS).sum()),
                     "share": float((g["loss"] < TARGET_LOSS).mean()),
                     "exact": int((g["loss"] < EXACT_LOSS).sum()),
                     "polish": g["polish"].iloc[0], "polish_budget": g["polish_budget"].iloc[0],
                     "budget_spent": int(((g["loss"] < TARGET_LOSS) & (g["loss"] >= EXACT_LOSS)
                                          & (g["polish_stopped_by"] == "maxsteps")).sum()),
                     "worst_reached_loss": float(g["loss"][g["loss"] < TARGET_LOSS].max()),
                     "median_loss": float(np.median(loss)), "T(4, m)": T(4, m) if m >= 4 else 0})
    left.axhline(TARGET_LOSS, ls="--", c="k", lw=0.8)
    left.set(yscale="log", xlabel="seeds, sorted by loss", ylabel="final loss",
             title="mild vs vast overparameterisation (Fig. 1c)")
    left.legend(fontsize=8)
    reached = df[df["loss"] < TARGET_LOSS]
    by_student = {student: (int(g["width"].sum()), neuron_kinds(store, ds, g))
                  for student, g in reached.groupby("label", sort=False)}
    kinds = sum((c for _, c in by_student.values()), Counter())
    per_student = pd.DataFrame(
        [{"student": student, "neurons": n, "kind": kind, "count": k}
         for student, (n, c) in by_student.items() for kind, k in sorted(c.items())],
        columns=["student", "neurons", "kind", "count"])
    order = sorted(kinds, key=lambda k: (k != "copy", k))
    right.bar(range(len(order)), [kinds[k] for k in order])
    right.set_xticks(range(len(order)), order, rotation=30, ha="right", fontsize=8)
    right.set(ylabel="neurons", title="neurons of the tasks below the loss (Fig. 5 right)")
    fig.suptitle(f"{ds.attrs.get('sweep', 'symmetry')}: symmetry-induced critical points")
    table = pd.DataFrame(rows)
    finish(fig, table, args.out, "symmetry_induced")
    per_student.to_csv(args.out / "symmetry_induced_neurons.csv", index=False)
    print("neuron classes:", dict(kinds))


if __name__ == "__main__":
    main()
