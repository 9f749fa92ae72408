"""The zarr layout of a results store: which arrays, their dims, dtypes, fills and meaning.

A store is one zarr v3 group per sweep::

    STORE/                 attrs: landscape_hpc = {format, sweep name, sweep files, unit_size,
                                   groups (canonical seedless configs), axes, versions, host, ...}
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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


BOOKKEEPING = (
    Field("task_id", "str", description="content-addressed task id"),
    Field("unit", "i4", description="index of the work unit (dim unit)"),
    Field("group", "i4", description="index of the task group (attrs groups)"),
    Field("seed", "i8", description="seed of the initial point"),
    Field("status", "i1", description="0 empty slot, 1 pending, 2 running, 3 done, 4 failed"),
    Field("error", "str", description="why the task failed"),
)

RECORD = (
    Field("n_params", "i4", description="number of parameters P (theta is NaN-padded)"),
    Field("loss", "f8", description="final loss L(theta), without the barrier"),
    Field("gradnorm", "f8", description="gradient infinity-norm of L + R at the end"),
    Field("gradnorm_nobarrier", "f8", description="gradient infinity-norm of L at the end"),
    Field("weightnorm", "f8", description="sum(theta^2) / (2P) at the end"),
    Field("stopped_by", "str", description="stopping rule that ended the dynamics"),
    Field("polish_stopped_by", "str", description="why the Newton polish stopped"),
    Field("loss_dynamics", "f8", description="L + R where the dynamics stopped"),
    Field("gradnorm_dynamics", "f8", description="gradient infinity-norm where the dynamics stopped"),
    Field("t", "f8", description="gradient-flow time reached (eta * steps for discrete methods)"),
    Field("steps", "i8", description="accepted steps"),
    Field("rejected", "i8", description="rejected steps"),
    Field("evals", "i8", description="gradient evaluations of the dynamics"),
    Field("polish_steps", "i8", description="Newton polish steps"),
    Field("polish_evals", "i8", description="evaluations of the polish"),
    Field("wall_time", "f8", description="wall-clock time of the trajectory", units="s"),
    Field("n_negative", "i4", description="negative Hessian eigenvalues at the end"),
    Field("theta", "f8", ("param",), "final parameters"),
    Field("theta0", "f8", ("param",), "initial parameters"),
    Field("eigenvalues", "f8", ("param",), "Hessian eigenvalues of L + R at the end, ascending"),
    Field("snap_count", "i4", description="number of snapshots filled"),
    Field("snap_t", "f8", ("snapshot",), "flow time of each snapshot"),
    Field("snap_step", "i8", ("snapshot",), "step of each snapshot"),
    Field("snap_loss", "f8", ("snapshot",), "L + R at each snapshot"),
    Field("snap_gradnorm", "f8", ("snapshot",), "gradient infinity-norm at each snapshot"),
    Field("snap_theta", "f8", ("snapshot", "param"), "theta at each snapshot"),
    # the channel stop (landscape_hpc.dynamics.channel): NaN, -1 or "" unless stopped_by is
    # "channel"; the criteria compare the detection point with the window's start
    Field("channel_neurons", "str", description="neurons of the detected channel, 'i,j[,k...]' "
                                                "(0-based, in layer channel_layer)"),
    Field("channel_layer", "i4", description="hidden layer of the detected channel, 1-based"),
    Field("channel_t", "f8", description="flow time of the channel detection"),
    Field("channel_t_window", "f8", description="flow time of the detection window's start"),
    Field("channel_cosine", "f8", description="cosine distance of the channel pair's input "
                                              "vectors at the detection"),
    Field("channel_cosine_ratio", "f8", description="the pair's cosine distance at the detection "
                                                    "/ at the window's start"),
    Field("channel_distance_ratio", "f8", description="|v_i - v_j| of the pair's input vectors "
                                                      "at the detection / at the window's start"),
    Field("channel_growth", "f8", description="|a_i - a_j| of the pair at the detection / at the "
                                              "window's start"),
    Field("channel_update_fraction", "f8", description="share of the window's update in the "
                                                       "channel subspace"),
    Field("channel_weightnorm_ratio", "f8", description="weightnorm at the detection / at the "
                                                        "window's start"),
    Field("channel_glu_loss", "f8", description="loss with the pair replaced by its gated "
                                                "linear unit limit (channels-to-infinity eq. 4)"),
    Field("channel_limit_loss", "f8", description="loss of that gated-linear-unit network "
                                                  "polished to its nearest critical point (the "
                                                  "end of the channel; NaN if not reached)"),
    Field("channel_checks", "i8", description="channel checks run along the flow (0: stop off)"),
)

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
