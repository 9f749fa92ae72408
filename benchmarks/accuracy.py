"""Benchmark: how closely the engine and LSODA follow the gradient flow at the benchmark's tolerances.

Same loss-levels problem as ``trajectory.py``.  Reference: the engine with Rodas4 (``flow_rodas``)
at reltol 1e-7, abstol 1e-10.  Compared at reltol 1e-3, abstol 1e-6: the engine (``flow``, ode23s)
and scipy's LSODA (analytic gradient and Hessian, events at gradnorm <= 1e-10 and at maxnorm).
Per trajectory: the same end (maxnorm, or convergence to the same loss level, |dL| <= 1e-8), and
where it left along a channel, the relative error of the flow time at which it reached maxnorm
(weightnorm grows like a power of t there, so this time integrates the error along the channel).

Usage: python benchmarks/accuracy.py [--widths 2 3 4] [--seeds 8]
"""

from __future__ import annotations

import argparse
import platform
import statistics

import numpy as np
import scipy.integrate
import torch

from landscape_hpc.dynamics import DynamicsSpec, integrate
from landscape_hpc.models.objective import weightnorm
from trajectory import GTOL, MAXNORM, problem

End = tuple[str, float, float]  # (how it ended, loss, flow time)


def engine(prob, seed: int, method: str, reltol: float, abstol: float) -> End:
    spec = DynamicsSpec(method=method, reltol=reltol, abstol=abstol,
                        stop={"min_gradnorm": GTOL}, polish={"gtol": GTOL})
    r = integrate(prob, None, spec, seeds=[seed]).records[0]
    return ("maxnorm" if r.stopped_by == "maxnorm" else "converged"), r.loss, r.t


def lsoda(prob, seed: int) -> End:
    obj = prob.objective

    def grad(y):
        return obj.gradient(torch.from_numpy(y)).numpy()

    def converged(t, y):
        return np.abs(grad(y)).max() - GTOL

    def channel(t, y):
        return MAXNORM - float(weightnorm(torch.from_numpy(y)))

    converged.terminal = channel.terminal = True
    sol = scipy.integrate.solve_ivp(
        lambda t, y: -grad(y), (0.0, 1e12), prob.initial_theta(seed).numpy(), method="LSODA",
        jac=lambda t, y: -obj.hessian(torch.from_numpy(y)).numpy(), rtol=1e-3, atol=1e-6,
        events=(converged, channel))
    end = "maxnorm" if len(sol.t_events[1]) else "converged"
    return end, float(obj.loss(torch.from_numpy(sol.y[:, -1]))), float(sol.t[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}; "
          f"widths {args.widths}, {args.seeds} seeds")
    print("width  method  same end  channels  median |dT|/T  max |dT|/T")
    for width in args.widths:
        prob = problem(width)
        same = {"engine": 0, "lsoda": 0}
        dT: dict[str, list[float]] = {"engine": [], "lsoda": []}
        for seed in range(args.seeds):
            ref = engine(prob, seed, "flow_rodas", 1e-7, 1e-10)
            for name, run in (("engine", lambda: engine(prob, seed, "flow", 1e-3, 1e-6)),
                              ("lsoda", lambda: lsoda(prob, seed))):
                end, loss, t = run()
                if end == ref[0] and (end == "maxnorm" or abs(loss - ref[1]) <= 1e-8):
                    same[name] += 1
                if end == ref[0] == "maxnorm":
                    dT[name].append(abs(t / ref[2] - 1))
        for name in ("engine", "lsoda"):
            d = dT[name]
            stats = (f"{statistics.median(d):13.3f}  {max(d):10.3f}" if d else
                     f"{'-':>13}  {'-':>10}")
            print(f"{width:5d}  {name:6s}  {same[name]:4d}/{args.seeds:<3d}  {len(d):8d}  {stats}",
                  flush=True)


if __name__ == "__main__":
    main()
