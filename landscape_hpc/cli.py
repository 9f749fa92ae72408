"""The ``landscape-hpc`` command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import scipy.optimize
import torch
import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import ConfigError, load
from .models.objective import weightnorm
from .problem import ProblemSpec, build_problem

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Gradient-flow sweeps over neural-network loss landscapes.")
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"landscape-hpc {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    torch.set_num_threads(1)


def _state(obj, theta: torch.Tensor) -> dict:
    value, g, H = obj.evaluate(theta, 2)
    g_loss = obj.gradient(theta, with_barrier=False)
    eig = torch.linalg.eigvalsh(H)
    return {
        "loss": obj.loss(theta).item(),
        "loss_with_barrier": value.item(),
        "gradnorm_inf": g.abs().max().item(),
        "gradnorm_inf_without_barrier": g_loss.abs().max().item(),
        "weightnorm": weightnorm(theta).item(),
        "hessian_min": eig[0].item(),
        "hessian_max": eig[-1].item(),
        "negative_eigenvalues": int((eig < -1e-9 * eig.abs().max()).sum()),
    }


@app.command()
def inspect(
    problem: Path = typer.Argument(..., help="Problem YAML file (net, target, inputs, loss, init)."),
    seed: int = typer.Option(0, help="Seed of the initial point."),
    polish: bool = typer.Option(True, help="Run trust-region Newton (exact Hessian) to a "
                                           "critical point."),
    gtol: float = typer.Option(1e-12, help="Gradient infinity-norm at which Newton stops."),
    max_steps: int = typer.Option(10_000, help="Newton step limit."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Build a problem, evaluate loss, gradient and Hessian at theta_0, optionally polish."""
    try:
        spec = load(ProblemSpec, problem)
        prob = build_problem(spec)
    except (ConfigError, ValueError) as err:
        fail(str(err))
    obj = prob.objective
    theta = prob.initial_theta(seed)
    rows = {"initial": _state(obj, theta)}
    stopped_by = None
    if polish:
        t = torch.from_numpy
        result = scipy.optimize.minimize(
            lambda v: obj.value(t(v)).item(), theta.numpy(),
            jac=lambda v: obj.gradient(t(v)).numpy(), hess=lambda v: obj.hessian(t(v)).numpy(),
            method="trust-exact", options={"gtol": gtol, "maxiter": max_steps})
        theta = t(np.asarray(result.x))
        rows["final"] = _state(obj, theta)
        if rows["final"]["weightnorm"] >= obj.maxnorm:
            stopped_by = "maxnorm (left along a channel to infinity?)"
        elif rows["final"]["gradnorm_inf"] <= gtol:
            stopped_by = "gradnorm"
        else:
            stopped_by = f"newton: {result.message}"
    out = {"problem": str(problem), "seed": seed, "net": repr(prob.net), **rows,
           "stopped_by": stopped_by, "theta": theta.tolist()}
    if as_json:
        print(json.dumps(out, indent=2))
        return
    table = Table(title=f"{problem} (seed {seed}): {prob.net!r}")
    table.add_column("quantity")
    for name in rows:
        table.add_column(name, justify="right")
    for key in rows["initial"]:
        table.add_row(key, *(_fmt(r[key]) for r in rows.values()))
    console.print(table)
    if stopped_by:
        console.print(f"stopped by: {stopped_by}")


def _fmt(v: float | int) -> str:
    return str(v) if isinstance(v, int) else ("nan" if math.isnan(v) else f"{v:.6g}")


if __name__ == "__main__":
    app()
