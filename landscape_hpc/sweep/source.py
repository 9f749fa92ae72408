"""Sweeps that start from another store's results: selecting source tasks, building new tasks.

The sweep file declares ``from_store: {store, select: {match, where, limit}, initial}``.  The
store reader (the store stage) turns the source store into :class:`SourceRecord` s and calls
:func:`~.plan.plan_from_records`; each selected record gives a base config — the source task's
``problem`` and ``dynamics``, ``initial.source`` = its task id — over which the sweep's fixed
settings and axes are laid.  The source's seed is not inherited: a new task's seed draws its
perturbation.  The store path is not part of any id (a moved store keeps its ids).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic

from ..config import ConfigError
from . import ids, paths
from .expr import ExpressionError

if TYPE_CHECKING:
    from .spec import Sweep


@dataclass(frozen=True)
class SourceRecord:
    """One task of the source store: its id, its task config, and result fields for ``where``
    (e.g. ``status``, ``loss``, ``gradnorm``, ``weightnorm``, ``stopped_by``)."""

    task_id: str
    config: Mapping[str, Any]
    summary: Mapping[str, Any] = field(default_factory=dict)


def _matches(sweep: Sweep, record: SourceRecord, cache: dict) -> bool:
    for path, value in sweep.source.match:
        if path == "seed":
            if record.config.get("seed") != value:
                return False
            continue
        key = (ids.canonical_json(dict(record.config)), path, repr(value))
        if key not in cache:
            try:
                before = _seedless(record.config)
                after = _seedless(paths.assign(dict(record.config), path, value))
            except (pydantic.ValidationError, ValueError) as err:
                raise sweep.error(f"from_store.select.match: {path} = {value!r} does not fit "
                                  f"source task {record.task_id}: {err}") from None
            cache[key] = before == after
        if not cache[key]:
            return False
    return True


def _seedless(config: Mapping) -> dict:
    return ids.canonical(config["problem"], config.get("dynamics"), config.get("initial"))


def _where(sweep: Sweep, record: SourceRecord) -> bool:
    expr = sweep.source.where
    if expr is None:
        return True

    def lookup(name: str) -> Any:
        if name in record.summary:
            return record.summary[name]
        try:
            return paths.lookup(dict(record.config), name)
        except (KeyError, paths.UnknownSetting):
            raise ExpressionError(f"'{name}' is neither a result field of source task "
                                  f"{record.task_id} ({', '.join(record.summary)}) nor one of "
                                  "its settings") from None
    try:
        return bool(expr(lookup))
    except ExpressionError as err:
        raise sweep.error(f"from_store.select.where: {err}") from None


def select(sweep: Sweep, records: Iterable[SourceRecord]) -> list[SourceRecord]:
    """The source records the sweep selects, by seed then task id, at most ``limit``."""
    cache: dict = {}
    chosen = [r for r in records if _matches(sweep, r, cache) and _where(sweep, r)]
    chosen.sort(key=lambda r: (r.config.get("seed", 0), r.task_id))
    return chosen[:sweep.source.limit]


def base_config(sweep: Sweep, record: SourceRecord) -> dict:
    """The source's problem and dynamics, ``initial.source``, then the sweep's fixed settings."""
    if "problem" not in record.config:
        raise ConfigError(f"source task {record.task_id}: its config has no 'problem'")
    base = {"problem": record.config["problem"], "dynamics": record.config.get("dynamics", {}),
            "initial": {"source": record.task_id}}
    for path in sweep.fixed_where:
        base = paths.assign(base, path, paths.get(sweep.fixed, path))
    return base
