"""The sweep file: fixed settings, grid axes, include and exclude lists, profiles, work units, and
an optional source store.  See ``sweeps/README.md`` for the format with examples::

    name: loss_levels
    fixed:                                   # settings shared by every task
      problem: {net: {input_dim: 2, activation: g}, target: {kind: rosenbrock},
                inputs: {kind: grid, n: 10000}, loss: {maxnorm: 1000}}
    grid:                                    # axes, expanded as a cartesian product
      width: [1, 2, 3, 4, 5]                 # an alias of problem.net.widths
      biases: [false, true]
      seed: {range: "50 * 2**width"}         # depends on the width axis
    profiles:
      smoke: {grid: {seed: {range: 2}}}      # landscape-hpc plan FILE --scale smoke

:func:`load_sweep` reads a file into a :class:`Sweep` (axes parsed, profile applied, references
checked); :mod:`.plan` expands it into tasks.  Every error is a ConfigError naming the file, the
key and the accepted form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ..config import ConfigError, Spec, read_yaml, validate
from . import paths
from .axes import (Axis, Exclude, check_axes, expression, merge_axes, parse_exclude, parse_grid,
                   setting_path)
from .expr import Expression


class UnitsSpec(Spec):
    """Work units: tasks of one group (equal but for the seed) in blocks of ``size`` seeds."""

    size: int = Field(default=64, ge=1, description="seeds per work unit")


class SplitSpec(Spec):
    """Split a hidden neuron of the source's final theta (few-neurons-theory eq. 10)."""

    neuron: int | Literal["min_readout", "max_readout"] = Field(
        description="index, or the neuron with the smallest / largest readout weight")
    gamma: float
    layer: int = Field(default=1, ge=1)


class PerturbSpec(Spec):
    """Add ``scale`` times a direction: N(0, 1) or U(-1, 1) noise drawn with the task seed, or the
    Hessian's eigenvector of smallest eigenvalue (the sign of ``scale`` picks the side)."""

    direction: Literal["normal", "uniform", "hessian_min"]
    scale: float

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("scale: must be non-zero")
        return v


class InitialSpec(Spec):
    """theta_0 of a task of a sweep from a store: the source task's final theta, split, perturbed."""

    source: str = Field(description="task id of the source task (set by the planner)")
    theta: Literal["final"] = "final"
    split: SplitSpec | None = None
    perturb: PerturbSpec | None = None


class SelectSpec(Spec):
    """Which source tasks: settings they must have, a condition on their results, a count."""

    match: dict[str, Any] = {}
    where: str | None = None
    limit: int | None = Field(default=None, ge=1, description="first N, by seed then task id")


class FromStoreSpec(Spec):
    store: str = Field(min_length=1)
    select: SelectSpec = SelectSpec()
    initial: dict[str, Any] = {}


class ProfileSpec(Spec):
    """A named variant: ``fixed`` deep-merged, ``grid`` axes replacing those of the same setting,
    ``include`` / ``exclude`` / ``units`` replacing the sweep's."""

    description: str = ""
    fixed: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    include: list[dict[str, Any]] | None = None
    exclude: list[dict[str, Any] | str] | None = None
    units: UnitsSpec | None = None


class SweepSpec(Spec):
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    fixed: dict[str, Any] = {}
    grid: dict[str, Any] | None = None
    include: list[dict[str, Any]] = []
    exclude: list[dict[str, Any] | str] = []
    profiles: dict[str, ProfileSpec] = {}
    units: UnitsSpec = UnitsSpec()
    from_store: FromStoreSpec | None = None

    @field_validator("grid", mode="before")
    @classmethod
    def _axes(cls, v):
        if v is not None and not v:
            raise ValueError("no axes; give at least one axis (e.g. seed: {range: 10}) or leave "
                             "out grid")
        return v


