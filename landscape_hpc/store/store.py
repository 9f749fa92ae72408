"""The results store: create or extend it from a plan, read and write work units, checkpoints, locks.

Writers never share a zarr chunk: every array is chunked along ``task`` by one work unit, and a
unit is run by one process at a time (an exclusive lock file).  :meth:`Store.write_records` writes
a unit's records field by field and its ``status`` chunk last, so a task is ``done`` only after its
whole record is on disk.

Chunk files (checked in zarr 3.1.6, ``zarr/storage/_local.py``): LocalStore writes each chunk to a
temporary ``<chunk>.<uuid>.partial`` in the same directory and renames it into place, so a killed
writer leaves the old chunk (and a stray ``.partial`` file), never part of a new one.  That holds
since zarr 3.1.3; 3.1.0-3.1.2 wrote chunk files in place.  Nothing is fsynced: after a node crash,
or on a shared filesystem whose client had not flushed, a renamed chunk can still be empty or
truncated.  :meth:`Store.verify` finds the units with a chunk that cannot be decoded, and
:meth:`Store.reset_unit` makes such a unit runnable again.

Metadata: the root attribute ``landscape_hpc`` (:class:`.meta.StoreMeta`) is written only by the
coordinator's methods (create, extend, :meth:`Store.add_submission`), each followed by
:meth:`Store.consolidate`: zarr's consolidated metadata at the root and for ``tasks``, so that
``xarray.open_zarr(STORE / "tasks")`` opens in one read and without a warning.  It holds shapes,
codecs and attributes, not chunks; workers only write chunks (and ``reset_unit`` deletes some), so
it stays current while they run.  It is stale only if a coordinator dies between growing the
arrays and consolidating, until the next create, extend or submission; the store itself always
reads the live metadata (``use_consolidated=False``), :func:`open_results` the consolidated one
where present.

Creating and extending: a new store is written beside its path and renamed into place, so a
killed creation leaves nothing at the path.  An extension grows the arrays in place; it first
records the arrays' shapes in ``meta.extending`` and clears it when done.  A store left with that
mark (a coordinator killed while adding tasks) is refused by every reader, and the next
``run`` rolls it back to the recorded shapes (the added tasks never ran, no result is touched)
before it extends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pydantic
import zarr
from zarr.core.sync import sync
from zarr.errors import ZarrUserWarning

from .._version import __version__
from ..config import ConfigError
from . import locks
from .layout import (BOOKKEEPING, DONE, EMPTY, FAILED, FIELDS, FORMAT, PENDING, RECORD, RESERVED,
                     Field, record_arrays)
from .meta import Extension, FileMeta, GroupMeta, StoreMeta, Submission

if TYPE_CHECKING:
    from ..sweep import Plan

ATTR = "landscape_hpc"


def _versions() -> dict[str, str]:
    import scipy
    import torch
    import xarray

    out = {"landscape_hpc": __version__, "python": platform.python_version(),
           "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
           "zarr": zarr.__version__, "xarray": xarray.__version__}
    try:
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=5).stdout.strip() or "unknown"
    except OSError:
        out["commit"] = "unknown"
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read_meta(path: Path, raw: object) -> StoreMeta:
    """The store's metadata from its root attribute (ConfigError naming what is wrong)."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a landscape-hpc store of format {FORMAT}")
    try:
        return StoreMeta.model_validate(raw)
    except pydantic.ValidationError as err:
        problems = "; ".join(f"{ATTR}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in err.errors()[:5])
        raise ConfigError(f"{path / 'zarr.json'}: attribute '{ATTR}' is not landscape-hpc store "
                          f"metadata ({problems})") from None


def _axis_value(value) -> object:
    """A setting as an axis coordinate: numbers and strings as they are, others (booleans,
    lists, mappings) as their JSON text."""
    from ..sweep.tasks import show

    plain = isinstance(value, str) or (isinstance(value, (int, float))
                                       and not isinstance(value, bool))
    return value if plain else show(value)


class Store:
    """An open results store (see :mod:`.layout`)."""

    def __init__(self, path: str | Path, mode: str = "r", extending: bool = False):
        """Open the store at ``path``; ``extending``: also one whose extension was interrupted
        (only :meth:`create_or_extend`, which rolls it back)."""
        self.path = Path(path)
        if not (self.path / "zarr.json").is_file():
            raise ConfigError(f"{self.path}: not a landscape-hpc store (no zarr.json)")
        self.root = zarr.open_group(self.path, mode=mode, use_consolidated=False)
        self.meta = _read_meta(self.path, self.root.attrs.get(ATTR))
        if self.meta.extending is not None and not extending:
            e = self.meta.extending
            raise ConfigError(f"{self.path}: adding the tasks of {e.file} (at {e.at}) was "
                              f"interrupted; run a sweep file into it again "
                              f"(`landscape-hpc run SWEEP --store {self.path}`), which first "
                              f"undoes the unfinished addition; no result was touched")
        self.tasks = zarr.open_group(self.path, path="tasks", mode=mode, use_consolidated=False)
        self.units = zarr.open_group(self.path, path="units", mode=mode, use_consolidated=False)
        self._arrays: dict[str, zarr.Array] = {}

    def array(self, name: str) -> zarr.Array:
        """A task array, its handle cached (for the worker's many chunk reads and writes)."""
        if name not in self._arrays:
            self._arrays[name] = self.tasks[name]
        return self._arrays[name]

    @cached_property
    def fields(self) -> set[str]:
        """Names of the task arrays."""
        return set(self.tasks.array_keys())

    # ---- creation and metadata (the coordinator) -----------------------------------------------
    @classmethod
    def create_or_extend(cls, path: str | Path, plan: Plan) -> tuple["Store", int]:
        """The store for ``plan`` at ``path``, created, or extended by the plan's new tasks.
        Returns the store and the number of tasks added."""
        path = Path(path)
        sweep = plan.sweep
        text = Path(sweep.file).read_text()
        if (path / "zarr.json").is_file():
            store = cls(path, "r+", extending=True)
            if store.meta.extending is not None:
                store._roll_back()
            if store.meta.sweep != sweep.name:
                raise ConfigError(
                    f"{path}: this store holds sweep '{store.meta.sweep}', not '{sweep.name}' "
                    f"({sweep.file}); give another --store")
            if store.meta.unit_size != sweep.unit_size:
                raise ConfigError(f"{sweep.file}: units.size is {sweep.unit_size}, the store "
                                  f"{path} was made with {store.meta.unit_size}")
        elif path.exists():
            raise ConfigError(f"{path}: exists and is not a landscape-hpc store")
        else:
            return cls._create(path, plan, text)
        try:
            added = store._extend(plan, text)
        except BaseException:
            store._roll_back()  # a refused file or an interrupt writes nothing
            raise
        store.consolidate()
        return store, added

    @classmethod
    def _create(cls, path: Path, plan: Plan, text: str) -> tuple["Store", int]:
        """A new store, written beside ``path`` and renamed into place once complete: a creation
        that is killed leaves no store at ``path`` (only a ``.partial-*`` directory)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.partial-{uuid.uuid4().hex[:12]}")
        try:
            store = cls._new(tmp, plan)
            added = store._extend(plan, text)
            store.consolidate()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.rename(tmp, path)
        return cls(path, "r+"), added

    @classmethod
    def _new(cls, path: Path, plan: Plan) -> "Store":
        sweep = plan.sweep
        root = zarr.open_group(path, mode="w-")
        source = None if sweep.source is None else str(sweep.source.store)
        meta = StoreMeta(
            format=FORMAT, sweep=sweep.name, description=sweep.description,
            unit_size=sweep.unit_size, groups=[], axes=[], files=[], versions=_versions(),
            host=socket.gethostname(), created=_now(), n_params=0, n_snapshots=0,
            snap_theta=False, source_store=source)
        root.attrs[ATTR] = meta.model_dump()
        tasks = root.create_group("tasks")
        units = root.create_group("units")
        for f in BOOKKEEPING:
            _create(tasks, f, (0,), sweep.unit_size)
        for name, dtype in (("unit_id", "str"), ("group", "i4"), ("block", "i8")):
            _create(units, Field(name, dtype), (0,), 1024, dim="unit")
        return cls(path, "r+")

    def add_submission(self, sub: Submission) -> None:
        """Record a submission of jobs in the metadata (read afresh, so that what another
        coordinator wrote meanwhile is kept)."""
        self.root = zarr.open_group(self.path, mode="r+", use_consolidated=False)
        self.meta = _read_meta(self.path, self.root.attrs.get(ATTR))
        self.meta.jobs.append(sub)
        self._save_meta()
        self.consolidate()

    def consolidate(self) -> None:
        """Write zarr's consolidated metadata at the root and for ``tasks`` (module docstring)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Consolidated metadata is currently not part",
                                    ZarrUserWarning)
            zarr.consolidate_metadata(self.path, path="tasks")
            zarr.consolidate_metadata(self.path)

    def _save_meta(self) -> None:
        self.root.attrs[ATTR] = self.meta.model_dump()

    def _roll_back(self) -> None:
        """Undo an interrupted extension: the arrays back to the shapes it recorded, the ones
        it created removed (module docstring)."""
        self.root = zarr.open_group(self.path, mode="r+", use_consolidated=False)
        self.meta = _read_meta(self.path, self.root.attrs.get(ATTR))  # as on disk
        if self.meta.extending is None:  # interrupted before it marked the store: nothing grew
            return
        shapes = self.meta.extending.shapes
        for group in (self.tasks, self.units):
            for name in list(group.array_keys()):
                key = f"{group.basename}/{name}"
                if key not in shapes:
                    del group[name]
                elif list(group[name].shape) != shapes[key]:
                    group[name].resize(tuple(shapes[key]))
        self.meta.extending = None
        self._save_meta()
        self.consolidate()
        self.__dict__.pop("fields", None)
        self._arrays.clear()

    def _extend(self, plan: Plan, text: str) -> int:
        size = self.unit_size
        self.meta.extending = Extension(
            file=str(plan.sweep.file), at=_now(),
            shapes={f"{g.basename}/{name}": list(g[name].shape)
                    for g in (self.tasks, self.units) for name in g.array_keys()})
        self._save_meta()
        meta = self.meta
        groups = {g.id: i for i, g in enumerate(meta.groups)}
        for g in plan.groups:
            if g.id not in groups:
                groups[g.id] = len(meta.groups)
                meta.groups.append(GroupMeta(id=g.id, config=g.config, settings=g.settings))
        meta.n_params = max([meta.n_params, *(g.n_params for g in plan.groups)])
        meta.n_snapshots = max([meta.n_snapshots, *(g.n_snapshots for g in plan.groups)])
        meta.snap_theta = meta.snap_theta or any(g.snap_theta for g in plan.groups)
        for a in plan.axes:
            if a.key not in meta.axes and a.key != "seed":
                if a.key in RESERVED:
                    raise ConfigError(f"{plan.sweep.file}: axis name '{a.key}' clashes with a "
                                      f"store field; rename the axis")
                meta.axes.append(a.key)
        self._grow(plan)

        known = {u: i for i, u in enumerate(self.units["unit_id"][:].tolist())}
        old_units = len(known)
        new_units = [u for u in plan.units() if u.id not in known]
        plan_groups = {g.id: g for g in plan.groups}
        task_ids = {g.id: dict(zip(g.seeds.tolist(), g.task_ids())) for g in plan.groups}

        def fill(block: dict, slots: np.ndarray, unit, index: int, seeds: np.ndarray) -> None:
            ids = [task_ids[unit.group][s] for s in seeds.tolist()]
            self._fill(block, slots, index, groups[unit.group], seeds, ids,
                       plan_groups[unit.group].settings)

        added = 0
        if new_units:
            n = len(new_units)
            self._resize_tasks((old_units + n) * size)
            for name in ("unit_id", "group", "block"):
                self.units[name].resize((old_units + n,))
            self.units["unit_id"][old_units:] = np.array([u.id for u in new_units], dtype=object)
            self.units["group"][old_units:] = np.array([groups[u.group] for u in new_units])
            self.units["block"][old_units:] = np.array([u.block for u in new_units])
            block = self._blank(n * size)
            for k, u in enumerate(new_units):
                fill(block, k * size + u.seeds % size, u, old_units + k, u.seeds)
                added += len(u.seeds)
            for name, values in block.items():
                self.tasks[name][old_units * size:] = values
        for u in plan.units():
            if u.id not in known:
                continue
            index = known[u.id]
            sl = slice(index * size, (index + 1) * size)
            status = self.tasks["status"][sl]
            new = u.seeds[status[u.seeds % size] == EMPTY]
            if len(new) == 0:
                continue
            block = {name: self.tasks[name][sl] for name in ["task_id", "unit", "group", "seed",
                                                             "status", *meta.axes]}
            fill(block, new % size, u, index, new)
            for name, values in block.items():
                self.tasks[name][sl] = values
            added += len(new)
        meta.files.append(FileMeta(file=str(plan.sweep.file), profile=plan.sweep.profile,
                                   text=text, added=added, at=_now()))
        meta.extending = None
        self._save_meta()
        return added

    def _blank(self, n: int) -> dict[str, np.ndarray]:
        out = {f.name: np.full(n, f.fill, dtype=f.numpy_dtype) for f in BOOKKEEPING
               if f.name != "error"}
        for key in self.axes:
            out[key] = np.full(n, *_axis_fill(self.tasks[key].dtype))
        return out

    def _fill(self, block: dict[str, np.ndarray], slots: np.ndarray, unit: int, group: int,
              seeds: np.ndarray, ids: list[str], settings: dict) -> None:
        """Pending tasks ``seeds`` (ids ``ids``) of unit ``unit`` at ``slots`` of ``block``."""
        block["task_id"][slots] = ids
        block["unit"][slots] = unit
        block["group"][slots] = group
        block["seed"][slots] = seeds
        block["status"][slots] = PENDING
        for key in self.axes:
            if key in settings:
                block[key][slots] = _axis_value(settings[key])

    def _grow(self, plan: Plan) -> None:
        T = self.tasks["status"].shape[0]
        size = self.unit_size
        extra = {"param": self.meta.n_params, "snapshot": self.meta.n_snapshots}
        for f in RECORD:
            if f.name == "snap_theta" and not self.meta.snap_theta:
                continue
            shape = (T,) + tuple(extra[d] for d in f.dims)
            if f.name not in self.tasks:
                _create(self.tasks, f, shape, size)
            elif self.tasks[f.name].shape != shape:
                self.tasks[f.name].resize(shape)
        for key in self.axes:
            if key not in self.tasks:
                values = [_axis_value(g.settings[key]) for g in plan.groups if key in g.settings]
                kinds = {type(v) for v in values}
                dtype = "i8" if kinds == {int} else "f8" if kinds <= {int, float} else "str"
                _create(self.tasks, Field(key, dtype, description=f"sweep axis '{key}'"), (T,),
                        size)

    def _resize_tasks(self, n: int) -> None:
        for name in self.tasks.array_keys():
            a = self.tasks[name]
            a.resize((n,) + a.shape[1:])

    # ---- reading -------------------------------------------------------------------------------
    @property
    def unit_size(self) -> int:
        return self.meta.unit_size

    @property
    def n_units(self) -> int:
        return self.units["unit_id"].shape[0]

    @property
    def axes(self) -> list[str]:
        return list(self.meta.axes)

    @property
    def consolidated(self) -> bool:
        """Whether ``tasks`` has consolidated metadata (stores made before it was written: no)."""
        tasks = zarr.open_group(self.path, path="tasks", mode="r")
        return tasks.metadata.consolidated_metadata is not None

    def group_config(self, index: int) -> dict:
        return self.meta.groups[index].config

    def unit_slice(self, u: int) -> slice:
        return slice(u * self.unit_size, (u + 1) * self.unit_size)

    def read_unit(self, u: int, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The chunks of unit ``u`` of ``names`` (default: every field)."""
        names = names or [n for n in FIELDS if n in self.fields]
        return self.read_blocks(u, names)

    def read_blocks(self, u: int, names: list[str]) -> dict[str, np.ndarray]:
        """The chunks of unit ``u`` of several fields, read concurrently."""
        sl = self.unit_slice(u)

        async def read(arrays):
            return await asyncio.gather(*(a.getitem(sl) for a in arrays))

        arrays = [self.array(n)._async_array for n in names]
        return dict(zip(names, sync(read(arrays))))

    # ---- writing (the workers) -----------------------------------------------------------------
    def write_records(self, u: int, slots: np.ndarray, records: list[dict | None],
                      status: np.ndarray, error: np.ndarray) -> None:
        """The results of the tasks at ``slots`` of unit ``u``: their records
        (``TrajectoryRecord.to_dict``; None for a task without one), status and error.

        Records are written first, then the status chunk, then the unit's checkpoint is removed:
        a task is ``done`` only once its whole record is on disk, and a kill at any point loses
        at most the work since the checkpoint.  The unit's other tasks keep their records."""
        ok = [i for i, r in enumerate(records) if r is not None]
        values = record_arrays([records[i] for i in ok], self.meta.n_params,
                               self.meta.n_snapshots)
        self._write_rows(u, slots[ok], {n: v for n, v in values.items() if n in self.fields})
        self.set_status(u, slots, status, error)
        self.clear_checkpoint(u)

    def _write_rows(self, u: int, slots: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Write ``values`` (rows of padded record arrays) at ``slots`` of unit ``u``'s chunks."""
        others = np.setdiff1d(np.arange(self.unit_size), slots)
        if np.isin(self.read_blocks(u, ["status"])["status"][others], (DONE, FAILED)).any():
            blocks = self.read_blocks(u, list(values))  # other tasks of the unit keep their records
        else:
            blocks = {n: np.full((self.unit_size,) + self.array(n).shape[1:], FIELDS[n].fill,
                                 dtype=FIELDS[n].numpy_dtype) for n in values}
        for name, v in values.items():
            blocks[name][(slots,) + tuple(slice(0, s) for s in v.shape[1:])] = v
        self.write_blocks(u, blocks)

    def write_blocks(self, u: int, blocks: dict[str, np.ndarray]) -> None:
        """Write whole chunks of unit ``u`` of several fields, concurrently (each atomically)."""
        sl = self.unit_slice(u)

        async def write(pairs):
            await asyncio.gather(*(a.setitem(sl, v) for a, v in pairs))

        sync(write([(self.array(n)._async_array, v) for n, v in blocks.items()]))

    def set_status(self, u: int, slots: np.ndarray, status: np.ndarray | int,
                   error: np.ndarray | None = None) -> None:
        block = self.read_blocks(u, ["error", "status"])
        block["error"][slots] = "" if error is None else error
        block["status"][slots] = status
        self.write_blocks(u, block)

    # ---- damaged chunks ------------------------------------------------------------------------
    def verify(self, units: list[int] | None = None,
               names: list[str] | None = None) -> dict[int, str]:
        """The units (default: all) with a task chunk (of ``names``, default: every array) that
        cannot be read or decoded (a chunk file truncated on disk), each with a message naming
        the arrays and chunk files.  About a millisecond per chunk."""
        units = list(range(self.n_units)) if units is None else units
        out = {}
        for start in range(0, len(units), 256):  # bounds the reads in flight
            for u, bad in self._unreadable(units[start:start + 256], names).items():
                out[u] = "; ".join(f"{file}: chunk of '{name}' for unit {u} cannot be read ({err})"
                                   for name, (file, err) in bad.items())
        return out

    def reset_unit(self, u: int) -> None:
        """Make unit ``u`` runnable after :meth:`verify` found unreadable chunks: delete its
        unreadable chunk files of record fields, rebuild unreadable bookkeeping and axis chunks
        from the metadata, and set every used slot back to pending, with no error (every task of
        the unit reruns: they shared the lost chunks).  A unit whose chunks all read is left as
        it is.  ConfigError if another process holds the unit, or if no chunk is left that says
        which slots are used."""
        with self.lock(u) as held:
            if not held:
                raise ConfigError(f"{self.path}: unit {u} ({self.units['unit_id'][u]}) is being "
                                  "run by another process; reset it once that process is gone")
            bad = self._unreadable([u]).get(u)
            if not bad:
                return
            book = self._bookkeeping(u, self._used(u, bad))
            for name, (file, _) in bad.items():
                if name not in book:
                    file.unlink()  # reads as the fill value
            self.write_blocks(u, {n: v for n, v in book.items() if n in bad and n != "status"})
            error = np.full(self.unit_size, "", dtype=object)
            self.write_blocks(u, {"error": error, "status": book["status"]})

    def _unreadable(self, units: Iterable[int], names: list[str] | None = None,
                    ) -> dict[int, dict[str, tuple[Path, str]]]:
        """{unit: {array: (chunk file, error)}} of the task chunks of ``units`` (arrays ``names``,
        default all) that cannot be read, all read concurrently."""
        reads = [(u, name, sel, file) for u in units for name in sorted(names or self.fields)
                 for sel, file in self._chunks(name, u)]

        async def check(a, sel) -> str | None:
            try:
                await a.getitem(sel)
            except Exception as err:  # noqa: BLE001 - any failure to decode is the finding
                return f"{type(err).__name__}: {err}"
            return None

        async def check_all():
            return await asyncio.gather(*(check(self.array(n)._async_array, sel)
                                          for _, n, sel, _ in reads))

        out: dict[int, dict[str, tuple[Path, str]]] = {}
        for (u, name, _, file), err in zip(reads, sync(check_all())):
            if err is not None:
                out.setdefault(u, {})[name] = (file, err)
        return out

    def _chunks(self, name: str, u: int) -> list[tuple[tuple[slice, ...], Path]]:
        """Selection and file of each chunk of array ``name`` in unit ``u``'s rows."""
        a = self.array(name)
        sizes = a.chunks[1:]
        grid = itertools.product(*(range(math.ceil(n / c)) for n, c in zip(a.shape[1:], sizes)))
        return [((self.unit_slice(u), *(slice(i * c, (i + 1) * c) for i, c in zip(idx, sizes))),
                 self.path / "tasks" / name / a.metadata.encode_chunk_key((u, *idx)))
                for idx in grid]

    def _used(self, u: int, bad: dict) -> np.ndarray:
        """Slots of unit ``u`` with a task: by its status chunk, else task ids, else seeds."""
        for name, empty in (("status", EMPTY), ("task_id", ""), ("seed", -1)):
            if name not in bad:
                return np.flatnonzero(self.read_blocks(u, [name])[name] != empty)
        files = ", ".join(str(bad[n][0]) for n in ("status", "task_id", "seed"))
        raise ConfigError(f"{self.path}: unit {u}: the chunks that say which slots hold tasks "
                          f"cannot be read ({files}); plan the sweep into a new store instead")

    def _bookkeeping(self, u: int, used: np.ndarray) -> dict[str, np.ndarray]:
        """Unit ``u``'s bookkeeping and axis chunks rebuilt from the metadata, ``used`` pending."""
        from ..sweep.ids import canonical_json, task_ids

        group = int(self.units["group"][u])
        seeds = int(self.units["block"][u]) * self.unit_size + used  # slot = seed % unit_size
        g = self.meta.groups[group]
        block = self._blank(self.unit_size)
        self._fill(block, used, u, group, seeds, task_ids(canonical_json(g.config), seeds),
                   g.settings)
        return block

    # ---- checkpoints and locks -----------------------------------------------------------------
    def _side(self, kind: str, u: int, suffix: str) -> Path:
        d = self.path.with_name(self.path.name + f".{kind}")
        d.mkdir(exist_ok=True)
        return d / f"{self.units['unit_id'][u]}{suffix}"

    def save_checkpoint(self, u: int, seeds: np.ndarray, state: dict[str, np.ndarray]) -> None:
        target = self._side("checkpoints", u, ".npz")
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".partial")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __seeds__=seeds, **state)
        os.replace(tmp, target)

    def load_checkpoint(self, u: int, seeds: np.ndarray) -> dict[str, np.ndarray] | None:
        """The saved state of unit ``u`` if it was for exactly these seeds."""
        path = self._side("checkpoints", u, ".npz")
        if not path.is_file():
            return None
        with np.load(path) as data:
            if not np.array_equal(data["__seeds__"], seeds):
                return None
            return {k: data[k] for k in data.files if k != "__seeds__"}

    def clear_checkpoint(self, u: int) -> None:
        self._side("checkpoints", u, ".npz").unlink(missing_ok=True)

    def lock(self, u: int) -> contextlib.AbstractContextManager[bool]:
        """Hold the unit's lock with a heartbeat (:mod:`.locks`); yields False if a live process
        holds it."""
        return locks.hold(self._side("locks", u, ".lock"))

    def is_live(self, u: int) -> bool:
        """Does a live process (of this host, or beating from another) hold the unit?"""
        return locks.is_live(self._side("locks", u, ".lock"))


