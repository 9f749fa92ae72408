"""What a plan holds: groups of tasks, work units, tasks, and the summary per axis.

* **Task**: one trajectory, ``{problem, dynamics, seed}`` (``initial`` too when started from a
  store), with the content-addressed id of :mod:`.ids`.
* **Group**: the tasks that share everything but the seed (one canonical seedless config); the
  worker integrates a group's tasks in one vectorised call.  A group gives the store what sizes
  its arrays (``n_params``, ``n_snapshots``, ``snap_theta``), so the store builds no network.
* **Work unit**: the tasks of a group whose seeds fall in one block ``[k * size, (k + 1) * size)``
  (``units.size`` in the sweep file, default 64); unit id ``<group id>-<k>``.  Membership is a
  function of the seed alone, so adding seeds never moves a task to another unit: it fills the
  units' free slots or opens new units, and a task's slot in its unit is ``seed % size``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..dynamics.spec import DynamicsSpec, SnapshotSpec
from ..models.network import NetSpec
from . import ids
from .axes import UNSET
from .spec import Sweep


@dataclass(frozen=True)
class Unit:
    group: str
    block: int
    seeds: np.ndarray

    @property
    def id(self) -> str:
        return f"{self.group}-{self.block}"


@dataclass
class Group:
    """Tasks equal but for the seed: their canonical seedless config and sorted seeds."""

    config: dict
    json: str
    digest: str
    settings: dict[str, Any]  # axis key -> value as written, of the first combination
    seeds: np.ndarray

    @property
    def id(self) -> str:
        return self.digest[:ids.ID_HEX]

    @cached_property
    def n_params(self) -> int:
        """Parameters of the group's network (the store sizes ``param`` by the largest)."""
        return NetSpec.model_validate(self.config["problem"]["net"]).num_params

    @cached_property
    def snapshots(self) -> SnapshotSpec:
        return DynamicsSpec.model_validate(self.config["dynamics"]).snapshots

    @property
    def n_snapshots(self) -> int:
        """Snapshot capacity of a trajectory (the store sizes ``snapshot`` by the largest)."""
        return self.snapshots.capacity

    @property
    def snap_theta(self) -> bool:
        """Whether the snapshots keep theta (the store then has ``snap_theta``)."""
        return self.snapshots.theta

    def task_ids(self) -> list[str]:
        return ids.task_ids(self.json, self.seeds)

    def units(self, size: int) -> list[Unit]:
        blocks = self.seeds // size
        cuts = np.flatnonzero(blocks[1:] != blocks[:-1]) + 1
        starts, stops = np.r_[0, cuts], np.r_[cuts, len(self.seeds)]
        return [Unit(self.id, int(blocks[a]), self.seeds[a:b]) for a, b in zip(starts, stops)]


@dataclass(frozen=True)
class Task:
    id: str
    group: str
    seed: int
    unit: str


@dataclass
class AxisSummary:
    key: str
    paths: tuple[str, ...]
    counts: dict[str, list] = field(default_factory=dict)  # value JSON -> [value, tasks]


@dataclass
class Plan:
    sweep: Sweep
    groups: list[Group]
    axes: list[AxisSummary]
    duplicates: int = 0  # tasks produced twice (e.g. by an include) and planned once
    warnings: list[str] = field(default_factory=list)
    per_source: int | None = None  # from-store sweeps planned without their source records

    @property
    def n_tasks(self) -> int:
        return sum(len(g.seeds) for g in self.groups)

    def units(self) -> list[Unit]:
        return [u for g in self.groups for u in g.units(self.sweep.unit_size)]

    def seed_summary(self) -> dict:
        """Smallest and largest seed, and the fewest and most seeds of a group."""
        counts = [len(g.seeds) for g in self.groups]
        return {"min": min((int(g.seeds[0]) for g in self.groups), default=None),
                "max": max((int(g.seeds[-1]) for g in self.groups), default=None),
                "per_group": [min(counts, default=0), max(counts, default=0)]}

    def tasks(self) -> Iterator[Task]:
        size = self.sweep.unit_size
        for g in self.groups:
            for tid, seed in zip(g.task_ids(), g.seeds.tolist()):
                yield Task(tid, g.id, seed, f"{g.id}-{seed // size}")

    def to_dict(self, with_tasks: bool = False) -> dict:
        """The plan as JSON-ready data; ``with_tasks`` lists each group's task ids (seed order)."""
        s = self.sweep
        groups = []
        for g in self.groups:
            entry = {"id": g.id, "digest": g.digest, "settings": g.settings, "config": g.config,
                     "n_tasks": len(g.seeds), "seeds": seed_runs(g.seeds),
                     "units": [{"id": u.id, "block": u.block, "n_tasks": len(u.seeds),
                                "seeds": [int(u.seeds[0]), int(u.seeds[-1])]}
                               for u in g.units(s.unit_size)]}
            if with_tasks:
                entry["task_ids"] = g.task_ids()
            groups.append(entry)
        out = {"sweep": s.name, "file": str(s.file), "profile": s.profile,
               "profiles": list(s.profiles), "description": s.description,
               "n_tasks": self.n_tasks, "n_groups": len(self.groups),
               "n_units": sum(len(g["units"]) for g in groups), "unit_size": s.unit_size,
               "duplicates": self.duplicates, "id_scheme": ID_SCHEME,
               "axes": [axis_dict(a) for a in self.axes], "seeds": self.seed_summary(),
               "warnings": self.warnings,
               "groups": groups}
        if s.source is not None:
            out["source"] = {"store": str(s.source.store), "per_source_task": self.per_source}
        return out


ID_SCHEME = (f"task id = first {ids.ID_HEX} hex digits of sha256(canonical task JSON); "
             "unit id = <group id>-<seed // unit_size>")


def seed_runs(seeds: np.ndarray) -> list[list[int]]:
    """Sorted seeds as [start, stop) runs of consecutive integers."""
    if not len(seeds):
        return []
    cuts = np.flatnonzero(np.diff(seeds) != 1) + 1
    starts, stops = np.r_[0, cuts], np.r_[cuts, len(seeds)]
    return [[int(seeds[a]), int(seeds[b - 1]) + 1] for a, b in zip(starts, stops)]


def axis_dict(a: AxisSummary) -> dict:
    return {"key": a.key, "paths": list(a.paths),
            "values": [{"value": "(unset)" if v is UNSET else v, "tasks": n}
                       for v, n in a.counts.values()]}


def show(value: Any) -> str:
    """A value as written, compactly (JSON with YAML's spelling of booleans)."""
    if value is UNSET:
        return "(unset)"
    return json.dumps(value, separators=(", ", ": "), default=str)[:80]
