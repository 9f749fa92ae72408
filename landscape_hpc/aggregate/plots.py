"""Figures: loss levels against an axis (markers sized by count, as channels-to-infinity Fig. 2b)
and outcome fractions against an axis with their Wilson intervals.

With several axes the first is x and each combination of the others that has tasks is a series;
the aggregates' joint tables (dim ``group``) are laid out on the grid of the axes first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .flat import grid

COLORS = {"global_min": "tab:green", "lowest_found": "tab:olive", "local_min": "tab:blue",
          "saddle": "tab:orange", "channel": "tab:red", "not_converged": "tab:gray"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(ds: xr.Dataset, x: str) -> tuple[np.ndarray, list[str], list[xr.Dataset]]:
    """x positions, and one label and sub-dataset per combination of the other group dims that
    has tasks."""
    values = ds[x].values
    numeric = values.dtype.kind in "iuf"
    pos = values.astype(float) if numeric else np.arange(len(values), dtype=float)
    hue = [d for d in ds["n_tasks"].dims if d != x]
    if not hue:
        return pos, [""], [ds]
    stacked = ds.stack(hue=hue)
    stacked = stacked.isel(hue=np.flatnonzero(stacked["n_tasks"].sum(x).values > 0))
    labels = [", ".join(f"{h}={v}" for h, v in zip(hue, np.atleast_1d(k)))
              for k in stacked["hue"].values]
    return pos, labels, [stacked.isel(hue=i) for i in range(len(labels))]


def _xaxis(ax, ds: xr.Dataset, x: str, pos: np.ndarray) -> None:
    ax.set_xticks(pos, [str(v) for v in ds[x].values])
    ax.set_xlabel(x)
    step = np.min(np.diff(pos)) if len(pos) > 1 else 1.0
    ax.set_xlim(pos.min() - 0.6 * step, pos.max() + 0.6 * step)


def plot_loss_levels(hist: xr.Dataset, path: str | Path, x: str, title: str = "",
                     channels: xr.Dataset | None = None) -> Path:
    """Loss levels (y, log scale) against ``x``; marker area grows with the count, which is
    written beside it.  ``channels``: a second histogram (tasks ending in a channel), drawn
    as grey crosses."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=150)
    hist = grid(hist)
    channels = None if channels is None else grid(channels)
    pos, labels, parts = _series(hist, x)
    width = 0.5 * (np.min(np.diff(pos)) if len(pos) > 1 else 1.0)
    top = max(int(hist["count"].values.max(initial=0)), 1)
    cmap = plt.get_cmap("viridis")
    losses = []
    for j, (label, part) in enumerate(zip(labels, parts)):
        shift = (j - (len(parts) - 1) / 2) * width / max(len(parts), 1)
        for i, p in enumerate(pos):
            c = part["count"].isel({x: i}).values
            lv = part["level"].values[c > 0]
            c = c[c > 0]
            losses.extend(lv)
            color = cmap(i / max(len(pos) - 1, 1)) if len(parts) == 1 else f"C{j}"
            ax.scatter(np.full(len(c), p + shift), lv, s=30 + 400 * np.sqrt(c / top),
                       color=color, alpha=0.75, edgecolors="k", linewidths=0.5,
                       label=label if i == 0 and label else None, zorder=3)
            for yy, cc in zip(lv, c):
                ax.annotate(str(cc), (p + shift, yy), xytext=(9, 0), textcoords="offset points",
                            va="center", fontsize=8)
    if channels is not None:
        for i, p in enumerate(pos):
            c = channels["count"].sum([d for d in channels["count"].dims
                                        if d not in (x, "level")]).isel({x: i}).values
            lv = channels["level"].values[c > 0]
            losses.extend(lv)
            c = c[c > 0]
            ax.scatter(np.full(len(lv), p + 0.3 * width), lv, marker="x", color="0.45",
                       s=25 + 150 * np.sqrt(c / top), zorder=2)
            for yy, cc in zip(lv, c):
                ax.annotate(str(cc), (p + 0.3 * width, yy), xytext=(7, 0), color="0.35",
                            textcoords="offset points", va="center", fontsize=8)
    losses = np.asarray(losses, dtype=float)
    if len(losses) and losses.min() > 0 and losses.max() / losses.min() > 10:
        ax.set_yscale("log")
    _xaxis(ax, hist, x, pos)
    ax.set_ylabel("final loss")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "loss levels (marker area ~ count)")
    handles, _ = ax.get_legend_handles_labels()
    if len(parts) == 1:
        handles.append(Line2D([], [], marker="o", ls="", color=cmap(0.5), markeredgecolor="k",
                              label="converged (colour: " + x + ")"))
    if channels is not None:
        handles.append(Line2D([], [], marker="x", ls="", color="0.45",
                              label="ended in a channel"))
    ax.legend(handles=handles, fontsize=8, loc="best")
    return _save(fig, path)


def plot_fractions(frac: xr.Dataset, path: str | Path, x: str, title: str = "") -> Path:
    """Fraction of tasks per outcome class against ``x``, with Wilson-interval error bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=150)
    frac = grid(frac)
    pos, labels, parts = _series(frac, x)
    classes = list(frac["outcome"].values)
    n = len(classes) * len(parts)
    for j, (label, part) in enumerate(zip(labels, parts)):
        for k, cls in enumerate(classes):
            sel = part.sel(outcome=cls)
            f, lo, hi = (sel[v].values for v in ("fraction", "lower", "upper"))
            shift = ((j * len(classes) + k) - (n - 1) / 2) * 0.04 * (
                np.min(np.diff(pos)) if len(pos) > 1 else 1.0)
            ax.errorbar(pos + shift, f, yerr=[f - lo, hi - f], marker="o", capsize=3,
                        color=COLORS.get(cls) if len(parts) == 1 else f"C{k}",
                        linestyle="-" if j == 0 else ["--", ":", "-."][(j - 1) % 3],
                        label=f"{cls}" + (f" ({label})" if label else ""))
    _xaxis(ax, frac, x, pos)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("fraction of initialisations")
    ax.grid(alpha=0.3)
    ax.set_title(title or "outcomes (95% Wilson intervals)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
