"""The store's metadata: the root attribute ``landscape_hpc``, typed (:class:`StoreMeta`).

Decisions:

* Only :class:`~.store.Store` methods write it (create, extend, ``add_submission``); everyone
  else reads ``store.meta`` by attribute.  ``meta["key"]`` and ``meta.get("key")`` work too, for
  readers not yet converted.
* It is written as ``model_dump()`` (python mode) and zarr encodes the JSON, as before: pydantic's
  JSON mode would turn an infinite setting in a group config (``patience: .inf``) into null.
* Unlike a configuration :class:`~landscape_hpc.config.Spec`, unknown keys are kept
  (``extra="allow"``), not refused: a store written by a newer version stays readable and keeps
  them when this version rewrites the attributes; and the store updates the model in place
  (``frozen=False``) before it writes it.
* Submissions are :class:`Submission` (packs of units, and the arrays that run them).  Older stores
  have one entry per array job, ``{backend, job_id, units, submitted}`` with element i running
  unit ``units[i]``; they read as one pack per unit and one :class:`ArrayPart` over them all.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, model_validator

from ..config import Spec


class _Meta(Spec):
    model_config = ConfigDict(extra="allow", frozen=False)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields and key not in (self.model_extra or {}):
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class GroupMeta(_Meta):
    """A task group: its id, canonical seedless config and axis settings as written."""

    id: str
    config: dict[str, Any]
    settings: dict[str, Any]


class FileMeta(_Meta):
    """A sweep file that created or extended the store, with its text and the tasks it added."""

    file: str
    profile: str | None
    text: str
    added: int
    at: str


class ArrayPart(_Meta):
    """SLURM array ``job_id``: its element i runs pack ``first + i`` of the submission."""

    job_id: str
    first: int
    count: int


class Submission(_Meta):
    """One submission: the units each packed job runs (in order), and the arrays running them."""

    backend: str
    submitted: str  # ISO time, UTC, seconds
    packs: list[list[int]]
    arrays: list[ArrayPart]

    @model_validator(mode="before")
    @classmethod
    def _per_unit(cls, data: Any) -> Any:
        """An entry of an older store: one array job, element i running ``units[i]``."""
        if isinstance(data, dict) and "units" in data and "packs" not in data:
            units = data["units"]
            return {"backend": data["backend"], "submitted": data["submitted"],
                    "packs": [[u] for u in units],
                    "arrays": [{"job_id": data["job_id"], "first": 0, "count": len(units)}]}
        return data


class Extension(_Meta):
    """An extension under way: the sweep file adding tasks, when, and the shapes of the arrays
    before it (``tasks/NAME`` and ``units/NAME``), to which an interrupted one is rolled back."""

    file: str
    at: str
    shapes: dict[str, list[int]]


class StoreMeta(_Meta):
    """What a store holds: the sweep, its groups and axes, the files that made it, array sizes
    (``n_params``, ``n_snapshots``, ``snap_theta``), provenance and submissions; ``extending``
    while tasks are being added (:meth:`~.store.Store.create_or_extend`)."""

    format: int
    sweep: str
    description: str
    unit_size: int
    groups: list[GroupMeta]
    axes: list[str]
    files: list[FileMeta]
    versions: dict[str, str]
    host: str
    created: str
    n_params: int
    n_snapshots: int
    snap_theta: bool
    source_store: str | None
    jobs: list[Submission] = []
    extending: Extension | None = None