# ---- the sweep ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """A sweep's source store (resolved path) and its selection of source tasks."""

    store: Path
    match: tuple[tuple[str, Any], ...]
    where: Expression | None
    limit: int | None


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file: everything the planner needs."""

    file: Path
    name: str
    description: str
    profile: str | None
    fixed: dict[str, Any]  # the fixed settings as one nested task config
    fixed_where: dict[str, str]  # leaf path -> key in the file
    axes: tuple[Axis, ...]
    includes: tuple[tuple[Axis, ...], ...]  # each include entry merged over the main grid
    excludes: tuple[Exclude, ...]
    unit_size: int
    source: Source | None = None
    profiles: tuple[str, ...] = ()

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {message}")


def _fixed_leaves(fixed: dict[str, Any], where: str,
                  into: dict[str, tuple[Any, str]] | None = None) -> dict[str, tuple[Any, str]]:
    """``{leaf path: (value, key as written)}`` (added to ``into``); a setting given twice is an
    error."""
    out = dict(into or {})
    for key, value in fixed.items():
        path = setting_path(str(key), f"{where}.{key}")
        for leaf, v in paths.leaves(value, path).items():
            clash = [p for p in out if paths.covers(p, leaf) or paths.covers(leaf, p)]
            if clash:
                raise ConfigError(f"{where}.{key}: sets {leaf}, already set by "
                                  f"{out[clash[0]][1]}; give each setting once")
            out[leaf] = (v, f"{where}.{key}{leaf[len(path):]}")
    return out


def _merge_fixed(base: dict[str, tuple[Any, str]], over: dict[str, tuple[Any, str]]):
    kept = {p: v for p, v in base.items()
            if not any(paths.covers(o, p) or paths.covers(p, o) for o in over)}
    return {**kept, **over}


def _tree(leaves: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, (value, _) in leaves.items():
        tree = paths.assign(tree, path, value)
    return tree


def load_sweep(file: str | Path, profile: str | None = None) -> Sweep:
    """Read and check a sweep file, applying the named profile."""
    file = Path(file)
    spec: SweepSpec = validate(SweepSpec, read_yaml(file), str(file))
    try:
        return _build(spec, file, profile)
    except ConfigError as err:
        raise ConfigError(f"{file}: {err}") from None


def _build(spec: SweepSpec, file: Path, profile: str | None) -> Sweep:
    fixed = _fixed_leaves(spec.fixed, "fixed")
    axes = parse_grid(spec.grid or {}, "grid")
    include, exclude, units = spec.include, spec.exclude, spec.units
    if profile is not None:
        if profile not in spec.profiles:
            known = ", ".join(spec.profiles) or "none"
            raise ConfigError(f"profile '{profile}' not found; profiles in this file: {known}")
        prof = spec.profiles[profile]
        where = f"profiles.{profile}"
        fixed = _merge_fixed(fixed, _fixed_leaves(prof.fixed, f"{where}.fixed"))
        axes = merge_axes(axes, parse_grid(prof.grid, f"{where}.grid"))
        include = include if prof.include is None else prof.include
        exclude = exclude if prof.exclude is None else prof.exclude
        units = units if prof.units is None else prof.units
    source = None
    if spec.from_store is not None:
        source = _source(spec.from_store, file)
        fixed = _fixed_leaves({"initial": spec.from_store.initial}, "from_store", into=fixed)
    elif any(_is_initial(p) for p in fixed) or any(_is_initial(p) for a in axes for p in a.paths):
        raise ConfigError("initial: settings of the initial point exist only in sweeps that "
                          "start from a store (give from_store)")
    check_axes(axes, fixed)
    includes = []
    for i, entry in enumerate(include):
        if not entry:
            raise ConfigError(f"include[{i}]: empty; give the axes this entry replaces")
        merged = merge_axes(axes, parse_grid(entry, f"include[{i}]"))
        check_axes(merged, fixed)
        includes.append(tuple(merged))
    if not any(a.is_seed for a in axes) and "seed" not in fixed:
        raise ConfigError("seed: no seed given; add a seed axis (grid: {seed: {range: 10}}) or "
                          "a fixed seed (fixed: {seed: 0})")
    axis_paths = {p for a in axes for p in a.paths}
    excludes = tuple(parse_exclude(item, f"exclude[{i}]", axis_paths)
                     for i, item in enumerate(exclude))
    for e in excludes:
        for ref in e.when.names if e.when else ():
            setting_path(ref, f"{e.where}: expression refers to '{ref}'")
    return Sweep(file=file, name=spec.name or re.sub(r"[^A-Za-z0-9_.-]", "_", file.stem),
                 description=spec.description, profile=profile,
                 fixed=_tree(fixed), fixed_where={p: w for p, (_, w) in fixed.items()},
                 axes=tuple(axes), includes=tuple(includes), excludes=excludes,
                 unit_size=units.size, source=source, profiles=tuple(spec.profiles))


def _is_initial(path: str) -> bool:
    return path == "initial" or path.startswith("initial.")


def _source(spec: FromStoreSpec, file: Path) -> Source:
    store = Path(spec.store)
    tried = [store] if store.is_absolute() else list(dict.fromkeys([store, file.parent / store]))
    found = next((p for p in tried if p.exists()), None)
    if found is None:
        raise ConfigError(f"from_store.store: source store '{spec.store}' not found (tried "
                          f"{', '.join(str(p) for p in tried)}); give the path of an existing "
                          "store, relative to the working directory or to the sweep file")
    match = tuple((setting_path(k, f"from_store.select.match.{k}"), v)
                  for k, v in spec.select.match.items())
    where = (expression(spec.select.where, "from_store.select.where")
             if spec.select.where is not None else None)
    return Source(store=found.resolve(), match=match, where=where, limit=spec.select.limit)