def _axis_fill(dtype) -> tuple:
    kind = np.dtype(dtype).kind
    return (np.nan,) if kind == "f" else (-1,) if kind == "i" else ("", object)


def _create(group: zarr.Group, f: Field, shape: tuple[int, ...], chunk: int,
            dim: str = "task") -> zarr.Array:
    dims = (dim, *f.dims)
    kind = str if f.dtype == "str" else f.dtype
    a = group.create_array(f.name, shape=shape, chunks=(chunk, *shape[1:]) if shape[1:] else
                           (chunk,), dtype=kind, fill_value=f.fill, dimension_names=dims)
    a.attrs.update({"description": f.description, **({"units": f.units} if f.units else {})})
    return a


def open_store(path: str | Path, mode: str = "r") -> Store:
    """Open an existing store (ConfigError with the path if it is not one)."""
    return Store(path, mode)


def open_results(path: str | Path):
    """The store's tasks as a lazy (dask-backed) ``xarray.Dataset`` along ``task``, with the
    sweep axes, seed and task id as coordinates; string fields as object arrays."""
    import xarray as xr

    store = Store(path)
    ds = xr.open_zarr(store.path, group="tasks", consolidated=store.consolidated)
    strings = [n for n, v in ds.variables.items() if v.dtype.kind == "T"]
    ds = ds.assign({n: ds[n].astype(object) for n in strings})
    coords = ["task_id", "seed", *store.axes]
    ds = ds.set_coords([c for c in coords if c in ds])
    ds.attrs.update(sweep=store.meta.sweep, unit_size=store.unit_size, store=str(store.path))
    return ds
