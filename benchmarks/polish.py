"""The two polishes on the same end points: Newton (root of the gradient) vs Levenberg-Marquardt
on the residuals (``polish: {method: lm}``), from the final thetas of a store.

For the first ``--seeds`` done tasks of every group of STORE, both polishes start from the
stored theta with the same budget of steps (Newton) or evaluations (LM), one theta at a time on
one thread; per group it prints the median loss before and after, the share below ``--exact``
(App. A of symmetry-induced-critical-points: the polished global minima are below 1e-15), the
median polish wall time per theta, and the stop reasons::

    python benchmarks/polish.py runs/symmetry_induced.zarr --seeds 5 --maxsteps 500
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import torch

from landscape_hpc.dynamics.polish import polish
from landscape_hpc.dynamics.record import POLISH_REASONS
from landscape_hpc.dynamics.spec import PolishSpec
from landscape_hpc.problem import build_problem
from landscape_hpc.store import DONE, Store, open_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--maxsteps", type=int, default=500)
    parser.add_argument("--exact", type=float, default=1e-15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    store, raw = Store(args.store), open_results(args.store)
    group, status = raw["group"].values, raw["status"].values
    print("| group | net | seeds | loss before | method | loss after | below exact | "
          "s per theta | stops |\n|---|---|---:|---:|---|---:|---:|---:|---|")
    for g in np.unique(group[status == DONE]):
        idx = np.flatnonzero((group == g) & (status == DONE))[:args.seeds]
        problem = build_problem(store.group_config(int(g))["problem"])
        obj, P = problem.objective, problem.net.num_params
        theta = torch.from_numpy(raw["theta"].values[idx, :P])
        before = obj.value(theta).numpy()
        for method in ("newton", "lm"):
            spec = PolishSpec(method=method, maxsteps=args.maxsteps)
            after, stops, seconds = [], Counter(), []
            for row in theta:
                t0 = time.perf_counter()
                x, code, *_ = polish(obj, row[None], spec, torch.tensor([True]))
                seconds.append(time.perf_counter() - t0)
                after.append(float(obj.value(x)[0]))
                stops[POLISH_REASONS[int(code[0])]] += 1
            after = np.array(after)
            print(f"| {g} | {problem.net.spec.widths}, {problem.net.spec.activation} | "
                  f"{len(idx)} | {np.median(before):.1e} | {method} | {np.median(after):.1e} | "
                  f"{int((after < args.exact).sum())}/{len(idx)} | {np.median(seconds):.2f} | "
                  f"{dict(stops)} |", flush=True)


if __name__ == "__main__":
    main()
