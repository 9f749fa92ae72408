"""Levenberg-Marquardt polish (``polish: {method: lm}``): minimise ||r(theta)||^2 = L + R.

The Newton polish (:mod:`.polish`) finds roots of the gradient with the full Hessian; on the
zero-loss manifolds of overparameterised students the Hessian is singular with slightly negative
eigenvalues near a loss of 1e-7, and its steps stall there (symmetry-induced-critical-points:
200 steps leave the loss near 1e-7).  Those end points are minima of a sum of squares, for which
Levenberg-Marquardt with the exact Jacobian of the residuals (:meth:`EmpiricalLoss.least_squares`,
the barrier as one more residual) converges to the exact minimum (1e-30 there), as the papers'
SLSQP does.  A minimiser, not a root finder: it does not converge to saddles.

MINPACK's ``lm`` through :func:`scipy.optimize.least_squares`, one theta after another
(``trf`` where there are fewer residuals than parameters, which MINPACK refuses), its tolerances
at machine precision; ``maxsteps`` bounds the evaluations of the residuals, ``maxtime`` the
batch's polish as for Newton.  Stop reasons: gtol (gradient infinity-norm of L + R <= gtol),
maxsteps, maxtime, stalled (no further decrease without reaching gtol), nonfinite.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.optimize
import torch

from ..config import ConfigError
from ..models.objective import Objective
from ..problem import ProblemSpec
from .record import POLISH_REASONS, Polish
from .spec import PolishSpec

Tensor = torch.Tensor
Derivs = tuple[Tensor, Tensor, Tensor]

METHOD = "lm"
TOL = 1e-15


class _OutOfTime(Exception):
    """Raised in a residual evaluation when the batch's polish ran past ``maxtime``."""


def check_problem(spec: ProblemSpec) -> None:
    """ConfigError naming the setting if the residuals of ``spec`` are not available."""
    if spec.population:
        raise ConfigError(f"problem.inputs: dynamics.polish.method '{METHOD}' (a least-squares "
                          "polish) needs a finite data set, not the population loss")


def polish_lm(obj: Objective, theta: Tensor, spec: PolishSpec, todo: Tensor, at: Derivs
              ) -> tuple[Tensor, Tensor, Tensor, Tensor, Derivs]:
    """As :func:`.polish.polish`, by Levenberg-Marquardt on the rows of ``theta`` where ``todo``."""
    if not hasattr(obj, "least_squares"):
        raise ValueError(f"polish method '{METHOD}' needs the residuals of a finite data set; "
                         f"{type(obj).__name__} has none")
    B = theta.shape[0]
    theta = theta.clone()
    reason = torch.full((B,), POLISH_REASONS.index(Polish.SKIPPED), dtype=torch.int64)
    steps = torch.zeros(B, dtype=torch.int64)
    evals = torch.zeros(B, dtype=torch.int64)
    start = time.perf_counter()
    idx = torch.nonzero(todo).flatten()
    for i in idx.tolist():
        x, reason[i], steps[i], evals[i] = _one(obj, theta[i], spec, start)
        theta[i] = torch.from_numpy(x)
    value, grad, hess = (d.clone() for d in at)
    if len(idx):
        value[idx], grad[idx], hess[idx] = obj.evaluate(theta[idx], 2)
        evals[idx] += 1
        ok = grad[idx].abs().amax(-1) <= spec.gtol
        reason[idx[ok]] = POLISH_REASONS.index(Polish.GTOL)
        bad = ~(torch.isfinite(grad[idx]).all(-1) & torch.isfinite(value[idx]))
        reason[idx[bad]] = POLISH_REASONS.index(Polish.NONFINITE)
    return theta, reason, steps, evals, (value, grad, hess)


def _one(obj: Objective, theta: Tensor, spec: PolishSpec, start: float
         ) -> tuple[np.ndarray, int, int, int]:
    """(theta, code, Jacobians, residual evaluations) of one theta; the code is ``stalled`` for
    a converged LM (gtol, which overrides every code, is decided on the full gradient after)."""
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    best_cost, best, count = math.inf, theta.numpy().copy(), 0

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal best_cost, best, count
        key = x.tobytes()
        if key not in cache:
            if time.perf_counter() - start >= spec.maxtime:
                raise _OutOfTime
            r, J = obj.least_squares(torch.from_numpy(x).unsqueeze(0))
            cache.clear()
            cache[key] = (r[0].numpy(), J[0].numpy())
            count += 1
            cost = float(cache[key][0] @ cache[key][0])
            if cost < best_cost:
                best_cost, best = cost, x.copy()
        return cache[key]

    try:
        m = evaluate(best)[0].shape[0]
        res = scipy.optimize.least_squares(
            lambda x: evaluate(x)[0], best, jac=lambda x: evaluate(x)[1],
            method="lm" if m >= theta.shape[0] else "trf", xtol=TOL, ftol=TOL, gtol=TOL,
            max_nfev=max(spec.maxsteps, 1))
    except _OutOfTime:
        return best, POLISH_REASONS.index(Polish.MAXTIME), 0, count
    code = Polish.MAXSTEPS if res.status == 0 else Polish.STALLED
    if not np.isfinite(res.cost):
        code = Polish.NONFINITE
    return res.x, POLISH_REASONS.index(code), res.njev or 0, count
