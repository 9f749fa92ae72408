"""The results store: create or extend it from a plan, read and write work units, checkpoints, locks.

Writers never share a zarr chunk: every array is chunked along ``task`` by one work unit, and a
unit is run by one process at a time (an exclusive lock file).  A unit's records are written
field by field and its ``status`` chunk last, so a task is ``done`` only after its whole record
is on disk; zarr writes each chunk file atomically (temporary file, then rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import platform
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr
from zarr.core.sync import sync

from .. import __version__
from ..config import ConfigError
from .layout import BOOKKEEPING, EMPTY, FIELDS, FORMAT, PENDING, RECORD, RESERVED, Field

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


def _axis_value(value) -> object:
    from ..sweep.tasks import show

    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else show(value)


class Store:
    """An open results store (see :mod:`.layout`)."""

    def __init__(self, path: str | Path, mode: str = "r"):
        self.path = Path(path)
        if not (self.path / "zarr.json").is_file():
            raise ConfigError(f"{self.path}: not a landscape-hpc store (no zarr.json)")
        self.root = zarr.open_group(self.path, mode=mode)
        meta = self.root.attrs.get(ATTR)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ConfigError(f"{self.path}: not a landscape-hpc store of format {FORMAT}")
        self.meta = meta
        self.tasks = self.root["tasks"]
        self.units = self.root["units"]
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

    # ---- creation ------------------------------------------------------------------------------
    @classmethod
    def create_or_extend(cls, path: str | Path, plan: Plan) -> tuple["Store", int]:
        """The store for ``plan`` at ``path``, created, or extended by the plan's new tasks.
        Returns the store and the number of tasks added."""
        path = Path(path)
        sweep = plan.sweep
        text = Path(sweep.file).read_text()
        if (path / "zarr.json").is_file():
            store = cls(path, "r+")
            if store.meta["sweep"] != sweep.name:
                raise ConfigError(
                    f"{path}: this store holds sweep '{store.meta['sweep']}', not '{sweep.name}' "
                    f"({sweep.file}); give another --store")
            if store.meta["unit_size"] != sweep.unit_size:
                raise ConfigError(f"{sweep.file}: units.size is {sweep.unit_size}, the store "
                                  f"{path} was made with {store.meta['unit_size']}")
            return store, store._extend(plan, text)
        if path.exists():
            raise ConfigError(f"{path}: exists and is not a landscape-hpc store")
        root = zarr.open_group(path, mode="w-")
        meta = {"format": FORMAT, "sweep": sweep.name, "description": sweep.description,
                "unit_size": sweep.unit_size, "groups": [], "axes": [], "files": [],
                "versions": _versions(), "host": socket.gethostname(),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "n_params": 0, "n_snapshots": 0, "snap_theta": False,
                "source_store": None if sweep.source is None else str(sweep.source.store)}
        root.attrs[ATTR] = meta
        tasks = root.create_group("tasks")
        units = root.create_group("units")
        size = sweep.unit_size
        for f in BOOKKEEPING:
            _create(tasks, f, (0,), size)
        for name, dtype in (("unit_id", "str"), ("group", "i4"), ("block", "i8")):
            _create(units, Field(name, dtype), (0,), 1024, dim="unit")
        store = cls(path, "r+")
        return store, store._extend(plan, text)

    def _extend(self, plan: Plan, text: str) -> int:
        from ..dynamics.spec import DynamicsSpec
        from ..models.network import NetSpec, Network

        size = self.unit_size
        meta = self.meta
        groups = {g["id"]: i for i, g in enumerate(meta["groups"])}
        for g in plan.groups:
            if g.id not in groups:
                groups[g.id] = len(meta["groups"])
                meta["groups"].append({"id": g.id, "config": g.config, "settings": g.settings})
        n_params, n_snap, snap_theta = meta["n_params"], meta["n_snapshots"], meta["snap_theta"]
        for g in plan.groups:
            n_params = max(n_params, Network(NetSpec.model_validate(g.config["problem"]["net"]))
                           .num_params)
            snaps = DynamicsSpec.model_validate(g.config["dynamics"]).snapshots
            n_snap, snap_theta = max(n_snap, snaps.capacity), snap_theta or snaps.theta
        axes = list(meta["axes"])
        for a in plan.axes:
            if a.key not in axes and a.key != "seed":
                if a.key in RESERVED:
                    raise ConfigError(f"{plan.sweep.file}: axis name '{a.key}' clashes with a "
                                      f"store field; rename the axis")
                axes.append(a.key)
        self._grow(n_params, n_snap, snap_theta, axes, plan)

        known = {u: i for i, u in enumerate(self.units["unit_id"][:].tolist())}
        old_units = len(known)
        new_units = [u for u in plan.units() if u.id not in known]
        gidx = {g.id: groups[g.id] for g in plan.groups}
        settings = {g.id: g.settings for g in plan.groups}
        task_ids = {g.id: dict(zip(g.seeds.tolist(), g.task_ids())) for g in plan.groups}
        added = 0
        if new_units:
            n = len(new_units)
            self._resize_tasks((old_units + n) * size)
            for name in ("unit_id", "group", "block"):
                self.units[name].resize((old_units + n,))
            self.units["unit_id"][old_units:] = np.array([u.id for u in new_units], dtype=object)
            self.units["group"][old_units:] = np.array([gidx[u.group] for u in new_units])
            self.units["block"][old_units:] = np.array([u.block for u in new_units])
            block = self._blank(n * size, axes)
            for k, u in enumerate(new_units):
                slots = k * size + u.seeds % size
                self._fill(block, slots, u, old_units + k, gidx, settings, task_ids, axes)
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
                                                             "status", *axes]}
            self._fill(block, new % size, u, index, gidx, settings, task_ids, axes, new)
            for name, values in block.items():
                self.tasks[name][sl] = values
            added += len(new)
        meta.update(n_params=n_params, n_snapshots=n_snap, snap_theta=snap_theta, axes=axes)
        meta["files"].append({"file": str(plan.sweep.file), "profile": plan.sweep.profile,
                              "text": text, "added": added,
                              "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        self.root.attrs[ATTR] = meta
        return added

    def _blank(self, n: int, axes: list[str]) -> dict[str, np.ndarray]:
        out = {f.name: np.full(n, f.fill, dtype=f.numpy_dtype) for f in BOOKKEEPING
               if f.name != "error"}
        for key in axes:
            out[key] = np.full(n, *_axis_fill(self.tasks[key].dtype))
        return out

    @staticmethod
    def _fill(block, slots, unit, index, gidx, settings, task_ids, axes, seeds=None) -> None:
        seeds = unit.seeds if seeds is None else seeds
        ids = task_ids[unit.group]
        block["task_id"][slots] = [ids[s] for s in seeds.tolist()]
        block["unit"][slots] = index
        block["group"][slots] = gidx[unit.group]
        block["seed"][slots] = seeds
        block["status"][slots] = PENDING
        for key in axes:
            if key in settings[unit.group]:
                block[key][slots] = _axis_value(settings[unit.group][key])

    def _grow(self, n_params: int, n_snap: int, snap_theta: bool, axes: list[str],
              plan: Plan) -> None:
        T = self.tasks["status"].shape[0]
        size = self.unit_size
        extra = {"param": n_params, "snapshot": n_snap}
        for f in RECORD:
            if f.name == "snap_theta" and not snap_theta:
                continue
            shape = (T,) + tuple(extra[d] for d in f.dims)
            if f.name not in self.tasks:
                _create(self.tasks, f, shape, size)
            elif self.tasks[f.name].shape != shape:
                self.tasks[f.name].resize(shape)
        for key in axes:
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
        return int(self.meta["unit_size"])

    @property
    def n_units(self) -> int:
        return self.units["unit_id"].shape[0]

    @property
    def axes(self) -> list[str]:
        return list(self.meta["axes"])

    def group_config(self, index: int) -> dict:
        return self.meta["groups"][index]["config"]

    def unit_slice(self, u: int) -> slice:
        return slice(u * self.unit_size, (u + 1) * self.unit_size)

    def read_unit(self, u: int, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The chunks of unit ``u`` of ``names`` (default: every field)."""
        names = names or [n for n in FIELDS if n in self.fields]
        return self.read_blocks(u, names)

    # ---- writing -------------------------------------------------------------------------------
    def read_blocks(self, u: int, names: list[str]) -> dict[str, np.ndarray]:
        """The chunks of unit ``u`` of several fields, read concurrently."""
        sl = self.unit_slice(u)

        async def read(arrays):
            return await asyncio.gather(*(a.getitem(sl) for a in arrays))

        arrays = [self.array(n)._async_array for n in names]
        return dict(zip(names, sync(read(arrays))))

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

    @contextlib.contextmanager
    def lock(self, u: int) -> Iterator[bool]:
        """Hold the unit's exclusive lock; yields False if another process holds it."""
        with open(self._side("locks", u, ".lock"), "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def is_locked(self, u: int) -> bool:
        with self.lock(u) as held:
            return not held


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
    ds = xr.open_zarr(store.path, group="tasks", consolidated=False)
    strings = [n for n, v in ds.variables.items() if v.dtype.kind == "T"]
    ds = ds.assign({n: ds[n].astype(object) for n in strings})
    coords = ["task_id", "seed", *store.axes]
    ds = ds.set_coords([c for c in coords if c in ds])
    ds.attrs.update(sweep=store.meta["sweep"], unit_size=store.unit_size, store=str(store.path))
    return ds
