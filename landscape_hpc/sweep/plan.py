"""Expand a sweep into tasks, grouped (see :mod:`.tasks` for groups and work units).

The axes are walked in the order written, each option assigned into the task config, the seed
innermost.  Each distinct seedless combination is validated (and checked to be buildable) once;
per seed only an id is hashed, which keeps 10^6 tasks within seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pydantic

from ..config import ConfigError, describe
from ..dynamics.least_squares import METHOD as LM
from ..dynamics.least_squares import check_problem as check_lm
from ..dynamics.order_params import METHOD as ORDER_PARAMS
from ..dynamics.order_params import check_problem
from ..dynamics.spec import DynamicsSpec
from ..models.init import InitSpec as ThetaInit
from ..models.init import initial_theta
from ..models.network import Network
from ..problem import ProblemSpec, build_problem
from ..targets.inputs import grid_points_per_axis
from . import ids, paths
from .axes import UNSET, Axis, Exclude
from .expr import ExpressionError
from .source import SourceRecord, base_config, select
from .spec import InitialSpec, Sweep, load_sweep
from .tasks import AxisSummary, Group, Plan, show

Chosen = tuple[tuple[Axis, tuple[Any, ...]], ...]  # the options taken so far, axis by axis
_PLACEHOLDER = "<source task>"


class DependsOnSource(Exception):
    """A from-store sweep refers to a setting that only its source tasks give."""


def describe_chosen(chosen: Chosen) -> str:
    parts = []
    for axis, values in chosen:
        shown = show(values[0]) if len(values) == 1 else "[" + ", ".join(map(show, values)) + "]"
        parts.append(f"{axis.key}={shown}")
    return ", ".join(parts) or "the fixed settings"


# ---- expansion ---------------------------------------------------------------------------------
class _Expander:
    """Walks the axes of a sweep over a base config, collecting groups."""

    def __init__(self, sweep: Sweep, template: bool = False):
        self.sweep = sweep
        self.template = template  # a from-store sweep without source records: count only
        self.groups: dict[str, Group] = {}
        self.summary: dict[tuple[str, ...], AxisSummary] = {}
        # one name per setting, the first written: an include's alias (widths) is stored under
        # the main axis's name (width)
        self.names: dict[tuple[str, ...], str] = {}
        for a in (a for axes in (sweep.axes, *sweep.includes) for a in axes):
            self.names.setdefault(a.paths, a.key)
        self.matched = [0] * len(sweep.excludes)
        self.duplicates = 0
        self.counted = 0
        self._resolved: dict[str, tuple[str, str, dict]] = {}
        self._parts: dict[tuple[str, str], dict] = {}
        self._nets: dict[str, Network] = {}  # problem without init -> its network

    def expand(self, base: dict) -> None:
        for index, axes in enumerate((self.sweep.axes, *self.sweep.includes)):
            seed_axis = next((a for a in axes if a.is_seed), None)
            outer = [a for a in axes if not a.is_seed]
            excludes = self.sweep.excludes if index == 0 else ()
            self._walk(outer, base, (), seed_axis, excludes)

    def _error(self, where: str, message: Any, chosen: Chosen) -> ConfigError:
        return self.sweep.error(f"{where}: {message} (task settings: {describe_chosen(chosen)})")

    def _lookup(self, config: dict, seed: int | None = None) -> Callable[[str], Any]:
        def lookup(name: str) -> Any:
            if name == "seed" and seed is not None:
                return seed
            try:
                return paths.lookup(config, name)
            except paths.UnknownSetting as err:
                raise ExpressionError(str(err)) from None
            except KeyError:
                if self.template:
                    raise DependsOnSource(name) from None
                raise ExpressionError(f"'{name}' ({paths.resolve(name)}) is not set for this "
                                      "task; set it under fixed or by an earlier axis") from None
        return lookup

    def _walk(self, axes: list[Axis], config: dict, chosen: Chosen, seed_axis: Axis | None,
              excludes: tuple[Exclude, ...]) -> None:
        if len(chosen) == len(axes):
            return self._leaf(config, chosen, seed_axis, excludes)
        axis = axes[len(chosen)]
        try:
            options = axis.options(self._lookup(config))
        except ExpressionError as err:
            raise self._error(axis.where, err, chosen) from None
        if not options:
            raise self._error(axis.where, "no values (empty range)", chosen)
        for values in options:
            new = config
            for path, value in zip(axis.paths, values):
                if value is not UNSET:
                    try:
                        new = paths.assign(new, path, value)
                    except ValueError as err:
                        raise self._error(axis.where, err, chosen) from None
            self._walk(axes, new, (*chosen, (axis, values)), seed_axis, excludes)

    def _excluded(self, e: Exclude, config: dict, chosen: Chosen, seed: int | None = None) -> bool:
        if e.when is not None:
            try:
                return bool(e.when(self._lookup(config, seed)))
            except ExpressionError as err:
                raise self._error(e.where, err, chosen) from None
        for path, value in e.match:
            try:
                have = seed if path == "seed" else paths.get(config, path)
            except KeyError:
                return False
            if not same(have, value):
                return False
        return True

    def _leaf(self, config: dict, chosen: Chosen, seed_axis: Axis | None,
              excludes: tuple[Exclude, ...]) -> None:
        for i, e in enumerate(excludes):
            if not e.on_seed and self._excluded(e, config, chosen):
                self.matched[i] += 1
                return
        seeds = self._seeds(seed_axis, config, chosen)
        for i, e in enumerate(excludes):
            if e.on_seed:
                drop = self._excluded_seeds(e, config, chosen, seeds)
                self.matched[i] += int(drop.sum())
                seeds = seeds[~drop]
        if not len(seeds):
            return
        config = {k: v for k, v in config.items() if k != "seed"}
        if self.template:
            self._canonical(config, chosen)
            self.counted += len(seeds)
            self._count(chosen, len(seeds))
            return
        text, dig, canon = self._canonical(config, chosen)
        group = self.groups.get(dig)
        if group is None:
            settings = {self.names[a.paths]: (v[0] if len(v) == 1 else list(v))
                        for a, v in chosen if v[0] is not UNSET}
            self.groups[dig] = Group(canon, text, dig, settings, seeds)
            added = len(seeds)
        else:
            merged = np.union1d(group.seeds, seeds)
            added = len(merged) - len(group.seeds)
            self.duplicates += len(seeds) - added
            group.seeds = merged
        self._count(chosen, added)

    def _excluded_seeds(self, e: Exclude, config: dict, chosen: Chosen,
                        seeds: np.ndarray) -> np.ndarray:
        """Mask of the seeds an exclude entry that refers to the seed drops."""
        if e.when is not None:
            return np.array([self._excluded(e, config, chosen, s) for s in seeds.tolist()],
                            dtype=bool)
        rest = Exclude(e.where, match=tuple((p, v) for p, v in e.match if p != "seed"))
        if rest.match and not self._excluded(rest, config, chosen):
            return np.zeros(len(seeds), dtype=bool)
        value = dict(e.match)["seed"]
        if isinstance(value, bool) or not isinstance(value, int):
            return np.zeros(len(seeds), dtype=bool)
        return seeds == value

    def _count(self, chosen: Chosen, added: int) -> None:
        for axis, values in chosen:
            s = self.summary.setdefault(axis.paths,
                                        AxisSummary(self.names[axis.paths], axis.paths))
            value = values[0] if len(values) == 1 else list(values)
            key = "(unset)" if value is UNSET else json.dumps(value, sort_keys=True, default=str)
            s.counts.setdefault(key, [value, 0])[1] += added

    def _seeds(self, axis: Axis | None, config: dict, chosen: Chosen) -> np.ndarray:
        values: Any = UNSET
        if axis is not None:
            lookup = self._lookup(config)
            try:
                if axis.bounds:
                    start, stop, step = axis.range(lookup)
                    if min(start, stop) < 0 or max(start, stop) > 2**63:
                        raise ExpressionError(f"seeds must lie in [0, 2^63), got range({start}, "
                                              f"{stop})")
                    values = np.arange(start, stop, step, dtype=np.int64)
                else:
                    values = [v for (v,) in axis.options(lookup) if v is not UNSET] or UNSET
            except ExpressionError as err:
                raise self._error(axis.where, err, chosen) from None
        if values is UNSET:
            if "seed" not in config:
                raise self._error(axis.where if axis else "seed", "no seed for this task", chosen)
            values = [config["seed"]]
        if not isinstance(values, np.ndarray):
            try:
                values = np.array([ids.check_seed(v) for v in values], dtype=np.int64)
            except ValueError as err:
                raise self._error(axis.where if axis else "fixed.seed", err, chosen) from None
        if not len(values):
            raise self._error(axis.where if axis else "seed", "empty range of seeds", chosen)
        return np.unique(values)

    def _canonical(self, config: dict, chosen: Chosen) -> tuple[str, str, dict]:
        key = json.dumps(config, sort_keys=True, default=str)
        hit = self._resolved.get(key)
        if hit is not None:
            return hit
        problems: list[tuple[str, str]] = []
        parts: dict[str, Any] = {}
        initial = config.get("initial")
        if initial is not None:
            parts["initial"] = self._part(InitialSpec, initial, "initial", problems)
        problem = config.get("problem", {})
        if parts.get("initial") and isinstance(problem, dict):
            try:
                problem = widen(problem, parts["initial"].get("split"))
            except ValueError as err:
                problems.append(("initial.split.layer", str(err)))
        if not self.template:  # a from-store template has the source's problem only later
            parts["problem"] = self._part(ProblemSpec, problem, "problem", problems)
        parts["dynamics"] = self._part(DynamicsSpec, config.get("dynamics", {}), "dynamics",
                                       problems)
        if problems:
            raise self._invalid(problems, chosen)
        if self.template:
            return "", "", parts
        self._check_buildable(parts["problem"], chosen)
        self._check_method(parts, chosen)
        text = ids.canonical_json(parts)
        out = (text, ids.digest(text), parts)
        self._resolved[key] = out
        return out

    def _part(self, model: type, raw: Any, prefix: str, problems: list) -> dict | None:
        key = (prefix, json.dumps(raw, sort_keys=True, default=str))
        if key in self._parts:
            return self._parts[key]
        try:
            self._parts[key] = ids.canonical_part(model, raw)
        except pydantic.ValidationError as err:
            problems.extend(describe(err, model, raw, prefix))
            return None
        return self._parts[key]

    def _sources(self, path: str, chosen: Chosen, suffix: bool = False) -> list[str]:
        """Where in the file the settings overlapping ``path`` (or ending in it) were given."""
        def hit(p: str) -> bool:
            return p.endswith(path) if suffix else paths.covers(p, path) or paths.covers(path, p)
        out = [a.where for a, values in chosen
               if any(v is not UNSET and hit(p) for p, v in zip(a.paths, values))]
        out += [w for p, w in self.sweep.fixed_where.items() if hit(p)]
        return list(dict.fromkeys(out))

    def _invalid(self, problems: list[tuple[str, str]], chosen: Chosen) -> ConfigError:
        lines = [f"invalid task settings ({describe_chosen(chosen)}):"]
        for path, msg in problems:
            src = self._sources(path, chosen)
            lines.append(f"  {path}: {msg} (from {', '.join(src)})" if src else
                         f"  {path}: {msg} (not set in this file)")
        return self.sweep.error("\n".join(lines))

    def _check_buildable(self, problem: dict, chosen: Chosen) -> None:
        key = ids.canonical_json({k: v for k, v in problem.items() if k != "init"})
        try:
            if key not in self._nets:
                self._nets[key] = build_reduced(problem)
            init = ThetaInit.model_validate(problem.get("init", {}))
            if init.kind == "explicit":
                initial_theta(self._nets[key], init)
        except (ValueError, KeyError, FileNotFoundError) as err:
            named = _named_setting(err)
            src = (named and self._sources(named, chosen, suffix=True)) or [
                a.where for a, values in chosen if values[0] is not UNSET]
            raise self.sweep.error(f"task settings ({describe_chosen(chosen)}) give a problem "
                                   f"that cannot be built: {str(err).strip(chr(39))}"
                                   + (f" (from {', '.join(src)})" if src else ""))

    def _check_method(self, parts: dict, chosen: Chosen) -> None:
        """The problem fits the methods that need a kind of problem (``order_params``, the
        ``lm`` polish)."""
        dynamics = parts["dynamics"]
        polish = dynamics.get("polish")
        if dynamics.get("method") == ORDER_PARAMS:
            self._check_fits(check_problem, "dynamics.method", parts, chosen)
        if isinstance(polish, dict) and polish.get("method") == LM:
            self._check_fits(check_lm, "dynamics.polish.method", parts, chosen)

    def _check_fits(self, check: Callable[[ProblemSpec], None], setting: str, parts: dict,
                    chosen: Chosen) -> None:
        try:
            check(ProblemSpec.model_validate(parts["problem"]))
        except ConfigError as err:
            key = str(err).partition(":")[0]
            src = self._sources(key, chosen) + self._sources(setting, chosen)
            raise self.sweep.error(f"task settings ({describe_chosen(chosen)}) do not fit the "
                                   f"dynamics: {err} (from {', '.join(src) or 'defaults'})")


def same(a: Any, b: Any) -> bool:
    """Equality of values as written: numbers by value (not bools), containers element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def widen(problem: dict, split: dict | None) -> dict:
    """The problem of a task that splits a neuron of its source: one more neuron in that layer.

    ValueError if the layer does not exist.
    """
    if not split:
        return problem
    try:
        widths = paths.get(problem, "net.widths")
    except KeyError:
        return problem  # validating the problem reports the missing widths
    widths = [widths] if isinstance(widths, int) else list(widths)
    layer = split.get("layer", 1)
    if not 1 <= layer <= len(widths):
        raise ValueError(f"the network has {len(widths)} hidden layer(s), so layer must be "
                         f"1..{len(widths)}, got {layer}")
    widths[layer - 1] += 1
    return paths.assign(problem, "net.widths", widths)


