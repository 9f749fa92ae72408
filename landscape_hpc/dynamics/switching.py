"""``flow_auto``: Dormand-Prince where the flow is not stiff, ode23s where it is (LSODA's idea).

Why: a Rosenbrock step costs a Hessian and a dense LU, O(P^3); a DP5 step six gradients.  For
large P (relu-population at K = M = 20 has P = 400: Hessian + LU about 4 ms against 0.1 ms for
six gradients) the flow is not stiff for most of its time (largest Hessian eigenvalue ~6, steps
accuracy-limited near 0.5), and stiff only near its end, where the smallest eigenvalue sets the
pace and explicit steps stay at the stability limit while ode23s's grow geometrically.

Each trajectory switches on its own (the batch is stepped as two row sets):

* explicit -> stiff: DP5's own test (Hairer & Wanner II, IV.2; DOPRI5): an accepted step with
  h rho > 3.25 (:mod:`.explicit`) counts as stability-limited; ``STIFF_STEPS * 2^switches`` of them
  (``CALM_STEPS`` calm steps in a row reset the count), with the gradient infinity-norm fallen to
  ``SETTLED`` times its value when the stability limit set in, switch the trajectory to ode23s,
  with the Hessian evaluated where it stands.  The gradient test tells the settling tail from a
  plateau the flow only crosses (at relu-population K = M = 20 the explicit steps sit at the
  stability limit on the plateaus too, where ode23s's steps are only 2-3x longer at 20x the cost;
  without the test a trajectory made 1-2 such round trips).  The doubling stops a trajectory
  that only passes a stiff stretch from switching back and forth.
* stiff -> explicit: rho = the Hessian's spectral radius, by one power-iteration product per step
  (the vector carried in the state); ``CALM_STEPS`` accepted ode23s steps in a row with
  h rho < ``RATIO`` * 3.25 (an explicit step would be at most RATIO times shorter, and costs far
  less) switch back, with h capped at the explicit stability limit.

Every rule depends only on the trajectory's own arithmetic, so runs stay deterministic and
checkpoints continue bit-identically.  The end point is certified as for every method: the Newton
polish and the Hessian spectrum of the record (the engine refreshes the Hessians of rows that
ended in explicit mode).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from ..models.objective import Objective
from . import explicit, steps
from .record import TrajectoryState
from .spec import DynamicsSpec
from .stopping import Limits

Tensor = torch.Tensor

STIFF_STEPS = 15        # stability-limited explicit steps before ode23s (DOPRI5's count)
CALM_STEPS = 6          # calm steps that reset that count; ode23s steps before switching back
RATIO = 4.0             # ode23s steps at most this many times the explicit limit: switch back
MAX_DOUBLINGS = 5
SETTLED = 0.5           # and the gradient fell by this factor since the stability limit set in


#: the fields a step reads and replaces (a subset of :class:`.record.TrajectoryState`'s)
FIELDS = ("theta", "value", "grad", "hess", "t", "h", "steps", "rejected", "evals", "stiff",
          "stiff_count", "calm", "switches", "power", "g_ref")


def take(s: TrajectoryState, rows: Tensor, hess: bool) -> SimpleNamespace:
    """The step fields of rows ``rows`` (the Hessians only if ``hess``: rows in stiff mode)."""
    return SimpleNamespace(**{n: None if n == "hess" and not hess else getattr(s, n)[rows]
                              for n in FIELDS})


def put(part: SimpleNamespace, s: TrajectoryState, rows: Tensor) -> None:
    """Write ``part`` back: out of place, since the engine keeps the previous theta and t for the
    maxnorm event, except the Hessians, which nothing else holds."""
    for n in FIELDS:
        value = getattr(part, n)
        if n != "hess":
            setattr(s, n, getattr(s, n).index_put((rows,), value))
        elif value is not None:
            s.hess[rows] = value


def init(s: TrajectoryState) -> None:
    """Start every trajectory of ``s`` in explicit mode; its Hessian rows are filled on switching."""
    B, P = s.theta.shape
    s.hess = torch.full((B, P, P), float("nan"), dtype=s.theta.dtype)
    s.stiff = torch.zeros(B, dtype=torch.bool)
    s.stiff_count, s.calm, s.switches = (torch.zeros(B, dtype=torch.int64) for _ in range(3))
    s.power = torch.full((B, P), P ** -0.5, dtype=s.theta.dtype)
    s.g_ref = torch.zeros(B, dtype=s.theta.dtype)


def step(obj: Objective, s: TrajectoryState, lim: Limits, sp: DynamicsSpec) -> Tensor:
    """One step of every running trajectory in its mode; returns which accepted."""
    stiff = s.stiff
    if not bool(stiff.any()):
        acc = _explicit(obj, s, lim, sp)
    elif bool(stiff.all()):
        acc = _stiff(obj, s, lim, sp)
    else:
        acc = torch.empty(len(stiff), dtype=torch.bool)
        for rows, mode in ((torch.nonzero(~stiff).flatten(), _explicit),
                           (torch.nonzero(stiff).flatten(), _stiff)):
            part = take(s, rows, hess=mode is _stiff)
            acc[rows] = mode(obj, part, lim.take(rows), sp)
            put(part, s, rows)
    entered = torch.nonzero(s.stiff & ~stiff).flatten()
    if len(entered):  # the Hessian where they stand
        s.hess[entered] = steps.field(obj, s.theta[entered], 2)[2]
        s.evals = s.evals.index_put((entered,), s.evals[entered] + 1)
    return acc


def refresh(obj: Objective, s: TrajectoryState) -> None:
    """Evaluate the Hessian of the rows in explicit mode (stale or never set)."""
    rows = torch.nonzero(~s.stiff).flatten()
    if len(rows):
        s.hess[rows] = steps.field(obj, s.theta[rows], 2)[2]


def _explicit(obj: Objective, s, lim: Limits, sp: DynamicsSpec) -> Tensor:
    acc, h_rho = steps.dp5(obj, s, lim)
    limited = acc & (h_rho > explicit.STABILITY_LIMIT)
    gnorm = s.grad.abs().amax(-1)
    s.g_ref = torch.where(limited & (s.stiff_count == 0), gnorm, s.g_ref)
    s.calm = torch.where(acc & ~limited, s.calm + 1, torch.where(limited, 0, s.calm))
    s.stiff_count = torch.where(limited, s.stiff_count + 1,
                                torch.where(s.calm >= CALM_STEPS, 0, s.stiff_count))
    go = ((s.stiff_count >= STIFF_STEPS * 2 ** s.switches.clamp_max(MAX_DOUBLINGS))
          & (gnorm <= SETTLED * s.g_ref))
    s.stiff = s.stiff | go
    s.stiff_count = torch.where(go, 0, s.stiff_count)
    s.calm = torch.where(go, 0, s.calm)
    return acc


def _stiff(obj: Objective, s, lim: Limits, sp: DynamicsSpec) -> Tensor:
    h = s.h
    acc = steps.flow(obj, s, lim, sp)
    hv = torch.matmul(s.hess, s.power.unsqueeze(-1)).squeeze(-1)
    rho = hv.norm(dim=-1)
    s.power = torch.where((rho > 0)[:, None], hv / rho.clamp_min(1e-300)[:, None], s.power)
    calm = acc & (h * rho < RATIO * explicit.STABILITY_LIMIT)
    s.calm = torch.where(calm, s.calm + 1, torch.where(acc, 0, s.calm))
    back = s.calm >= CALM_STEPS
    if bool(back.any()):
        s.stiff = s.stiff & ~back
        s.switches = s.switches + back
        s.calm = torch.where(back, 0, s.calm)
        limit = explicit.STABILITY_LIMIT / rho.clamp_min(1e-300)
        s.h = torch.where(back, torch.minimum(s.h, limit), s.h)
    return acc
