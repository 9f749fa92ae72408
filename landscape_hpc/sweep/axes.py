"""Grid axes: their YAML forms, the options they take for a task, and exclude entries.

An axis is written under ``grid`` (or an ``include`` entry, or a profile's ``grid``) as

* a list of values; an entry may be ``{value: V, when: EXPR}`` or ``{expr: EXPR, when: EXPR}``
  (kept only where ``when`` holds, as DrWatson's ``@onlyif``);
* ``{range: STOP | [START, STOP] | [START, STOP, STEP]}`` of integers (bounds may be
  expressions, e.g. ``"50 * 2**width"``);
* ``{expr: EXPR}``: one value computed from the settings so far;
* ``{values: [...]}``: the list form spelled out;
* ``{zip: {KEY: [...], KEY: [...]}}`` under a free group name: settings whose values are paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ConfigError
from . import paths
from .expr import Expression, ExpressionError

UNSET = object()  # an axis option that leaves its setting as `fixed` has it (no `when` matched)
AXIS_FORMS = ("a list of values (entries may be {value: V, when: EXPR} or {expr: EXPR, when: "
              "EXPR}), {range: STOP | [START, STOP] | [START, STOP, STEP]}, {expr: EXPR}, "
              "{values: [...]} or {zip: {KEY: [...], KEY: [...]}}")
_ENTRY_KEYS = {"value", "expr", "when"}


@dataclass(frozen=True)
class Entry:
    """One value of a list axis: a literal or an expression, kept only where ``when`` holds."""

    value: Any = None
    expr: Expression | None = None
    when: Expression | None = None


@dataclass(frozen=True)
class Axis:
    """One grid axis: a setting (``paths`` of length 1) or a zipped group of settings."""

    key: str  # as written: an alias, a path, or the name of a zipped group
    where: str  # "grid.width", "include[0].seed", "profiles.smoke.grid.seed"
    paths: tuple[str, ...]
    entries: tuple[Entry, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()  # zipped values, one tuple per option
    bounds: tuple[Any, ...] = ()  # range: start, stop, step (ints or expressions)

    @property
    def is_seed(self) -> bool:
        return self.paths == ("seed",)

    @property
    def conditional(self) -> bool:
        """Every entry has a ``when``: where none holds, a fixed value of the setting stays."""
        return bool(self.entries) and all(e.when is not None for e in self.entries)

    @property
    def references(self) -> tuple[str, ...]:
        exprs = [e for entry in self.entries for e in (entry.expr, entry.when) if e is not None]
        exprs += [b for b in self.bounds if isinstance(b, Expression)]
        return tuple(n for e in exprs for n in e.names)

    def range(self, lookup) -> tuple[int, int, int]:
        """start, stop, step of a ``range`` axis (ExpressionError if an expression fails)."""
        start, stop, step = (_int(b(lookup) if isinstance(b, Expression) else b, b)
                             for b in self.bounds)
        if step == 0:
            raise ExpressionError("range: step must not be 0")
        return start, stop, step

    def options(self, lookup) -> list[tuple[Any, ...]]:
        """The value tuples (aligned with ``paths``) this axis takes given the settings so far;
        ``[(UNSET,)]`` when no entry's ``when`` holds (the setting stays as fixed has it).

        ExpressionError if an expression fails.
        """
        if self.rows:
            return list(self.rows)
        if self.bounds:
            return [(v,) for v in range(*self.range(lookup))]
        out = [(e.expr(lookup) if e.expr is not None else e.value,) for e in self.entries
               if e.when is None or e.when(lookup)]
        return out or [(UNSET,)]


def _int(v: Any, src: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise ExpressionError(f"range: bounds must be integers, got {v!r}"
                              + (f" from '{src.text}'" if isinstance(src, Expression) else ""))
    return int(v)


def expression(text: Any, where: str) -> Expression:
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected an expression (a string), got {text!r}")
    try:
        return Expression(text)
    except ExpressionError as err:
        raise ConfigError(f"{where}: {err}") from None


def _entry(item: Any, where: str) -> Entry:
    if not (isinstance(item, dict) and item and set(item) <= _ENTRY_KEYS):
        return Entry(value=item)
    if ("value" in item) == ("expr" in item):
        raise ConfigError(f"{where}: an entry with 'when' gives exactly one of 'value' or 'expr'")
    when = expression(item["when"], f"{where}.when") if "when" in item else None
    if "expr" in item:
        return Entry(expr=expression(item["expr"], f"{where}.expr"), when=when)
    return Entry(value=item["value"], when=when)


def setting_path(key: str, where: str) -> str:
    """The path a key names; ConfigError naming ``where`` if it names none."""
    try:
        return paths.resolve(key)
    except paths.UnknownSetting as err:
        raise ConfigError(f"{where}: {err}") from None


def parse_axis(key: str, spec: Any, where: str) -> Axis:
    """An axis from its YAML form (see ``AXIS_FORMS``)."""
    if isinstance(spec, dict) and set(spec) == {"zip"}:
        return _parse_zip(key, spec["zip"], where)
    path = setting_path(key, where)
    if isinstance(spec, dict) and set(spec) == {"values"}:
        spec = spec["values"]
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: empty list; an axis needs at least one value")
        return Axis(key, where, (path,), entries=tuple(
            _entry(item, f"{where}[{i}]") for i, item in enumerate(spec)))
    if isinstance(spec, dict) and set(spec) == {"expr"}:
        return Axis(key, where, (path,), entries=(Entry(expr=expression(spec["expr"],
                                                                         f"{where}.expr")),))
    if isinstance(spec, dict) and set(spec) == {"range"}:
        return Axis(key, where, (path,), bounds=_parse_range(spec["range"], f"{where}.range"))
    raise ConfigError(f"{where}: expected {AXIS_FORMS}; got {spec!r:.100} (a single value "
                      "belongs under 'fixed')")


def _parse_range(spec: Any, where: str) -> tuple[Any, ...]:
    items = spec if isinstance(spec, list) else [spec]
    if not 1 <= len(items) <= 3:
        raise ConfigError(f"{where}: expected STOP, [START, STOP] or [START, STOP, STEP], "
                          f"got {spec!r}")
    bounds = []
    for item in items:
        if isinstance(item, str):
            bounds.append(expression(item, where))
        elif isinstance(item, int) and not isinstance(item, bool):
            bounds.append(item)
        else:
            raise ConfigError(f"{where}: bounds are integers or expressions (strings), "
                              f"got {item!r}")
    if len(bounds) == 1:
        bounds.insert(0, 0)
    if len(bounds) == 2:
        bounds.append(1)
    if bounds[2] == 0:
        raise ConfigError(f"{where}: step must not be 0")
    if not any(isinstance(b, Expression) for b in bounds) and not range(*bounds):
        raise ConfigError(f"{where}: empty range {spec!r}; an axis needs at least one value")
    return tuple(bounds)


def _parse_zip(name: str, spec: Any, where: str) -> Axis:
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{where}.zip: expected a mapping of settings to equally long lists, "
                          f"got {spec!r:.100}")
    columns, keys = [], []
    for key, values in spec.items():
        path = setting_path(key, f"{where}.zip.{key}")
        if path == "seed":
            raise ConfigError(f"{where}.zip.{key}: the seed cannot be zipped; give it its own axis")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.zip.{key}: expected a non-empty list of values, "
                              f"got {values!r:.100}")
        keys.append(path)
        columns.append(values)
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        shown = ", ".join(f"{k}: {len(c)}" for k, c in zip(spec, columns))
        raise ConfigError(f"{where}.zip: lists of different lengths ({shown}); zipped values "
                          "are paired, so give lists of equal length")
    return Axis(name, where, tuple(keys), rows=tuple(zip(*columns)))


def parse_grid(grid: dict[str, Any], where: str) -> list[Axis]:
    return [parse_axis(str(k), v, f"{where}.{k}") for k, v in grid.items()]


def merge_axes(base: list[Axis], extra: list[Axis]) -> list[Axis]:
    """``base`` with each axis of ``extra`` replacing the base axes that share a setting with it
    (in the place of the first), or appended when it shares none."""
    out: list[Axis | None] = list(base)
    for axis in extra:
        hit = [i for i, b in enumerate(out) if b and set(b.paths) & set(axis.paths)]
        for i in hit[1:]:
            out[i] = None
        if hit:
            out[hit[0]] = axis
        else:
            out.append(axis)
    return [a for a in out if a is not None]


# ---- exclude ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exclude:
    """Drop the tasks whose settings equal ``match`` (as written), or where ``when`` holds."""

    where: str
    match: tuple[tuple[str, Any], ...] = ()
    when: Expression | None = None

    @property
    def on_seed(self) -> bool:
        names = self.when.names if self.when else [p for p, _ in self.match]
        return any(n == "seed" for n in names)


def parse_exclude(item: Any, where: str, axis_paths: set[str]) -> Exclude:
    if isinstance(item, str):
        return Exclude(where, when=expression(item, where))
    if not item:
        raise ConfigError(f"{where}: empty; give settings to match ({{width: 5, biases: true}}) "
                          "or an expression string")
    match = []
    for key, value in item.items():
        path = setting_path(key, f"{where}.{key}")
        if path not in axis_paths:
            raise ConfigError(f"{where}.{key}: not an axis of this sweep; exclude matches axis "
                              f"values (axes: {', '.join(sorted(axis_paths))})")
        match.append((path, value))
    return Exclude(where, match=tuple(match))


def check_axes(axes: list[Axis], fixed: dict[str, tuple[Any, str]]) -> None:
    """Each setting in one place (a conditional axis may override a fixed value), and expressions
    referring only to settings fixed or set by an earlier axis (the seed always varies innermost,
    so no other axis may refer to it)."""
    seen: list[Axis] = []
    for axis in axes:
        for path in axis.paths:
            for other in seen:
                for p in other.paths:
                    if p == path:
                        raise ConfigError(f"{axis.where}: sets {path}, already set by "
                                          f"axis {other.where}; give each axis once")
                    if paths.covers(path, p):
                        raise ConfigError(f"{axis.where}: replaces all of {path}, "
                                          f"including {p} set by the earlier axis {other.where}; "
                                          "list the inner setting after the outer one")
            for leaf, (_, where) in fixed.items():
                if paths.covers(path, leaf) and not axis.conditional:
                    raise ConfigError(f"{axis.where}: sets {path}, also set by {where}; "
                                      "give each setting once (fixed or an axis)")
        for ref in axis.references:
            _check_reference(axis, ref, axes, seen)
        seen.append(axis)


def _check_reference(axis: Axis, ref: str, axes: list[Axis], seen: list[Axis]) -> None:
    try:
        path = paths.resolve(ref)
    except paths.UnknownSetting as err:
        raise ConfigError(f"{axis.where}: expression refers to {err}") from None
    if path == "seed" and not axis.is_seed:
        raise ConfigError(f"{axis.where}: refers to the seed; the seed varies innermost, "
                          "so only the seed axis itself and exclude may use it")
    later = [a for a in axes if a not in seen and a is not axis
             and any(paths.covers(p, path) or paths.covers(path, p) for p in a.paths)]
    if later:
        raise ConfigError(f"{axis.where}: refers to '{ref}', set by the axis "
                          f"{later[0].where} listed after it; list that axis first")
