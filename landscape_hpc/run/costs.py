"""Estimated seconds per work unit, by which ``submit`` packs units into jobs (:mod:`.pack`).

A unit's cost is its tasks to run times its group's seconds per task, taken from, in turn:

* **measured**: the group's units with done tasks, each its wall time over its done tasks, the
  median over the units.  A unit's wall time is that of its slowest trajectory: the engine's
  clock counts every step of the batch for each trajectory still running, and its polish;
* **calibrated**: the group's mean seconds per task in the JSON of ``landscape-hpc plan SWEEP
  --calibrate N --json`` (``--costs FILE``); for a fresh store the only source.  Its per-task
  times come from batches of the sample's size, the measured ones from whole units, so where
  both exist the measured one wins;
* the median of the groups that have one.

Without either (a fresh store, no ``--costs``) there is no estimate: the packer weighs units by
their task counts and makes as many jobs as the profile allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from pydantic import ConfigDict, Field, StrictStr

from ..config import ConfigError, Spec, validate
from ..store import DONE, Store
from .executor import Units

HOW = "write it with 'landscape-hpc plan SWEEP --calibrate N --json > FILE'"


class _Read(Spec):
    """Reads the keys the packer needs; a calibration file has many more."""

    model_config = ConfigDict(extra="ignore")


class _GroupCost(_Read):
    id: StrictStr
    mean_s_per_task: float = Field(ge=0, allow_inf_nan=False, strict=True)


class _Calibration(_Read):
    groups: list[_GroupCost] = Field(min_length=1)


class _CalibrationFile(_Read):
    calibration: _Calibration


@dataclass(frozen=True)
class Calibrated:
    """Mean seconds per task by group id, from a calibration file."""

    path: Path
    per_task: dict[str, float]

    @classmethod
    def read(cls, path: str | Path) -> "Calibrated":
        """The file's ``calibration.groups``; a ConfigError naming the file and key if it is not
        the JSON of ``plan --calibrate``."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: not a readable JSON file ({err}); {HOW}") from None
        try:
            groups = validate(_CalibrationFile, doc, str(path)).calibration.groups
        except ConfigError as err:
            raise ConfigError(f"{err}\n{HOW}") from None
        return cls(path, {g.id: g.mean_s_per_task for g in groups})

    def check(self, group_ids: Iterable[str], what: str) -> None:
        """A ConfigError if none of ``group_ids`` (the groups of ``what``) is calibrated."""
        ids = list(group_ids)
        if not any(g in self.per_task for g in ids):
            raise ConfigError(f"{self.path}: calibration.groups: none of its {len(self.per_task)} "
                              f"groups is one of the {len(ids)} of {what}; calibrate the same "
                              "sweep file and profile")


def unit_costs(store: Store, units: Units, calibrated: Calibrated | None = None
               ) -> np.ndarray | None:
    """Estimated seconds of each of ``units`` ((unit, tasks to run) pairs); None without a
    measurement or calibration."""
    per_task = {} if calibrated is None else {
        i: calibrated.per_task[g.id] for i, g in enumerate(store.meta.groups)
        if g.id in calibrated.per_task}
    per_task.update(_measured(store))
    if not per_task:
        return None
    fallback = float(np.median(list(per_task.values())))
    unit_group = store.units["group"][:]
    return np.array([n * per_task.get(int(unit_group[u]), fallback) for u, n in units])


def _measured(store: Store) -> dict[int, float]:
    """Seconds per task by group index, from the units with done tasks."""
    status = store.tasks["status"][:].reshape(store.n_units, store.unit_size)
    wall = store.tasks["wall_time"][:].reshape(store.n_units, store.unit_size)
    done = status == DONE
    units = np.flatnonzero(done.any(1))
    if not len(units):
        return {}
    rate = np.array([wall[u][done[u]].max() / done[u].sum() for u in units])
    group = store.units["group"][:][units]
    return {int(g): float(np.median(rate[group == g])) for g in np.unique(group)}
