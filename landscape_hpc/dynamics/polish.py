"""Newton polish: Levenberg-Marquardt on grad V(theta) = 0, batched.

With the Hessian H = V diag(l) V^T (batched eigh), a trial step is
-V diag(l / (l^2 + lam)) V^T g.  It is accepted when ||g||_2 decreases (then lam /= 10),
otherwise lam *= 100.  Being a root finder for the gradient rather than a minimiser, it converges
to the nearest critical point of any index, and the damping keeps it sane on singular Hessians
(saddle lines).  lam is relative to max l^2.  Stop reasons: gtol (gradient infinity-norm <= gtol),
maxsteps, maxtime (the batch's polish ran ``maxtime`` seconds), stalled (lam grew past 1e12: no
decrease is found any more), nonfinite.
"""

from __future__ import annotations

import time

import torch

from ..models.objective import Objective
from .record import POLISH_REASONS
from .spec import PolishSpec

Tensor = torch.Tensor

LAM0, LAM_MIN, LAM_MAX = 1e-12, 1e-24, 1e12


def polish(obj: Objective, theta: Tensor, spec: PolishSpec, todo: Tensor
           ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Polish the rows of ``theta`` (B, P) where ``todo``; the others get code ``skipped``.

    Returns (theta, code (B,), steps (B,), evals (B,)), codes index :data:`POLISH_REASONS`."""
    B = theta.shape[0]
    theta = theta.clone()
    reason = torch.full((B,), POLISH_REASONS.index("skipped"), dtype=torch.int64)
    steps = torch.zeros(B, dtype=torch.int64)
    evals = torch.zeros(B, dtype=torch.int64)
    idx = torch.nonzero(todo).flatten()
    if len(idx) == 0:
        return theta, reason, steps, evals
    reason[idx] = 0
    start = time.perf_counter()
    x = theta[idx]
    _, g, H = obj.evaluate(x, 2)
    evals[idx] += 1
    lam = torch.full((len(idx),), LAM0, dtype=theta.dtype)
    while True:
        finite = torch.isfinite(g).all(-1) & torch.isfinite(H).flatten(1).all(-1)
        new = torch.zeros(len(idx), dtype=torch.int64)
        new[~finite] = POLISH_REASONS.index("nonfinite")
        new[(new == 0) & (steps[idx] >= spec.maxsteps)] = POLISH_REASONS.index("maxsteps")
        new[(new == 0) & (lam > LAM_MAX)] = POLISH_REASONS.index("stalled")
        new[(new == 0) & finite & (g.abs().amax(-1) <= spec.gtol)] = POLISH_REASONS.index("gtol")
        if time.perf_counter() - start >= spec.maxtime:
            new[new == 0] = POLISH_REASONS.index("maxtime")
        done = new != 0
        if done.any():
            theta[idx[done]] = x[done]
            reason[idx[done]] = new[done]
            keep = ~done
            idx, x, g, H, lam = idx[keep], x[keep], g[keep], H[keep], lam[keep]
        if len(idx) == 0:
            return theta, reason, steps, evals
        ev, V = torch.linalg.eigh(H)
        scale = (ev * ev).amax(-1).clamp_min(1e-300)
        coef = ev / (ev * ev + (lam * scale)[:, None])
        step = -(V @ (coef * (V.transpose(-1, -2) @ g.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)
                 ).squeeze(-1)
        xn = x + step
        _, gn, Hn = obj.evaluate(xn, 2)
        evals[idx] += 1
        steps[idx] += 1
        ok = torch.isfinite(gn).all(-1) & (gn.norm(dim=-1) < g.norm(dim=-1))
        x = torch.where(ok[:, None], xn, x)
        g = torch.where(ok[:, None], gn, g)
        H = torch.where(ok[:, None, None], Hn, H)
        lam = torch.where(ok, (lam / 10).clamp_min(LAM_MIN), lam * 100)
