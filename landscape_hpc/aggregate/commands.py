"""The ``query`` and ``plot`` commands; :func:`register` adds them to the ``landscape-hpc`` app.

Heavy modules (xarray, pandas, matplotlib) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import ConfigError
from ..ui import console, fail

WHAT = ("histogram", "fractions", "levels")
WIDE = 1000  # columns of a table printed off a terminal


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _aggregate(store: Path, what: str, by: list[str], rtol: float, atol: float, tasks: str,
               threshold: float | None, classes: list[str] | None):
    """Open ``store`` and compute ``what``; ConfigError on bad input."""
    from .dataset import open_results
    from .flat import check_by
    from .fractions import convergence_fractions, loss_histogram
    from .levels import level_table, quantise
    from .outcomes import check_classes

    check_classes(classes)
    ds = open_results(store)
    check_by(ds, by)
    if what == "fractions":
        return convergence_fractions(ds, by, classes, threshold, rtol, atol)
    levels = quantise(ds, rtol, atol, tasks)
    return level_table(levels) if what == "levels" else loss_histogram(levels, by)


def register(app: typer.Typer) -> None:
    """Add ``query`` and ``plot`` to ``app``."""

    @app.command()
    def query(
        store: Path = typer.Argument(..., help="Results store."),
        by: str = typer.Option("", help="Comma-separated axes to group by, e.g. width,activation."),
        what: str = typer.Option("histogram", help="histogram (tasks per loss level), fractions "
                                                   "(outcome classes) or levels (all tasks)."),
        fmt: str = typer.Option("table", "--format", help="table, csv, json or netcdf."),
        out: Path = typer.Option(None, "--out", "-o", help="Write to this file (netcdf needs it)."),
        rtol: float = typer.Option(1e-3, help="Relative tolerance of the loss levels."),
        atol: float = typer.Option(1e-12, help="Absolute tolerance of the loss levels (near 0)."),
        tasks: str = typer.Option("converged", help="Which tasks make the levels: converged, "
                                                    "done or channel."),
        global_threshold: float = typer.Option(None, help="Loss below which a converged task is "
                                               "a known global minimum (default: zero loss, "
                                               "1e-10; the lowest nonzero levels found are "
                                               "lowest_found)."),
        classes: str = typer.Option("", help="Comma-separated outcome classes to show (default: "
                                             "all)."),
    ) -> None:
        """Loss-level histograms, loss levels or outcome fractions of STORE, per axis values."""
        from rich.console import Console
        from rich.markup import escape

        from .tables import FORMATS, rows, write

        if what not in WHAT:
            fail(f"--what: expected one of {', '.join(WHAT)}, got '{what}'")
        if fmt not in FORMATS:
            fail(f"--format: expected one of {', '.join(FORMATS)}, got '{fmt}'")
        if fmt == "netcdf" and out is None:
            fail("--format netcdf: give the file with --out")
        try:
            result = _aggregate(store, what, _split(by), rtol, atol, tasks, global_threshold,
                                _split(classes) or None)
        except ConfigError as err:
            fail(escape(str(err)))
        df = rows(result, what)
        meta = {"store": str(store), "what": what, "by": _split(by),
                **{k: _number(v) for k, v in result.attrs.items()}}
        if fmt == "table":
            if out is not None:
                fail("--format table prints to the terminal; use csv, json or netcdf with --out")
            # off a terminal (a pipe, a file) the table keeps its natural width: no cut names
            wide = console if console.is_terminal else Console(width=WIDE)
            wide.print(_table(df, f"{store}: {what}"))
            console.print(_caption(meta), highlight=False)
            return
        text = write(df, result, fmt, out, meta)
        if text:
            print(text, end="")

    @app.command()
    def plot(
        store: Path = typer.Argument(..., help="Results store."),
        out: Path = typer.Option(Path("."), "--out", "-o", help="Folder for the PNG files."),
        by: str = typer.Option("", help="x axis, then axes drawn as separate series "
                                        "(default: the sweep's first axis)."),
        prefix: str = typer.Option("", help="Prefix of the file names, e.g. quickstart_."),
        rtol: float = typer.Option(1e-3, help="Relative tolerance of the loss levels."),
        atol: float = typer.Option(1e-12, help="Absolute tolerance of the loss levels (near 0)."),
        global_threshold: float = typer.Option(None, help="Loss below which a converged task is "
                                               "a known global minimum (default: zero loss, "
                                               "1e-10; the lowest nonzero levels found are "
                                               "lowest_found)."),
        classes: str = typer.Option("", help="Comma-separated outcome classes to draw."),
    ) -> None:
        """Figures of STORE: OUT/loss_levels.png and OUT/fractions.png (Wilson 95% intervals)."""
        from rich.markup import escape

        from .dataset import open_results
        from .flat import check_by
        from .fractions import convergence_fractions, loss_histogram
        from .levels import quantise
        from .outcomes import check_classes
        from .plots import plot_fractions, plot_loss_levels

        try:
            chosen = check_classes(_split(classes) or None)
            ds = open_results(store)
            axes = check_by(ds, _split(by) or ds.attrs["axes"][:1] or ["seed"])
            hist = loss_histogram(quantise(ds, rtol, atol), axes)
            channels = loss_histogram(quantise(ds, rtol, atol, "channel"), axes)
            frac = convergence_fractions(ds, axes, chosen, global_threshold, rtol, atol)
        except ConfigError as err:
            fail(escape(str(err)))
        name = ds.attrs.get("sweep", store.name)
        paths = [
            plot_loss_levels(hist, out / f"{prefix}loss_levels.png", axes[0],
                             f"{name}: loss levels of converged tasks",
                             channels if channels.sizes["level"] else None),
            plot_fractions(frac, out / f"{prefix}fractions.png", axes[0],
                           f"{name}: outcomes (95% Wilson intervals)"),
        ]
        console.print("wrote " + ", ".join(str(p) for p in paths), highlight=False)


def _number(v):
    return v.item() if hasattr(v, "item") else v


def _table(df, title: str):
    import pandas as pd
    from rich.table import Table

    table = Table(title=title)
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for r in df.itertuples(index=False):
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in r))
    return table


def _caption(meta: dict) -> str:
    """The settings and thresholds of a result, one line."""
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in meta.items() if k not in ("store", "what", "by"))
