"""Benchmark of the xarray layer: loss histogram and convergence fractions over many tasks.

    python benchmarks/aggregate.py                 # 10^5 and 10^6 tasks, both layouts
    python benchmarks/aggregate.py --sizes 100000

Each (size, layout, operation) runs in a fresh process, which builds a synthetic in-memory
results dataset (10 widths x 2 activations x N/20 seeds; losses on 60 levels with 1e-6 relative
noise; a mix of stop reasons, polish results and statuses) and reports the operation's wall time
and the process's peak resident memory (getrusage) before and after it.  Layouts: ``task`` (the
store's raw view), ``axes`` (reshaped by results_by_axes beforehand), and ``store``: a real store
on disk (planned from a sweep of 10 widths x N/10 seeds, units of 1000 tasks, the record fields
filled with the same synthetic values), timed end to end from ``open_results(path)``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def synthetic(n: int, seed: int = 0):
    """A raw (``task``-dim) results dataset of ``n`` tasks, as the store's open_results gives."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    seeds = n // 20
    width = np.repeat(np.arange(1, 11), 2 * seeds)
    activation = np.tile(np.repeat(np.array(["g", "relu"], dtype=object), seeds), 10)
    levels = np.geomspace(1e-4, 1.0, 60)
    loss = rng.choice(levels, n) * (1 + 1e-6 * rng.standard_normal(n))
    stops = np.array(["min_gradnorm", "maxnorm", "patience", "maxtime"], dtype=object)
    stopped_by = stops[rng.choice(4, n, p=[0.7, 0.15, 0.1, 0.05])]
    polish = np.where(stopped_by == "min_gradnorm", "gtol", "skipped").astype(object)
    status = rng.choice(np.int8([3, 4, 1]), n, p=[0.98, 0.01, 0.01])
    return xr.Dataset(
        {"loss": ("task", loss), "stopped_by": ("task", stopped_by),
         "polish_stopped_by": ("task", polish), "status": ("task", status),
         "n_negative": ("task", rng.choice(np.int32([0, 1, 2]), n, p=[0.8, 0.15, 0.05]))},
        coords={"width": ("task", width), "activation": ("task", activation),
                "seed": ("task", np.tile(np.arange(seeds), 20)),
                "task_id": ("task", np.arange(n).astype(str).astype(object))},
        attrs={"axes": ["width", "activation"]})


SWEEP = """\
name: bench
fixed:
  problem:
    net: {input_dim: 2, activation: g, biases: false}
    target: {kind: rosenbrock}
    inputs: {kind: grid, n: 144}
  dynamics: {method: flow}
grid:
  width: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  seed: {range: %d}
units: {size: 1000}
"""


def make_store(n: int, folder: str) -> str:
    """A store of ``n`` tasks on disk whose record fields hold the synthetic values."""
    from pathlib import Path

    from landscape_hpc.store import Store
    from landscape_hpc.sweep import plan_sweep

    sweep = Path(folder) / "bench.yaml"
    sweep.write_text(SWEEP % (n // 10))
    st, _ = Store.create_or_extend(Path(folder) / "bench.zarr", plan_sweep(sweep))
    values = synthetic(st.tasks["status"].shape[0])
    used = st.tasks["status"][:] != 0
    for name in ("loss", "stopped_by", "polish_stopped_by", "n_negative", "status"):
        v = values[name].values
        st.tasks[name][:] = np.where(used, v, st.tasks[name].fill_value) if name == "status" else v
    return str(st.path)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(n: int, layout: str, op: str) -> dict:
    from landscape_hpc.aggregate import convergence_fractions, loss_histogram, results_by_axes

    fn = {"histogram": loss_histogram, "fractions": convergence_fractions}[op]
    if layout == "store":
        import tempfile

        from landscape_hpc.aggregate import open_results

        with tempfile.TemporaryDirectory() as folder:
            path = make_store(n, folder)
            before = rss_mib()
            t0 = time.perf_counter()
            result = fn(open_results(path), by=["width"])
            seconds = time.perf_counter() - t0
    else:
        ds = synthetic(n)
        if layout == "axes":
            ds = results_by_axes(ds)
        before = rss_mib()
        t0 = time.perf_counter()
        result = fn(ds, by=["width", "activation"])
        seconds = time.perf_counter() - t0
    return {"tasks": n, "layout": layout, "op": op, "seconds": round(seconds, 3),
            "peak_rss_mib_before": round(before), "peak_rss_mib": round(rss_mib()),
            "groups": int(result["n_tasks"].size)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--layouts", default="task,axes,store")
    p.add_argument("--one", nargs=3, metavar=("N", "LAYOUT", "OP"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]), args.one[1], args.one[2])))
        return
    print(f"{'tasks':>8} {'layout':>6} {'operation':>10} {'seconds':>8} {'peak RSS MiB':>13}")
    for n in map(int, args.sizes.split(",")):
        for layout in args.layouts.split(","):
            for op in ("histogram", "fractions"):
                out = subprocess.run([sys.executable, __file__, "--one", str(n), layout, op],
                                     capture_output=True, text=True, check=True).stdout
                r = json.loads(out.splitlines()[-1])
                print(f"{n:>8} {layout:>6} {op:>10} {r['seconds']:>8.2f} "
                      f"{r['peak_rss_mib']:>13} (before: {r['peak_rss_mib_before']})", flush=True)


if __name__ == "__main__":
    main()
