"""The worker: run one work unit of a store, whatever the backend that called it.

A unit's tasks not yet done run as one vectorised batch (:func:`~.dynamics.engine.integrate`),
continuing the unit's checkpoint if there is one and saving a new one every
``checkpoint_every`` seconds.  If the batch raises, each task runs alone so that only the tasks
that raise are ``failed`` (with their message); a trajectory that ends on non-finite values is
``failed`` too, with its record.  The worker decides statuses and messages; the store writes them
(:meth:`~.store.Store.write_records`): records, then the status, then the checkpoint is removed,
so a kill at any point loses at most the work since the last checkpoint.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import torch

from ..dynamics.engine import integrate
from ..dynamics.record import Stop, TrajectoryRecord, TrajectoryState
from ..dynamics.spec import DynamicsSpec
from ..problem import Problem, build_problem
from ..store import DONE, FAILED, RERUN, RUNNING, Store
from .executor import UnitResult

_PROBLEMS: dict[str, Problem] = {}  # built problems of this process, by group id
_STORES: dict[str, Store] = {}  # open stores of this process (array handles stay cached)


def _problem(store: Store, group: int) -> Problem:
    gid = store.meta.groups[group].id
    if gid not in _PROBLEMS:
        _PROBLEMS[gid] = build_problem(store.group_config(group)["problem"])
    return _PROBLEMS[gid]


def run_unit(store_path: str | Path, u: int, statuses: tuple[int, ...] = RERUN,
             checkpoint_every: float = 60.0) -> UnitResult:
    """Run the tasks of unit ``u`` whose status is in ``statuses``; write their records."""
    torch.set_num_threads(1)
    key = str(Path(store_path).resolve())
    if key not in _STORES:
        _STORES[key] = Store(store_path, "r+")
    store = _STORES[key]
    with store.lock(u) as held:
        if not held:
            return UnitResult(u, skipped=True)
        book = store.read_unit(u, ["status", "seed", "group"])
        todo = np.flatnonzero(np.isin(book["status"], statuses))
        if len(todo) == 0:
            return UnitResult(u)
        seeds = book["seed"][todo]
        group = int(book["group"][todo[0]])
        store.set_status(u, todo, RUNNING)
        try:
            problem = _problem(store, group)
            spec = DynamicsSpec.model_validate(store.group_config(group)["dynamics"])
        except Exception as err:  # noqa: BLE001 - recorded as the tasks' failure
            message = _message(err)
            store.set_status(u, todo, FAILED, np.array([message] * len(todo), dtype=object))
            return UnitResult(u, failed=len(todo))
        try:
            records: list[TrajectoryRecord | str] = _batch(store, u, problem, group, spec, seeds,
                                                           checkpoint_every)
        except Exception:  # noqa: BLE001 - isolate the failing tasks
            records = [_single(store, problem, group, spec, int(s)) for s in seeds]
        return _write(store, u, todo, records)


def _initial(store: Store, problem: Problem, group: int, seed: int) -> torch.Tensor:
    """theta_0: drawn by the problem's initialiser, or derived from a source store's task."""
    initial = store.group_config(group).get("initial")
    if initial is None:
        return problem.initial_theta(seed)
    from ..store.source import initial_point

    return initial_point(problem, initial, seed, store.meta.source_store)


def _batch(store: Store, u: int, problem: Problem, group: int, spec: DynamicsSpec,
           seeds: np.ndarray, checkpoint_every: float) -> list[TrajectoryRecord]:
    saved = store.load_checkpoint(u, seeds)
    state = None if saved is None else TrajectoryState.from_dict(saved)
    theta0 = None if state is not None else torch.stack(
        [_initial(store, problem, group, int(s)) for s in seeds])
    while True:
        run = integrate(problem, theta0, spec, seeds=seeds.tolist(), state=state,
                        budget_time=checkpoint_every)
        if run.finished:
            return run.records
        store.save_checkpoint(u, seeds, run.state.to_dict())
        state = run.state


def _single(store: Store, problem: Problem, group: int, spec: DynamicsSpec,
            seed: int) -> TrajectoryRecord | str:
    try:
        theta0 = _initial(store, problem, group, seed)
        return integrate(problem, theta0, spec, seeds=[seed]).records[0]
    except Exception as err:  # noqa: BLE001 - the task's failure
        return _message(err)


def _message(err: Exception) -> str:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{type(err).__name__}: {err}{at}"


def _write(store: Store, u: int, todo: np.ndarray, records: list) -> UnitResult:
    """Statuses and messages of the tasks ``todo`` from their records (or error messages), written
    with the records by the store."""
    status = np.full(len(todo), FAILED, dtype=np.int8)
    error = np.array([r if isinstance(r, str) else "" for r in records], dtype=object)
    for i, r in enumerate(records):
        if isinstance(r, TrajectoryRecord):
            nonfinite = r.stopped_by == Stop.NONFINITE
            status[i] = FAILED if nonfinite else DONE
            if nonfinite:
                error[i] = f"non-finite values after {r.steps} steps"
    store.write_records(u, todo, [r.to_dict() if isinstance(r, TrajectoryRecord) else None
                                  for r in records], status, error)
    return UnitResult(u, done=int((status == DONE).sum()), failed=int((status == FAILED).sum()))
