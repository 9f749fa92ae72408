"""Newton polish: Levenberg-Marquardt on grad V(theta) = 0, batched.

With the Hessian H = V diag(l) V^T (batched eigh), a trial step is
-V diag(l / (l^2 + lam)) V^T g.  It is accepted when ||g||_2 decreases (then lam /= 10),
otherwise lam *= 100.  Being a root finder for the gradient rather than a minimiser, it converges
to the nearest critical point of any index, and the damping keeps it sane on singular Hessians
(saddle lines).  lam is relative to max l^2.  Stop reasons: gtol (gradient infinity-norm <= gtol),
maxsteps, maxtime (the batch's polish ran ``maxtime`` seconds), stalled (lam grew past 1e12: no
decrease is found any more), nonfinite.  ``method: lm`` minimises the squared residuals instead
(:mod:`.least_squares`), for minima with singular Hessians.
"""

from __future__ import annotations

import time

import torch

from ..models.objective import Objective
from .least_squares import METHOD as LM
from .least_squares import polish_lm
from .record import POLISH_REASONS, Polish
from .spec import PolishSpec

Tensor = torch.Tensor

LAM0, LAM_MIN, LAM_MAX = 1e-12, 1e-24, 1e12


Derivs = tuple[Tensor, Tensor, Tensor]


def polish(obj: Objective, theta: Tensor, spec: PolishSpec, todo: Tensor,
           at: Derivs | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Derivs]:
    """Polish the rows of ``theta`` (B, P) where ``todo``; the others get code ``skipped``.

    ``at`` = (L + R, gradient, Hessian) at theta, if known (else evaluated).  Returns (theta,
    code (B,), steps (B,), evals (B,), the same derivatives at the returned theta); codes index
    :data:`POLISH_REASONS`."""
    B = theta.shape[0]
    theta = theta.clone()
    reason = torch.full((B,), POLISH_REASONS.index(Polish.SKIPPED), dtype=torch.int64)
    steps = torch.zeros(B, dtype=torch.int64)
    evals = torch.zeros(B, dtype=torch.int64)
    if at is None:
        at = obj.evaluate(theta, 2)
        evals += 1
    if spec.method == LM:
        theta, reason, steps, more, at = polish_lm(obj, theta, spec, todo, at)
        return theta, reason, steps, evals + more, at
    value, grad, hess = (d.clone() for d in at)
    idx = torch.nonzero(todo).flatten()
    if len(idx) == 0:
        return theta, reason, steps, evals, (value, grad, hess)
    reason[idx] = 0
    start = time.perf_counter()
    x, v, g, H = theta[idx], value[idx], grad[idx], hess[idx]
    lam = torch.full((len(idx),), LAM0, dtype=theta.dtype)
    while True:
        finite = torch.isfinite(g).all(-1) & torch.isfinite(H).flatten(1).all(-1)
        new = torch.zeros(len(idx), dtype=torch.int64)
        new[~finite] = POLISH_REASONS.index(Polish.NONFINITE)
        new[(new == 0) & (steps[idx] >= spec.maxsteps)] = POLISH_REASONS.index(Polish.MAXSTEPS)
        new[(new == 0) & (lam > LAM_MAX)] = POLISH_REASONS.index(Polish.STALLED)
        new[(new == 0) & finite & (g.abs().amax(-1) <= spec.gtol)] = POLISH_REASONS.index(Polish.GTOL)
        if time.perf_counter() - start >= spec.maxtime:
            new[new == 0] = POLISH_REASONS.index(Polish.MAXTIME)
        done = new != 0
        if done.any():
            rows = idx[done]
            theta[rows], value[rows], grad[rows], hess[rows] = x[done], v[done], g[done], H[done]
            reason[rows] = new[done]
            keep = ~done
            idx, x, v, g, H, lam = idx[keep], x[keep], v[keep], g[keep], H[keep], lam[keep]
        if len(idx) == 0:
            return theta, reason, steps, evals, (value, grad, hess)
        ev, V = torch.linalg.eigh(H)
        scale = (ev * ev).amax(-1).clamp_min(1e-300)
        coef = ev / (ev * ev + (lam * scale)[:, None])
        step = -(V @ (coef * (V.transpose(-1, -2) @ g.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)
                 ).squeeze(-1)
        xn = x + step
        vn, gn, Hn = obj.evaluate(xn, 2)
        evals[idx] += 1
        steps[idx] += 1
        ok = torch.isfinite(gn).all(-1) & (gn.norm(dim=-1) < g.norm(dim=-1))
        x = torch.where(ok[:, None], xn, x)
        v = torch.where(ok, vn, v)
        g = torch.where(ok[:, None], gn, g)
        H = torch.where(ok[:, None, None], Hn, H)
        lam = torch.where(ok, (lam / 10).clamp_min(LAM_MIN), lam * 100)