def _named_setting(err: Exception) -> str:
    """The setting a build error names ('inputs.n: a grid in d = 2 ...'), or ''."""
    if isinstance(err, FileNotFoundError):
        return "target.file"
    found = re.match(r"[A-Za-z_][\w.]*(?=:)", str(err).strip("'"))
    return found.group() if found else ""


def build_reduced(problem: dict) -> Network:
    """Build the problem on one input point (cheap) to catch what only building finds: a missing
    dataset file, dimensions that do not fit, a grid size that is not a power of d, ...; return
    its network."""
    spec = ProblemSpec.model_validate(problem)
    inputs = spec.inputs
    if inputs is not None and inputs.kind == "grid":
        grid_points_per_axis(inputs.n, spec.net.input_dim)
    if inputs is not None and hasattr(inputs, "n"):
        spec = spec.model_copy(update={"inputs": inputs.model_copy(update={"n": 1})})
    return build_problem(spec).net


# ---- entry points -------------------------------------------------------------------------------
def _finish(expander: _Expander, sweep: Sweep) -> Plan:
    warnings = [f"{e.where} matched no task" for e, n in zip(sweep.excludes, expander.matched)
                if n == 0]
    order = [a.paths for axes in (sweep.axes, *sweep.includes) for a in axes if not a.is_seed]
    axes = [expander.summary[p] for p in dict.fromkeys(order) if p in expander.summary]
    plan = Plan(sweep, list(expander.groups.values()), axes, expander.duplicates, warnings)
    if not sweep.source and not plan.groups:
        raise sweep.error("no tasks: every combination of the grid is excluded")
    return plan


