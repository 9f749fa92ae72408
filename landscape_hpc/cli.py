"""The ``landscape-hpc`` command line.

Heavy modules (torch, scipy, the planner) are imported inside the commands that need them, so
that quick commands such as ``status`` start fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from . import __version__
from .config import ConfigError, load
from .ui import console, err_console, fail

if TYPE_CHECKING:
    from .run.costs import Calibrated

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Gradient-flow sweeps over neural-network loss landscapes.")


def _version(value: bool) -> None:
    if value:
        console.print(f"landscape-hpc {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Gradient-flow sweeps over neural-network loss landscapes."""


def _state(obj, theta) -> dict:
    import torch

    from .models.objective import weightnorm

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
    dynamics: Path = typer.Option(None, help="Dynamics YAML file (method, tolerances, stop, "
                                             "polish; default: the defaults of a sweep task)."),
    run: bool = typer.Option(True, help="Integrate the dynamics from theta_0 (as a sweep task "
                                        "does) and show the end point."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Build a problem, evaluate loss, gradient and Hessian at theta_0, and run one trajectory."""
    import torch

    from .dynamics import DynamicsSpec, integrate
    from .problem import ProblemSpec, build_problem

    torch.set_num_threads(1)
    try:
        prob = build_problem(load(ProblemSpec, problem))
        spec = load(DynamicsSpec, dynamics) if dynamics else DynamicsSpec()
    except (ConfigError, ValueError) as err:
        fail(str(err))
    obj = prob.objective
    theta = prob.initial_theta(seed)
    rows = {"initial": _state(obj, theta)}
    out = {"problem": str(problem), "seed": seed, "net": repr(prob.net)}
    if run:
        rec = integrate(prob, theta, spec).records[0]
        theta = torch.from_numpy(rec.theta)
        rows["final"] = _state(obj, theta)
        out.update(stopped_by=rec.stopped_by, polish_stopped_by=rec.polish_stopped_by,
                   t=rec.t, steps=rec.steps, wall_time=rec.wall_time)
    out.update(rows, theta=theta.tolist())
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
    if run:
        console.print(f"stopped by {out['stopped_by']} at t = {out['t']:.4g} after "
                      f"{out['steps']} steps, polish: {out['polish_stopped_by']}, "
                      f"{out['wall_time']:.3g} s")


def _fmt(v: float | int) -> str:
    return str(v) if isinstance(v, int) else ("nan" if math.isnan(v) else f"{v:.6g}")


@app.command()
def plan(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    profile: str = typer.Option(None, "--scale",
                                help="Named profile of the sweep file, e.g. smoke."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    tasks: bool = typer.Option(False, "--tasks", help="With --json: list every task id."),
    calibrate: int = typer.Option(0, "--calibrate",
                                  help="Time N tasks in all, a sample stratified over the groups, "
                                       "and estimate the cost (sweeps/README.md, Cost)."),
    cap: float = typer.Option(None, "--cap",
                              help="With --calibrate: seconds a timed task may run at most "
                                   "(default 60); capped tasks make the estimate a lower bound."),
    cores: int = typer.Option(None, "--cores",
                              help="With --calibrate: also give the hours on N cores."),
) -> None:
    """Expand a sweep file into tasks with stable ids and work units, and show the plan."""
    from .run import plan_for_store
    from .sweep.report import render as render_plan

    if calibrate:
        from .calibrate import DEFAULT_CAP, check_arguments, check_sweep, report
        from .calibrate import calibrate as run_calibration

        cap = DEFAULT_CAP if cap is None else cap
        try:
            check_arguments(calibrate, cap, cores)
            check_sweep(sweep)
        except (ConfigError, ValueError) as err:
            fail(escape(str(err)))
    elif cap is not None or cores is not None:
        fail(f"{'--cap' if cap is not None else '--cores'}: only with --calibrate N")
    try:
        result = plan_for_store(sweep, profile)
    except ConfigError as err:
        fail(escape(str(err)))
    if not as_json:
        console.print(render_plan(result))
    cost = None
    if calibrate:
        try:
            cost = run_calibration(result, calibrate, cap, console=err_console)
        except (ConfigError, ValueError) as err:
            fail(escape(str(err)))
    if as_json:
        out = result.to_dict(with_tasks=tasks)
        if cost is not None:
            out["calibration"] = cost.to_dict(cores)
        print(json.dumps(out, indent=1, default=str))
    elif cost is not None:
        report(cost, console, cores)


# ---- run, submit, resume, status --------------------------------------------------------------
BACKEND_HELP = "Where units run: local, dask-local, dask-slurm or submitit."
PROFILE_HELP = ("Cluster profile of the SLURM backends: a name (found in $LANDSCAPE_HPC_PROFILES, "
                "~/.config/landscape-hpc/profiles, or the shipped local and example-cluster) or "
                "a YAML file.")
WORKERS_HELP = "Local or dask-local worker processes (default: all cores)."
CHECKPOINT_HELP = "Seconds between trajectory checkpoints (local backends; default 60)."
COSTS_HELP = ("submitit: pack units into jobs by the seconds per task of a calibration, the "
              "JSON of 'landscape-hpc plan SWEEP --calibrate N --json', where the store has no "
              "measured ones yet.")
EVERY_HELP = "Seconds between progress lines when the output is not a terminal."


def _executor(name: str, workers: int | None, checkpoint_every: float | None,
              profile: str | None, costs: Path | None = None):
    """The executor, and the calibration read from ``costs`` (None without)."""
    from .run import make_executor
    from .run.costs import Calibrated

    try:
        calibrated = None if costs is None else Calibrated.read(costs)
        return make_executor(name, workers, checkpoint_every, profile, calibrated), calibrated
    except ConfigError as err:
        fail(escape(str(err)))


def _wait(executor, store, units, statuses, quiet: bool, every: float) -> None:
    """Run ``units`` on ``executor`` with the progress, then print the store's counts."""
    from .run import run as run_units
    from .run import status as store_status
    from .run.progress import Progress

    if every <= 0:
        fail(f"--progress-every: expected seconds > 0, got {every}")
    with Progress(sum(n for _, n in units), console=err_console, enabled=not quiet,
                  every=every) as progress:
        run_units(executor, store, units, statuses, progress)
    s = store_status(store)
    console.print(f"{store.path}: " + ", ".join(f"{k} {v}" for k, v in s.counts.items()),
                  highlight=False)


def _submitted(jobs) -> None:
    arrays = sorted({j.job_id.split("_")[0] for j in jobs})
    console.print(f"submitted {len(jobs)} packed jobs running {sum(len(j.units) for j in jobs)} "
                  f"units in {len(arrays)} job arrays ({', '.join(arrays) or 'nothing to run'})",
                  highlight=False)


def _prepare(sweep: Path, store: Path, scale: str | None, costs: Calibrated | None = None):
    from .run import prepare

    try:
        p = prepare(sweep, store, scale, costs)
    except ConfigError as err:
        fail(escape(str(err)))
    console.print(f"{p.n_tasks} tasks in {sweep}, {p.added} new; "
                  f"{sum(n for _, n in p.units)} to run in {len(p.units)} units", highlight=False)
    return p


@app.command()
def run(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    store: Path = typer.Option(..., "--store", "-s", help="Results store (a zarr directory)."),
    scale: str = typer.Option(None, "--scale", help="Named profile of the sweep file, e.g. smoke."),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    profile: str = typer.Option(None, "--profile", help=PROFILE_HELP),
    workers: int = typer.Option(None, help=WORKERS_HELP),
    checkpoint_every: float = typer.Option(None, help=CHECKPOINT_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress."),
    progress_every: float = typer.Option(30.0, help=EVERY_HELP),
) -> None:
    """Run a sweep into STORE and wait; skips done tasks, adds the new ones of an extended sweep."""
    from .store.layout import RERUN

    ex, _ = _executor(backend, workers, checkpoint_every, profile)
    p = _prepare(sweep, store, scale)
    _wait(ex, p.store, p.units, RERUN, quiet, progress_every)


@app.command()
def submit(
    sweep: Path = typer.Argument(..., help="Sweep YAML file."),
    store: Path = typer.Option(..., "--store", "-s", help="Results store on a shared filesystem."),
    scale: str = typer.Option(None, "--scale", help="Named profile of the sweep file, e.g. smoke."),
    backend: str = typer.Option("submitit", help="submitit (packed jobs in SLURM arrays)."),
    profile: str = typer.Option(None, "--profile", help=PROFILE_HELP),
    costs: Path = typer.Option(None, "--costs", help=COSTS_HELP),
) -> None:
    """Submit a sweep to SLURM and return at once; the jobs are recorded in the store."""
    ex, calibrated = _executor(backend, None, None, profile, costs)
    if not ex.detached:
        fail(f"--backend: submit hands work to SLURM and returns, which only 'submitit' does; "
             f"use 'landscape-hpc run --backend {backend}' for '{backend}'")
    p = _prepare(sweep, store, scale, calibrated)
    _submitted(ex.submit(p.store, p.units) if p.units else [])
    console.print(f"follow it with 'landscape-hpc status {store}'", highlight=False)


@app.command()
def resume(
    store: Path = typer.Argument(..., help="Results store."),
    only: str = typer.Option("pending,running,failed",
                             help="Which tasks to rerun: any of pending, running, failed."),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    profile: str = typer.Option(None, "--profile", help=PROFILE_HELP),
    costs: Path = typer.Option(None, "--costs", help=COSTS_HELP),
    workers: int = typer.Option(None, help=WORKERS_HELP),
    checkpoint_every: float = typer.Option(None, help=CHECKPOINT_HELP),
    wait: bool = typer.Option(True, help="submitit: wait for the jobs (--no-wait returns)."),
    verify: bool = typer.Option(True, help="Read the chunks of the units that workers wrote "
                                           "first, and rerun units with an unreadable one "
                                           "(about 1 ms a chunk; --no-verify skips)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress."),
    progress_every: float = typer.Option(30.0, help=EVERY_HELP),
) -> None:
    """Rerun what is not done: dead running tasks continue from their checkpoints; units that a
    live process or SLURM job holds are left alone; units with an unreadable chunk are rerun."""
    from .run import ONLY, resume_units

    chosen = tuple(o.strip() for o in only.split(",") if o.strip())
    bad = [o for o in chosen if o not in ONLY]
    if bad or not chosen:
        fail(f"--only: expected a comma-separated list of {', '.join(ONLY)}, got '{only}'")
    ex, calibrated = _executor(backend, workers, checkpoint_every, profile, costs)
    if not wait and not ex.detached:
        fail(f"--no-wait: only for --backend submitit, whose jobs outlive this command")
    statuses = tuple(ONLY[o] for o in chosen)
    try:
        st, units, reset = resume_units(store, statuses, verify, calibrated)
    except ConfigError as err:
        fail(escape(str(err)))
    for u, message in reset.items():
        err_console.print(f"unit {u}: {escape(message)}; its tasks are run again",
                          highlight=False)
    console.print(f"{sum(n for _, n in units)} tasks to rerun in {len(units)} units",
                  highlight=False)
    if not wait:
        _submitted(ex.submit(st, units, statuses) if units else [])
        return
    _wait(ex, st, units, statuses, quiet, progress_every)


@app.command()
def status(
    store: Path = typer.Argument(..., help="Results store."),
    by: str = typer.Option("", help="Comma-separated axes: the joint table of the counts."),
    failures: int = typer.Option(10, help="How many failed tasks to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Tasks per status (pending, running, done, failed), per combination of axes, and failures."""
    from dataclasses import asdict

    from .run import status as store_status
    from .store import open_store

    try:
        st = open_store(store)
        s = store_status(st, [b.strip() for b in by.split(",") if b.strip()], failures)
    except ConfigError as err:
        fail(escape(str(err)))
    except KeyError as err:
        fail(escape(f"--by: {err.args[0]}"))
    if as_json:
        print(json.dumps({"store": str(store), "sweep": st.meta.sweep, **asdict(s)}, indent=1))
        return
    table = Table(title=f"{store} (sweep {st.meta.sweep}): {s.total} tasks")
    for key in s.by or [""]:
        table.add_column(key)
    for k in s.counts:
        table.add_column(k, justify="right")
    table.add_row(*(["all"] + [""] * (len(s.by) - 1) if s.by else ["all"]),
                  *(str(v) for v in s.counts.values()))
    for row in s.table:
        table.add_row(*(str(row[k]) for k in s.by), *(str(row[k]) for k in s.counts))
    console.print(table)
    if s.dead:
        console.print(f"{s.dead} running tasks have no live process: 'landscape-hpc resume' "
                      "continues them", highlight=False)
    if s.jobs:
        console.print("SLURM: " + ", ".join(f"{n} packed jobs {k.lower()}"
                                            for k, n in sorted(s.jobs.items())), highlight=False)
    for f in s.failures:
        console.print(f"failed {f['task']} (seed {f['seed']}): {escape(f['error'])}",
                      highlight=False)


def _register_aggregate() -> None:
    from .aggregate.commands import register

    register(app)


_register_aggregate()

if __name__ == "__main__":
    app()
