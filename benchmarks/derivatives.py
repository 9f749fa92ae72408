"""Benchmark: analytic gradient and Hessian against torch.func on the papers' sweep sizes.

One-hidden-layer networks, activation g = sigmoid(4x) + softplus(x), no biases, N = 10^4 samples,
d in {2, 4, 8, 16}, width in {1..5, 8, 16}, one torch thread, float64.  For each size:

* loss      one loss evaluation (forward pass and squared error)
* grad      our analytic gradient (with the loss), and its cost in units of one loss evaluation
* hess      our analytic Hessian (with loss and gradient)
* func.grad / func.hessian   torch.func.grad and torch.func.hessian of the same loss (baseline)

Times are the minimum over repeats.  Usage: python benchmarks/derivatives.py [--quick]

``--deep`` (issue 13) times the deep nets of sweeps/channels_scaling.yaml instead: 4-4 and 4-4-4,
softplus, biases, d = 2, N = 10^4; the analytic Hessian (models/deep.py, with loss and gradient)
against torch.func.hessian (vmapped over the batch) and against the torch.func path the engine
took before (``EmpiricalLoss(analytic=False).evaluate(theta, 2)``: vmapped loss, grad and
hessian), for one theta and a batch of ``--batch``, in turn in one process (glibc allocator tuned
as in ``integrate``); medians per theta and their ratios.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.func import grad, hessian, vmap

from landscape_hpc.dynamics.allocator import tune_allocator
from landscape_hpc.models.init import InitSpec, initial_theta
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network


def best_time(fn, min_time: float = 0.2, max_repeats: int = 50) -> float:
    fn()  # warm up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_repeats and (time.perf_counter() - start < min_time or len(times) < 3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(d: int, width: int, n: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    net = Network(NetSpec(input_dim=d, widths=width, activation="g", biases=False))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    obj = EmpiricalLoss(net, x, y)
    theta = initial_theta(net, InitSpec(), seed=1)

    def single(t):
        e = net(t, x) - y
        return (e * e).mean()

    func_grad, func_hess = grad(single), hessian(single)
    with torch.no_grad():
        r = {
            "P": net.num_params,
            "loss": best_time(lambda: obj.evaluate(theta, 0)),
            "grad": best_time(lambda: obj.evaluate(theta, 1)),
            "hess": best_time(lambda: obj.evaluate(theta, 2)),
        }
    r["func.grad"] = best_time(lambda: func_grad(theta))
    r["func.hessian"] = best_time(lambda: func_hess(theta), min_time=0.1, max_repeats=5)
    torch.testing.assert_close(obj.hessian(theta), func_hess(theta), rtol=1e-9, atol=1e-12)
    return r


def run_deep(widths: tuple[int, ...], n: int, batch: int, repeats: int) -> dict[str, float]:
    """Median seconds per theta of the analytic and the torch.func Hessian, taken alternately."""
    gen = torch.Generator().manual_seed(0)
    net = Network(NetSpec(input_dim=2, widths=widths, activation="softplus", biases=True))
    x = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    obj, before = EmpiricalLoss(net, x, y), EmpiricalLoss(net, x, y, analytic=False)
    theta = initial_theta(net, InitSpec(), seed=1, batch=batch)
    theta = theta[0] if batch == 1 else theta

    def single(t):
        e = net(t, x) - y
        return (e * e).mean()

    func_hess = hessian(single) if batch == 1 else vmap(hessian(single))
    torch.testing.assert_close(obj.hessian(theta), func_hess(theta), rtol=1e-9, atol=1e-12)
    calls = {"hess": lambda: obj.evaluate(theta, 2), "func.hessian": lambda: func_hess(theta),
             "before": lambda: before.evaluate(theta, 2)}
    times: dict[str, list[float]] = {name: [] for name in calls}
    calls["before"]()  # warm up
    for _ in range(repeats):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {"P": net.num_params, **{k: statistics.median(v) / batch for k, v in times.items()}}


def main_deep(args: argparse.Namespace) -> None:
    tune_allocator()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"1 thread, N = {args.n}, medians of {args.repeats}\n")
    print("| net | P | B | hess ms/theta | func.hessian ms/theta | speed-up "
          "| torch.func path before, ms/theta | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for widths in ((4, 4), (4, 4, 4)):
        for batch in (1, args.batch):
            r = run_deep(widths, args.n, batch, args.repeats)
            print(f"| {'-'.join(map(str, widths))} | {r['P']} | {batch} "
                  f"| {1e3 * r['hess']:.1f} | {1e3 * r['func.hessian']:.0f} "
                  f"| {r['func.hessian'] / r['hess']:.1f}x | {1e3 * r['before']:.0f} "
                  f"| {r['before'] / r['hess']:.0f}x |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few sizes only")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--deep", action="store_true", help="the deep nets (issue 13) instead")
    parser.add_argument("--batch", type=int, default=8, help="--deep: thetas per batched call")
    parser.add_argument("--repeats", type=int, default=9, help="--deep: timed calls of each")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.deep:
        main_deep(args)
        return
    dims = [2, 16] if args.quick else [2, 4, 8, 16]
    widths = [1, 4, 16] if args.quick else [1, 2, 3, 4, 5, 8, 16]
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"1 thread, N = {args.n}\n")
    print("| d | width | P | loss ms | grad ms | grad/loss | func.grad ms | hess ms "
          "| func.hessian ms | hessian speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in dims:
        for w in widths:
            r = run(d, w, args.n)
            print(f"| {d} | {w} | {r['P']} | {1e3 * r['loss']:.2f} | {1e3 * r['grad']:.2f} "
                  f"| {r['grad'] / r['loss']:.2f} | {1e3 * r['func.grad']:.2f} "
                  f"| {1e3 * r['hess']:.2f} | {1e3 * r['func.hessian']:.1f} "
                  f"| {r['func.hessian'] / r['hess']:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
