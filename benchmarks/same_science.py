"""Same science: do two engines reach the same end points on a sample of a sweep's tasks?

Runs a stratified sample of a sweep (the first ``--seeds`` seeds of every ``--every``-th group)
with this tree's engine and with a reference tree (another checkout, e.g. a git worktree of the
commit before a change, imported through PYTHONPATH in a subprocess), each on its own sweep file
of the same name, one batch per group as the worker runs it, and compares per seed:

* the class, by the rules of :mod:`landscape_hpc.aggregate.outcomes` that one end point decides
  (no store-wide lowest level): channel, global_min (converged at zero loss, below 1e-10),
  saddle, local_min or not_converged;
* for converged end points the loss level: |L1 - L2| <= 1e-6 max(|L1|, |L2|) + 1e-12.

``--maxtime`` caps every trajectory in both runs (a trajectory the cap stops is not_converged).
Writes one CSV row per seed and prints the summary and every difference::

    python benchmarks/same_science.py sweeps/relu_population.yaml --reference /tmp/head \\
        --seeds 8 --every 1 --out benchmarks/same_science/relu_population.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RTOL, ATOL = 1e-6, 1e-12
FIELDS = ("seed", "stopped_by", "polish_stopped_by", "loss", "gradnorm", "n_negative", "t",
          "steps", "wall_time")


def run_groups(sweep: str, profile: str | None, every: int, seeds: int, maxtime: float,
               only: str | None) -> list[dict]:
    """This interpreter's engine on the sample: one dict per (group, seed)."""
    import torch

    from landscape_hpc.dynamics import DynamicsSpec, integrate
    from landscape_hpc.problem import build_problem
    from landscape_hpc.sweep import plan_sweep

    torch.set_num_threads(1)
    plan = plan_sweep(sweep, profile)
    rows = []
    for g in plan.groups[::every]:
        settings = {k: v for k, v in g.settings.items() if k != "seed"}
        if only and not eval(only, {}, dict(settings)):  # noqa: S307 (a benchmark option)
            continue
        problem = build_problem(g.config["problem"])
        dyn = json.loads(json.dumps(g.config["dynamics"]))
        stop = dyn.setdefault("stop", {})
        stop["maxtime"] = min(maxtime, stop.get("maxtime", maxtime))
        spec = DynamicsSpec.model_validate(dyn)
        chosen = [int(s) for s in g.seeds[:seeds]]
        theta0 = torch.stack([problem.initial_theta(s) for s in chosen])
        start = time.perf_counter()
        records = integrate(problem, theta0, spec, seeds=chosen).records
        print(f"  {json.dumps(settings)}: {len(chosen)} in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
        for s, r in zip(chosen, records):
            d = r.to_dict()
            rows.append({"group": json.dumps(settings, sort_keys=True), "method": spec.method,
                         **{k: (d[k] if k != "seed" else s) for k in FIELDS}})
    return rows


def classify(rows: list[dict]) -> list[str]:
    """The outcome class of each end point (rows of :func:`run_groups`)."""
    from landscape_hpc.aggregate.outcomes import CLASSES, ZERO_LOSS, outcome_codes
    from landscape_hpc.store.layout import DONE

    cols = {"loss": np.array([float(r["loss"]) for r in rows]),
            "n_negative": np.array([int(r["n_negative"]) for r in rows])}
    cols |= {k: np.array([r[k] for r in rows]) for k in ("stopped_by", "polish_stopped_by")}
    cols["status"] = np.full(len(rows), DONE)
    return [CLASSES[c] for c in outcome_codes(cols, ZERO_LOSS, ZERO_LOSS)]


def compare(new: dict, ref: dict, c_new: str, c_ref: str) -> str:
    """'' where the end points (of classes ``c_new`` and ``c_ref``) agree, else what differs."""
    if c_ref != c_new:
        return f"class {c_ref} -> {c_new}"
    if c_ref in ("global_min", "local_min", "saddle"):
        a, b = float(ref["loss"]), float(new["loss"])
        if abs(a - b) > RTOL * max(abs(a), abs(b)) + ATOL:
            return f"loss {a:.10g} -> {b:.10g}"
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--reference", help="root of the reference tree (imported via PYTHONPATH)")
    ap.add_argument("--profile")
    ap.add_argument("--every", type=int, default=1, help="every k-th group")
    ap.add_argument("--seeds", type=int, default=8, help="first seeds of each group")
    ap.add_argument("--maxtime", type=float, default=300.0, help="cap per trajectory, s")
    ap.add_argument("--only", help="python expression on a group's settings, e.g. 'width == 5'")
    ap.add_argument("--out", help="CSV of every seed")
    ap.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.emit:  # the reference side: rows as JSON on stdout
        json.dump(run_groups(a.sweep, a.profile, a.every, a.seeds, a.maxtime, a.only), sys.stdout)
        return
    cmd = [sys.executable, __file__, str(Path(a.reference) / a.sweep), "--emit",
           "--every", str(a.every), "--seeds", str(a.seeds), "--maxtime", str(a.maxtime)]
    cmd += ["--profile", a.profile] if a.profile else []
    cmd += ["--only", a.only] if a.only else []
    print(f"reference {a.reference}", file=sys.stderr)
    env = {**os.environ, "PYTHONPATH": str(Path(a.reference).resolve())}
    ref = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=False,
                                    stdout=subprocess.PIPE, text=True).stdout)
    print("this tree", file=sys.stderr)
    new = run_groups(a.sweep, a.profile, a.every, a.seeds, a.maxtime, a.only)
    ref_by = {(r["group"], r["seed"]): r for r in ref}
    refs = [ref_by[(n["group"], n["seed"])] for n in new]
    out, diffs = [], []
    for n, r, c_new, c_ref in zip(new, refs, classify(new), classify(refs)):
        diff = compare(n, r, c_new, c_ref)
        out.append({"group": n["group"], "seed": n["seed"], "class_ref": c_ref,
                    "class_new": c_new, "loss_ref": r["loss"], "loss_new": n["loss"],
                    "stopped_by_ref": r["stopped_by"], "stopped_by_new": n["stopped_by"],
                    "method_ref": r["method"], "method_new": n["method"],
                    "wall_ref": r["wall_time"], "wall_new": n["wall_time"], "diff": diff})
        if diff:
            diffs.append(out[-1])
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(out[0]))
            w.writeheader()
            w.writerows(out)
    same = len(out) - len(diffs)
    wall_ref = sum(float(o["wall_ref"]) for o in out)
    wall_new = sum(float(o["wall_new"]) for o in out)
    print(f"{a.sweep}: {same}/{len(out)} same end points ({100 * same / len(out):.1f}%); "
          f"trajectory wall time reference {wall_ref:.0f} s, new {wall_new:.0f} s "
          f"({wall_ref / max(wall_new, 1e-9):.1f}x)")
    for d in diffs:
        print(f"  differs: {d['group']} seed {d['seed']}: {d['diff']} "
              f"(stopped_by {d['stopped_by_ref']} -> {d['stopped_by_new']})")


if __name__ == "__main__":
    main()