def expand(sweep: Sweep) -> Plan:
    """The tasks of a sweep without a source store."""
    expander = _Expander(sweep)
    expander.expand(sweep.fixed)
    return _finish(expander, sweep)


def plan_from_records(sweep: Sweep, records: Iterable[SourceRecord]) -> Plan:
    """The tasks of a from-store sweep, given the source store's records (the store's hook)."""
    if sweep.source is None:
        raise sweep.error("from_store: this sweep does not start from a store")
    expander = _Expander(sweep)
    for record in select(sweep, records):
        expander.expand(base_config(sweep, record))
    return _finish(expander, sweep)


def plan_sweep(file: str | Path, profile: str | None = None) -> Plan:
    """Load and expand a sweep file.  A from-store sweep is checked and its tasks per source task
    counted (``per_source``); its tasks need the source records (:func:`plan_from_records`)."""
    sweep = load_sweep(file, profile)
    if sweep.source is None:
        return expand(sweep)
    expander = _Expander(sweep, template=True)
    base = paths.assign(sweep.fixed, "initial.source", _PLACEHOLDER)
    try:
        expander.expand(base)
        per_source: int | None = expander.counted
    except DependsOnSource:
        per_source = None
    plan = _finish(expander, sweep)
    plan.per_source = per_source
    return plan
