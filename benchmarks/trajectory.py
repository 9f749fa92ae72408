"""Benchmark: time per trajectory to a certified end point on the loss-levels problem.

Problem (channels-to-infinity.txt, Figure 2): one hidden layer of width 1..5, d = 2, 10^4 grid
inputs, Rosenbrock target, activation g, no biases, mean squared error, maxnorm 10^3; theta_0
Glorot normal with seeds 0..n-1.  Certified end point: gradient infinity-norm <= 1e-10, or the
maxnorm reached (a channel); with slack (1% on the gradient norm, 1e-9 relative on the maxnorm)
for every method, because solve_ivp locates its terminal events only to the root finder's
tolerance, on either side.
Methods, all with one torch thread, float64:

* engine-single   ``integrate`` (stiff Rosenbrock flow, reltol 1e-3, abstol 1e-6, Newton polish),
                  one trajectory per call
* engine-batch    the same, all seeds of a width in one call; each trajectory is charged the
                  batch's time in proportion to the steps it took part in (accepted + rejected),
                  so the charges sum to the total and have a median (mean = total / n)
* engine-rodas    engine-single with method flow_rodas (Rodas4, order 4) instead of ode23s
* lsoda, bdf      scipy.integrate.solve_ivp with the same tolerances, gradient and Hessian (as
                  ``jac``) from torch.func (EmpiricalLoss(analytic=False)), terminal events at
                  gradnorm <= 1e-10 and at maxnorm, wall time capped (``--cap``; then not certified)
* adam+bfgs       Adam (eta 1e-2, 5000 steps) then scipy BFGS (gtol 1e-10) on the same gradient

``--paired`` runs engine-single and LSODA seed by seed, alternately, and reports the median of the
per-seed time ratios as well: on a VM whose speed drifts by 20-30% over minutes this ratio is
steadier than the ratio of medians taken minutes apart.

The batching lever is for many small trajectories, where Python overhead per step dominates: a
second table runs engine-single and engine-batch on the same problem with 100 grid inputs and
``--small-seeds`` seeds per width.

The process's malloc thresholds are set first (``landscape_hpc.dynamics.allocator``, as
``integrate`` does), so the baselines' torch evaluations run on the same allocator as the engine;
``LANDSCAPE_HPC_MALLOC=default`` leaves glibc's defaults for all.

Usage: python benchmarks/trajectory.py [--quick] [--paired] [--widths 1 2 3 4 5] [--seeds 20]
       [--cap 60]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import scipy.integrate
import scipy.optimize
import torch

from landscape_hpc.dynamics import DynamicsSpec, integrate
from landscape_hpc.dynamics.allocator import tune_allocator
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.objective import weightnorm
from landscape_hpc.problem import build_problem

GTOL, MAXNORM = 1e-10, 1000.0
#: what counts as certified: GTOL and MAXNORM with solve_ivp's event-location slack
CERT_GTOL, CERT_MAXNORM = 1.01 * GTOL, (1 - 1e-9) * MAXNORM


def problem(width: int, n: int = 10000):
    return build_problem({"net": {"input_dim": 2, "widths": [width], "activation": "g"},
                          "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": n},
                          "loss": {"maxnorm": MAXNORM}})


def certified(gradnorm: float, wn: float) -> bool:
    return gradnorm <= CERT_GTOL or wn >= CERT_MAXNORM


def engine(prob, seeds: list[int], batched: bool, method: str = "flow"
           ) -> list[tuple[float, bool, float]]:
    spec = DynamicsSpec(method=method, stop={"min_gradnorm": GTOL}, polish={"gtol": GTOL})
    groups = [seeds] if batched else [[s] for s in seeds]
    out = []
    for group in groups:
        t0 = time.perf_counter()
        recs = integrate(prob, None, spec, seeds=group).records
        total = time.perf_counter() - t0
        calls = [r.steps + r.rejected + 1 for r in recs]
        out += [(total * c / sum(calls), certified(r.gradnorm, r.weightnorm), r.gradnorm)
                for r, c in zip(recs, calls)]
    return out


class _Timeout(Exception):
    pass


def scipy_flow(prob, seed: int, method: str, cap: float) -> tuple[float, bool, float]:
    obj = EmpiricalLoss(prob.net, prob.x, prob.y, prob.spec.loss, analytic=False)
    t0 = time.perf_counter()

    def grad(y):
        if time.perf_counter() - t0 > cap:
            raise _Timeout
        return obj.gradient(torch.from_numpy(y)).numpy()

    def fun(t, y):
        return -grad(y)

    def jac(t, y):
        return -obj.hessian(torch.from_numpy(y)).numpy()

    def converged(t, y):
        return np.abs(grad(y)).max() - GTOL

    def channel(t, y):
        return MAXNORM - float(weightnorm(torch.from_numpy(y)))

    converged.terminal = channel.terminal = True
    y0 = prob.initial_theta(seed).numpy()
    y = y0
    try:
        sol = scipy.integrate.solve_ivp(fun, (0.0, 1e12), y0, method=method, jac=jac, rtol=1e-3,
                                        atol=1e-6, events=(converged, channel))
        y = sol.y[:, -1]
    except _Timeout:
        return time.perf_counter() - t0, False, float("nan")
    dt = time.perf_counter() - t0
    g = float(np.abs(obj.gradient(torch.from_numpy(y)).numpy()).max())
    return dt, certified(g, float(weightnorm(torch.from_numpy(y)))), g


def adam_bfgs(prob, seed: int) -> tuple[float, bool, float]:
    t0 = time.perf_counter()
    spec = DynamicsSpec(method="adam", eta=1e-2, stop={"maxsteps": 5000, "min_gradnorm": GTOL},
                        polish=None, snapshots={"per_decade": 0})
    rec = integrate(prob, None, spec, seeds=[seed]).records[0]
    obj = prob.objective
    th = rec.theta
    if rec.stopped_by not in ("maxnorm", "nonfinite", "min_gradnorm"):
        def fg(y):
            v, g = obj.evaluate(torch.from_numpy(y), 1)
            return float(v), g.numpy()
        th = scipy.optimize.minimize(fg, th, jac=True, method="BFGS",
                                     options={"gtol": GTOL, "maxiter": 2000}).x
    dt = time.perf_counter() - t0
    t = torch.from_numpy(th)
    g = float(obj.gradient(t).abs().max())
    return dt, certified(g, float(weightnorm(t))), g


def summary(rows: list[tuple[float, bool, float]]) -> str:
    times = [r[0] for r in rows]
    share = sum(r[1] for r in rows) / len(rows)
    gs = [r[2] for r in rows if r[1] and np.isfinite(r[2]) and r[2] <= CERT_GTOL]
    gmed = f"{statistics.median(gs):.1e}" if gs else "-"
    return (f"{statistics.median(times):9.3f} s  {statistics.fmean(times):9.3f} s  "
            f"{100 * share:5.0f} %  {gmed:>8}")


def paired(prob, seeds: list[int], cap: float) -> str:
    """engine-single and LSODA alternately, seed by seed; medians and the median per-seed ratio."""
    eng, lso = [], []
    for s in seeds:
        eng += engine(prob, [s], False)
        lso.append(scipy_flow(prob, s, "LSODA", cap))
    ratio = statistics.median(b[0] / a[0] for a, b in zip(eng, lso))
    return (f"{'engine-single':14s}  {summary(eng)}\n       {'lsoda':14s}  {summary(lso)}\n"
            f"       LSODA / engine-single, median of per-seed ratios: {ratio:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="widths 2 and 4, 4 seeds, cap 20 s")
    ap.add_argument("--widths", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cap", type=float, default=60.0, help="wall-time cap of a scipy trajectory")
    ap.add_argument("--small-seeds", type=int, default=64, help="0: no small-problem table")
    ap.add_argument("--paired", action="store_true",
                    help="engine-single and LSODA alternately per seed (no other method)")
    ap.add_argument("--methods", nargs="+",
                    default=["engine-single", "engine-batch", "lsoda", "bdf", "adam+bfgs"])
    args = ap.parse_args()
    if args.quick:
        args.widths, args.seeds, args.cap, args.small_seeds = [2, 4], 4, 20.0, 32
    torch.set_num_threads(1)
    tuned = tune_allocator()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"malloc thresholds {'set' if tuned else 'default'}, 1 thread; widths {args.widths}, {args.seeds} seeds, scipy cap {args.cap} s")
    print("width  method          median time/traj  mean time/traj  certified  median gradnorm "
          "(certified)")
    seeds = list(range(args.seeds))
    for width in args.widths:
        prob = problem(width)
        if args.paired:
            print(f"{width:5d}  {paired(prob, seeds, args.cap)}", flush=True)
            continue
        runs = {
            "engine-single": lambda: engine(prob, seeds, False),
            "engine-batch": lambda: engine(prob, seeds, True),
            "engine-rodas": lambda: engine(prob, seeds, False, "flow_rodas"),
            "lsoda": lambda: [scipy_flow(prob, s, "LSODA", args.cap) for s in seeds],
            "bdf": lambda: [scipy_flow(prob, s, "BDF", args.cap) for s in seeds],
            "adam+bfgs": lambda: [adam_bfgs(prob, s) for s in seeds],
        }
        for name in args.methods:
            print(f"{width:5d}  {name:14s}  {summary(runs[name]())}", flush=True)
    if args.small_seeds == 0 or args.paired:
        return
    print(f"\n# small problem: 100 grid inputs, {args.small_seeds} seeds per width")
    small = list(range(args.small_seeds))
    for width in args.widths:
        prob = problem(width, 100)
        for name, batched in (("engine-single", False), ("engine-batch", True)):
            print(f"{width:5d}  {name:14s}  {summary(engine(prob, small, batched))}", flush=True)


if __name__ == "__main__":
    main()
