"""The zarr layout of a results store: which arrays, their dims, dtypes, fills and meaning.

A store is one zarr v3 group per sweep::

    STORE/                 attrs: landscape_hpc = {format, sweep name, sweep files, unit_size,
                                   groups (canonical seedless configs), axes, versions, host, ...}
                                   (typed: :class:`.meta.StoreMeta`)
      tasks/               every array has first dim ``task`` (n_units * unit_size slots), chunk
                           = one work unit; a task sits in slot unit * unit_size + seed % unit_size
        task_id, unit, group, seed, status, error       bookkeeping (status codes: STATUS)
        <axis key>                                      one coordinate per sweep axis
        loss, gradnorm, ..., theta (task, param), eigenvalues (task, param),
        snap_t (task, snapshot), ..., snap_theta (task, snapshot, param)       the records
      units/               dim ``unit``: unit_id, group, block
    STORE.checkpoints/     per-unit trajectory state of interrupted work (npz, written atomically)
    STORE.locks/           per-unit lock files held while a process runs the unit

``theta``-like arrays are padded with NaN to the sweep's largest parameter count (``n_params``
says how many are used); snapshots are padded to the largest capacity (``snap_count``).

The record arrays are not written here: :data:`RECORD` is derived from the fields of
:class:`~landscape_hpc.dynamics.record.TrajectoryRecord` (their ``metadata`` holds dtype, dims,
description, units), after the one derived field ``n_params``; only the bookkeeping arrays are
defined in this module.  ``dynamics.record`` imports no torch, so neither does the store.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..dynamics.record import TrajectoryRecord

FORMAT = 1
STATUS = ("empty", "pending", "running", "done", "failed")
EMPTY, PENDING, RUNNING, DONE, FAILED = range(5)
RERUN = (PENDING, RUNNING, FAILED)  # what run and resume do again by default


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str
    dims: tuple[str, ...] = ()    # dims after ``task``
    description: str = ""
    units: str = ""

    @property
    def fill(self):
        return {"f8": math.nan, "i8": -1, "i4": -1, "i1": 0, "str": ""}[self.dtype]

    @property
    def numpy_dtype(self):
        return object if self.dtype == "str" else np.dtype(self.dtype)

    @classmethod
    def of(cls, f: dataclasses.Field) -> "Field":
        """The store column of a record field (its ``metadata``, see ``record.column``)."""
        m = f.metadata
        return cls(f.name, m["dtype"], m["dims"], m["description"], m["units"])


BOOKKEEPING = (
    Field("task_id", "str", description="content-addressed task id"),
    Field("unit", "i4", description="index of the work unit (dim unit)"),
    Field("group", "i4", description="index of the task group (attrs groups)"),
    Field("seed", "i8", description="seed of the initial point"),
    Field("status", "i1", description="0 empty slot, 1 pending, 2 running, 3 done, 4 failed"),
    Field("error", "str", description="why the task failed"),
)

#: the records: the derived parameter count, then TrajectoryRecord's fields in order
RECORD = (Field("n_params", "i4", description="number of parameters P (theta is NaN-padded)"),
          *(Field.of(f) for f in dataclasses.fields(TrajectoryRecord)))

FIELDS = {f.name: f for f in BOOKKEEPING + RECORD}
RESERVED = set(FIELDS)


def record_arrays(records: list[dict], n_params: int, n_snapshots: int) -> dict[str, np.ndarray]:
    """Stack trajectory records (``TrajectoryRecord.to_dict``) into padded arrays per field."""
    out: dict[str, np.ndarray] = {}
    B = len(records)
    for f in RECORD:
        shape = (B,) + tuple({"param": n_params, "snapshot": n_snapshots}[d] for d in f.dims)
        arr = np.full(shape, f.fill, dtype=f.numpy_dtype)
        for i, r in enumerate(records):
            value = len(r["theta"]) if f.name == "n_params" else r.get(f.name)
            if value is None:
                continue
            value = np.asarray(value)
            arr[(i,) + tuple(slice(0, s) for s in value.shape)] = value
        out[f.name] = arr
    return out
