"""``integrate``: a batch of trajectories of one problem, from theta_0 to a certified end point.

Each trajectory of the batch has its own step size, tolerances, stopping rules, counters and
record; finished trajectories drop out of the batch.  The running ones are stepped as a compact
working set (``TrajectoryState.take``), written back only when one of them stops or the budget
runs out, so a step does no gathering or scattering by index.  The loop is: one step of the chosen
dynamics for every running trajectory (adaptive ones accept or reject per trajectory), then
patience, wall time, the stopping rules (:mod:`.stopping`) and snapshots.  Adaptive methods start
with the step size of Hairer, Norsett & Wanner (:func:`_initial_step`).

The dynamics follow -grad L: the flow of L + R up to the maxnorm stop, since R and its
derivatives vanish while weightnorm <= maxnorm.  Evaluating R in the steps only harmed the last
one: a step past maxnorm met the barrier's derivatives in its error estimate and was rejected
again and again (10-25% of a channel trajectory's steps, benchmarks/RESULTS.md).  An adaptive
step that ends past maxnorm is cut back to the point of its chord at maxnorm
(:func:`_maxnorm_event`, like an ODE solver's event location), so records stop at maxnorm.  The
polish and the records use L + R.  When all have stopped,
the Newton polish (:mod:`.polish`) runs on those not stopped by maxnorm or non-finite values, and
the records (:class:`.record.TrajectoryRecord`) are built with the final Hessian spectrum.
``flow`` is ode23s (:mod:`.rosenbrock`, the default), ``flow_rodas`` the order-4 Rodas4 with the
same controller and tolerances: at equal tolerances several times more accurate along channels,
and slower per trajectory on the loss-levels problem (benchmarks/RESULTS.md, Trajectories).
``flow_auto`` (:mod:`.switching`) steps each trajectory with DP5 while the flow is not stiff and
with ode23s where it is, for large P.  ``order_params`` (:mod:`.order_params`) integrates the
(Q, M) flow of a population soft committee with the ode23s step instead of theta; its records are
built at weights with the final overlaps.  The steps themselves are in :mod:`.steps`.  Flows with a
finite maxnorm also check the channel criteria during the flow (:mod:`.channel`) and stop with
``channel`` where a pair of neurons follows a channel to infinity.
``integrate`` first sets the process's malloc thresholds once (:mod:`.allocator`).

Checkpoint and continue: with ``budget_steps`` or ``budget_time`` the call may return before the
end, with ``Run.state`` (a :class:`.record.TrajectoryState`, serialisable with ``to_dict``);
passing it back as ``state=`` continues exactly where it stopped.  The state caches the derivatives
at the current point, so the continued run is bit-identical to an uninterrupted one.

Determinism and batches (a decision, tested): with one torch thread the same inputs give
bit-identical records (wall times aside).  A batch of B is *not* bit-identical to B single runs:
the batched matrix products of the analytic derivatives sum in an order that depends on B, and
adaptive stepping amplifies the last-bit differences into different step sequences.  A batch of B
equals B single runs to the tolerance of the end point: same ``stopped_by``, final losses equal to
~1e-8 relative and parameters to ~1e-6 after the polish.  Every trajectory's arithmetic depends
only on which trajectories are still running, so continuing a checkpoint reproduces the same
batch compositions and stays bit-identical.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch

from ..models.objective import Objective, weightnorm
from ..problem import Problem
from . import explicit, rosenbrock, steps, switching
from .allocator import tune_allocator
from .channel import VALUES as CHANNEL_VALUES
from .channel import build as channel_detector
from .channel import neurons_text
from .order_params import METHOD as ORDER_PARAMS
from .order_params import OrderParamFlow
from .polish import polish
from .record import POLISH_REASONS, STOP_REASONS, Polish, Stop, TrajectoryRecord, TrajectoryState, code
from .spec import DynamicsSpec
from .steps import field
from .stopping import Limits, check

Tensor = torch.Tensor

#: relative threshold below which a Hessian eigenvalue counts as negative
NEGATIVE_TOL = 1e-9


@dataclass
class Run:
    """What ``integrate`` returns: the state, and the records once every trajectory is done."""

    state: TrajectoryState
    records: list[TrajectoryRecord] | None

    @property
    def finished(self) -> bool:
        return self.records is not None


def integrate(problem: Problem | Objective, theta0: Tensor | None = None,
              spec: DynamicsSpec | Sequence[DynamicsSpec] = DynamicsSpec(), *,
              seeds: Sequence[int] | None = None, state: TrajectoryState | None = None,
              budget_steps: int | None = None, budget_time: float | None = None) -> Run:
    """Integrate the trajectories starting at ``theta0`` (P,) or (B, P), or continue ``state``.

    ``spec`` is one :class:`DynamicsSpec` for all or one per trajectory (they may differ in
    eta, tolerances and stopping rules, not in method, snapshots, polish, betas or batch_size).
    ``seeds`` (default 0..B-1) seed the SGD minibatches, and draw theta0 from ``problem`` when
    theta0 is None.  The call returns early, with an unfinished ``Run``, after ``budget_steps``
    steps or ``budget_time`` seconds.
    """
    tune_allocator()
    obj = problem.objective if isinstance(problem, Problem) else problem
    if state is None:
        if theta0 is None:
            if seeds is None or not isinstance(problem, Problem):
                raise ValueError("give theta0, or a Problem and seeds to draw it")
            theta0 = torch.stack([problem.initial_theta(int(s)) for s in seeds])
        theta0 = torch.as_tensor(theta0, dtype=torch.float64)
        theta0 = theta0.unsqueeze(0) if theta0.dim() == 1 else theta0
        if theta0.dim() != 2 or theta0.shape[1] != obj.num_params:
            raise ValueError(f"theta0 must have shape (P,) or (B, P) with P = {obj.num_params}, "
                             f"got {tuple(theta0.shape)}")
    B = theta0.shape[0] if state is None else state.batch
    specs = _specs(spec, B)
    lim = Limits.from_specs(specs)
    sp = specs[0]
    system = OrderParamFlow(problem) if sp.method == ORDER_PARAMS else obj  # what is stepped
    if state is None:
        seeds = list(range(B)) if seeds is None else [int(s) for s in seeds]
        if len(seeds) != B:
            raise ValueError(f"seeds: expected {B}, got {len(seeds)}")
        state = _initial_state(system, theta0, sp, lim, seeds)
    detector = channel_detector(system, specs)  # the channel stop (.channel), None when off
    if detector is not None:
        detector.init(state)
    step = _STEPS[sp.method]
    adaptive = not sp.discrete
    grid = torch.tensor([*sp.snapshots.grid, math.inf], dtype=torch.float64)  # inf: none left

    start, calls = time.perf_counter(), 0
    while not state.finished:
        idx = torch.nonzero(state.running).flatten()
        w, wl = state.take(idx), lim.take(idx)  # the running rows, stepped without indexing
        while True:
            if ((budget_steps is not None and calls >= budget_steps)
                    or (budget_time is not None and time.perf_counter() - start >= budget_time)):
                state.put(idx, w)
                return Run(state, None)
            t0 = time.perf_counter()
            prev = (w.theta, w.t)  # steps replace these tensors, they do not write into them
            acc = step(system, w, wl, sp)
            calls += 1
            better = acc & (w.value < w.best)
            w.best = torch.where(better, w.value, w.best)
            w.since_best = torch.where(better, 0, w.since_best + acc)
            w.wall += time.perf_counter() - t0
            codes = check(w, wl, system.maxnorm, adaptive)
            if detector is not None:
                codes = detector.update(w, acc, codes)
            if codes is not None and adaptive:
                rows = torch.nonzero(codes == code(Stop.MAXNORM)).flatten()
                _maxnorm_event(system, w, rows, *prev)
            _grid_snapshots(w, acc, grid, sp.snapshots.theta)
            if codes is not None:
                w.code = codes
                _final_snapshots(w, torch.nonzero(codes).flatten(), sp.snapshots.theta)
                state.put(idx, w)
                break
    if sp.method == "flow_auto":
        switching.refresh(obj, state)
    if isinstance(system, OrderParamFlow):
        return Run(state, _records(obj, system.weight_state(state), sp))
    return Run(state, _records(obj, state, sp))


_STEPS = {"flow": steps.flow, "flow_rodas": steps.flow_rodas, "flow_explicit": steps.flow_explicit,
          "flow_auto": switching.step, "gd": steps.discrete, "adam": steps.discrete,
          "sgd": steps.discrete, ORDER_PARAMS: steps.flow}
_ORDERS = {"flow": rosenbrock.ORDER, "flow_rodas": rosenbrock.RODAS_ORDER,
           "flow_explicit": explicit.ORDER, "flow_auto": explicit.ORDER,
           ORDER_PARAMS: rosenbrock.ORDER}
_STIFF = ("flow", "flow_rodas", ORDER_PARAMS)  # steps that keep the (exact) Jacobian


# ---- set-up -----------------------------------------------------------------------------------
_SHARED = ("method", "snapshots", "polish", "betas", "adam_eps", "batch_size")


def _specs(spec: DynamicsSpec | Sequence[DynamicsSpec], B: int) -> list[DynamicsSpec]:
    specs = [spec] * B if isinstance(spec, DynamicsSpec) else list(spec)
    if len(specs) != B:
        raise ValueError(f"spec: give one DynamicsSpec or {B} (one per trajectory), got {len(specs)}")
    for name in _SHARED:
        if any(getattr(s, name) != getattr(specs[0], name) for s in specs):
            raise ValueError(f"spec: '{name}' must be the same for all trajectories of a batch")
    return specs


def _initial_state(system: Objective | OrderParamFlow, theta0: Tensor, sp: DynamicsSpec,
                   lim: Limits, seeds: list[int]) -> TrajectoryState:
    """The state at theta0; for the (Q, M) flow theta is y = overlaps(theta0), theta0 stays."""
    y0 = system.overlaps(theta0) if isinstance(system, OrderParamFlow) else theta0
    B, P = y0.shape
    S = sp.snapshots.capacity
    f64, i64 = torch.float64, torch.int64
    stiff = sp.method in _STIFF
    out = [x.clone() for x in field(system, y0, 2 if stiff else 1)]  # owned, not the objective's
    value, grad = out[0], out[1]
    if sp.discrete:
        h = lim.eta.clone()
    else:
        h = _initial_step(system, y0, grad, out[2] if stiff else None, lim, _ORDERS[sp.method])
    nan = lambda *shape: torch.full(shape, math.nan, dtype=f64)  # noqa: E731
    adam = sp.method == "adam"
    s = TrajectoryState(
        theta0=theta0.clone(), theta=y0.clone(), value=value, grad=grad,
        hess=out[2] if stiff else None,
        t=torch.zeros(B, dtype=f64), h=h, steps=torch.zeros(B, dtype=i64),
        rejected=torch.zeros(B, dtype=i64), evals=torch.ones(B, dtype=i64), best=value.clone(),
        since_best=torch.zeros(B, dtype=i64), code=torch.zeros(B, dtype=i64),
        wall=torch.zeros(B, dtype=f64),
        m=torch.zeros(B, P, dtype=f64) if adam else None,
        v=torch.zeros(B, P, dtype=f64) if adam else None,
        seed=torch.tensor(seeds, dtype=i64),
        next_snap=torch.zeros(B, dtype=i64), snap_count=torch.zeros(B, dtype=i64),
        snap_t=nan(B, S), snap_step=torch.full((B, S), -1, dtype=i64), snap_loss=nan(B, S),
        snap_gradnorm=nan(B, S), snap_theta=nan(B, S, P) if sp.snapshots.theta else None)
    if sp.method == "flow_auto":
        switching.init(s)
    _snapshot(s, torch.arange(B), sp.snapshots.theta)
    codes = check(s, lim, system.maxnorm, not sp.discrete)
    s.code = torch.zeros(B, dtype=i64) if codes is None else codes
    _final_snapshots(s, torch.nonzero(s.code).flatten(), sp.snapshots.theta)
    return s


def _initial_step(obj: Objective, theta0: Tensor, grad: Tensor, hess: Tensor | None, lim: Limits,
                  order: int) -> Tensor:
    """Starting step size of Hairer, Norsett & Wanner (Solving ODEs I, II.4) in the controller's
    scaled max-norm: h = min(100 h0, (0.01 / max(|F|, |F'|))^(1 / order)), h0 = 0.01 |y| / |F|.
    F' = dF/dt = Hess V grad V is exact where the Hessian is at hand, else a difference quotient
    over h0 (one more gradient)."""
    sc = lim.abstol[:, None] + lim.reltol[:, None] * theta0.abs()
    d0 = (theta0 / sc).abs().amax(-1)
    d1 = (grad / sc).abs().amax(-1)
    h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    if hess is not None:
        dF = torch.matmul(hess, grad.unsqueeze(-1)).squeeze(-1)
    else:
        dF = (grad - field(obj, theta0 - h0[:, None] * grad, 1)[1]) / h0[:, None]
    d2 = (dF / sc).abs().amax(-1)
    dmax = torch.maximum(d1, d2)
    h1 = torch.where(dmax <= 1e-15, (h0 * 1e-3).clamp_min(1e-6),
                     (0.01 / dmax).pow(1.0 / order))
    return torch.minimum(100 * h0, h1).nan_to_num(1e-6).clamp(1e-10, 1e10)


def _maxnorm_event(obj: Objective, s: TrajectoryState, rows: Tensor, prev: Tensor,
                   prev_t: Tensor) -> None:
    """Locate the maxnorm stop: the trajectories ``rows`` stepped from ``prev`` (inside) past
    maxnorm go back to the point of the step's chord where the weightnorm is maxnorm (the first
    float at or past it), at the flow time in proportion, with the derivatives evaluated there."""
    if len(rows) == 0:
        return
    y, yn = prev[rows], s.theta[rows]
    d = yn - y
    a, b = (d * d).sum(-1), 2 * (y * d).sum(-1)
    c = (y * y).sum(-1) - 2 * y.shape[-1] * obj.maxnorm          # < 0: y is inside
    frac = (-2 * c / (b + (b * b - 4 * a * c).sqrt())).clamp(0.0, 1.0)
    for _ in range(4):  # rounding may leave the chord point just inside
        inside = weightnorm(torch.addcmul(y, frac[:, None], d)) < obj.maxnorm
        frac = torch.where(inside, (frac * (1 + 1e-12)).clamp_max(1.0), frac)
    z = torch.where((frac < 1.0)[:, None], torch.addcmul(y, frac[:, None], d), yn)
    out = field(obj, z, 1 if s.hess is None else 2)
    # out of place: after an all-accepted step the state holds the objective's own tensors
    s.theta = s.theta.index_put((rows,), z)
    s.value = s.value.index_put((rows,), out[0])
    s.grad = s.grad.index_put((rows,), out[1])
    if s.hess is not None:
        s.hess = s.hess.index_put((rows,), out[2])
    s.t = s.t.index_put((rows,), prev_t[rows] + frac * (s.t[rows] - prev_t[rows]))
    s.evals = s.evals.index_put((rows,), s.evals[rows] + 1)


# ---- snapshots --------------------------------------------------------------------------------
def _snapshot(s: TrajectoryState, rows: Tensor, with_theta: bool) -> None:
    if len(rows) == 0:
        return
    rows = rows[s.snap_count[rows] < s.snap_t.shape[1]]
    k = s.snap_count[rows]
    s.snap_t[rows, k] = s.t[rows]
    s.snap_step[rows, k] = s.steps[rows]
    s.snap_loss[rows, k] = s.value[rows]
    s.snap_gradnorm[rows, k] = s.grad[rows].abs().amax(-1)
    if with_theta:
        s.snap_theta[rows, k] = s.theta[rows]
    s.snap_count[rows] += 1


def _grid_snapshots(s: TrajectoryState, acc: Tensor, grid: Tensor, with_theta: bool) -> None:
    """Snapshot the trajectories that accepted a step and passed their next grid point, then
    move their next grid point past t (``grid`` ends with inf, the point never passed)."""
    if len(grid) == 1:
        return
    due = acc & (s.t >= grid[s.next_snap])
    if not bool(due.any()):
        return
    rows = torch.nonzero(due).flatten()
    _snapshot(s, rows, with_theta)
    s.next_snap[rows] = torch.searchsorted(grid[:-1], s.t[rows], right=True)


def _final_snapshots(s: TrajectoryState, rows: Tensor, with_theta: bool) -> None:
    if len(rows) == 0:
        return
    last = s.snap_step[rows, (s.snap_count[rows] - 1).clamp_min(0)]
    _snapshot(s, rows[last != s.steps[rows]], with_theta)


# ---- records ----------------------------------------------------------------------------------
def _records(obj: Objective, s: TrajectoryState, sp: DynamicsSpec) -> list[TrajectoryRecord]:
    B = s.batch
    theta = s.theta
    pcode = torch.full((B,), POLISH_REASONS.index(Polish.OFF), dtype=torch.int64)
    psteps = torch.zeros(B, dtype=torch.int64)
    pevals = torch.zeros(B, dtype=torch.int64)
    wall = s.wall.clone()
    # the state caches L's derivatives at theta where the Hessian is kept (the stiff flows); they
    # are L + R's below maxnorm, where every trajectory the polish takes is
    at = (s.value, s.grad, s.hess) if s.hess is not None else obj.evaluate(theta, 2)
    if sp.polish is not None:
        t0 = time.perf_counter()
        todo = ((s.code != code(Stop.MAXNORM)) & (s.code != code(Stop.NONFINITE))
                & (s.code != code(Stop.CHANNEL)))
        theta, pcode, psteps, pevals, at = polish(obj, theta, sp.polish, todo, at)
        wall[todo] += time.perf_counter() - t0
    value, grad, hess = at
    wn = weightnorm(theta)
    if bool((wn > obj.maxnorm).any()):  # R > 0 somewhere
        value, grad, hess = obj.evaluate(theta, 2)
        loss, grad_nb = obj.evaluate(theta, 1, with_barrier=False)
    else:
        loss, grad_nb = value, grad
    finite = torch.isfinite(hess).flatten(1).all(-1)
    eig = torch.full(theta.shape, math.nan, dtype=torch.float64)
    if finite.any():
        eig[finite] = torch.linalg.eigvalsh(hess[finite])
    tol = NEGATIVE_TOL * eig.abs().amax(-1, keepdim=True).clamp_min(1.0)
    nneg = (eig < -tol).sum(-1)
    n = lambda x: x.numpy().copy()  # noqa: E731
    snap_theta = s.snap_theta
    return [TrajectoryRecord(
        theta=n(theta[b]), theta0=n(s.theta0[b]), loss=float(loss[b]),
        gradnorm=float(grad[b].abs().max()), gradnorm_nobarrier=float(grad_nb[b].abs().max()),
        weightnorm=float(wn[b]), stopped_by=STOP_REASONS[int(s.code[b])],
        polish_stopped_by=POLISH_REASONS[int(pcode[b])], loss_dynamics=float(s.value[b]),
        gradnorm_dynamics=float(s.grad[b].abs().max()), t=float(s.t[b]), steps=int(s.steps[b]),
        rejected=int(s.rejected[b]), evals=int(s.evals[b]), polish_steps=int(psteps[b]),
        polish_evals=int(pevals[b]), wall_time=float(wall[b]), eigenvalues=n(eig[b]),
        n_negative=int(nneg[b]), snap_count=int(s.snap_count[b]), snap_t=n(s.snap_t[b]),
        snap_step=n(s.snap_step[b]), snap_loss=n(s.snap_loss[b]),
        snap_gradnorm=n(s.snap_gradnorm[b]),
        snap_theta=None if snap_theta is None else n(snap_theta[b]), **_channel_fields(s, b))
        for b in range(B)]


def _channel_fields(s: TrajectoryState, b: int) -> dict:
    """The record's ``channel_*`` fields of trajectory b (defaults where it did not stop in a
    channel; ``channel_checks`` always, 0 with the detector off)."""
    if s.channel_checks is None:
        return {}
    out = {"channel_checks": int(s.channel_checks[b])}
    if int(s.code[b]) != code(Stop.CHANNEL):
        return out
    layer, neurons = neurons_text(s.channel_neurons[b])
    values = dict(zip(CHANNEL_VALUES, s.channel_values[b].tolist()))
    return {**out, "channel_neurons": neurons, "channel_layer": layer,
            **{f"channel_{k}": v for k, v in values.items()}}


__all__ = ["Run", "integrate", "TrajectoryRecord", "TrajectoryState"]
