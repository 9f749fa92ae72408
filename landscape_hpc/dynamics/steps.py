"""One step of each dynamics for every trajectory of a working set; each returns which accepted.

A step reads and replaces the fields of the state it is given (theta, value, grad, hess, t, h,
steps, rejected, evals, and its method's own), so it works on a :class:`.record.TrajectoryState`
or on any object with those fields (:mod:`.switching` steps subsets of rows).  Adaptive steps
share one controller (:func:`control`): the scaled max-norm error, safety factor SAFETY and the
change of h per step bounded to [SHRINK, GROW].  The vector field is -grad L (:func:`field`),
see :mod:`.engine` for why R is left out.
"""

from __future__ import annotations

import torch

from ..models.objective import Objective
from . import explicit, optimizers, rosenbrock
from .record import TrajectoryState
from .spec import DynamicsSpec
from .stopping import Limits

Tensor = torch.Tensor

#: step-size controller: safety factor, and bounds of the change of h per step
SAFETY, SHRINK, GROW = 0.7, 0.2, 2.0


def field(obj: Objective, theta: Tensor, order: int) -> tuple[Tensor, ...]:
    """L and its derivatives, the vector field of the dynamics: L + R without R, which vanishes
    (with its derivatives) up to weightnorm = maxnorm, where the dynamics stop.  ``obj`` may also
    be the (Q, M) system of :mod:`.order_params`, which gives (L, -F, -dF/dy) of its flow F."""
    return obj.evaluate(theta, order, with_barrier=False)


def flow(obj: Objective, s: TrajectoryState, lim: Limits, sp: DynamicsSpec) -> Tensor:
    y, f0, h = s.theta, -s.grad, s.h
    lu = rosenbrock.factor(s.hess, h)
    k1, k2, f1 = rosenbrock.stages(y, f0, lu, h, lambda z: -field(obj, z, 1)[1])
    yn = torch.addcmul(y, h[:, None], k2)
    vn, gn, Hn = field(obj, yn, 2)
    err = rosenbrock.error(f0, f1, -gn, k1, k2, lu, h)
    s.evals += 2
    return accept_implicit(s, lim, y, yn, err, (vn, gn, Hn), rosenbrock.ORDER)


def flow_rodas(obj: Objective, s: TrajectoryState, lim: Limits, sp: DynamicsSpec) -> Tensor:
    y, h = s.theta, s.h
    lu = rosenbrock.rodas_factor(s.hess, h)
    yn, err = rosenbrock.rodas_step(y, -s.grad, lu, h, lambda z: -field(obj, z, 1)[1])
    s.evals += 6
    return accept_implicit(s, lim, y, yn, err, field(obj, yn, 2), rosenbrock.RODAS_ORDER)


def accept_implicit(s: TrajectoryState, lim: Limits, y: Tensor, yn: Tensor, err: Tensor,
                     new: tuple[Tensor, Tensor, Tensor], order: int) -> Tensor:
    """Step control of a Rosenbrock step to yn with (value, gradient, Hessian) ``new`` there."""
    vn, gn, Hn = new
    acc = control(s, lim, y, yn, err, vn + gn.sum(-1) + Hn.sum((-2, -1)), order)
    if bool(acc.all()):
        s.theta, s.value, s.grad, s.hess = yn, vn, gn, Hn
        return acc
    s.theta = torch.where(acc[:, None], yn, y)
    s.value = torch.where(acc, vn, s.value)
    s.grad = torch.where(acc[:, None], gn, s.grad)
    s.hess = torch.where(acc[:, None, None], Hn, s.hess)
    return acc


def flow_explicit(obj: Objective, s: TrajectoryState, lim: Limits, sp: DynamicsSpec) -> Tensor:
    return dp5(obj, s, lim)[0]


def dp5(obj: Objective, s: TrajectoryState, lim: Limits) -> tuple[Tensor, Tensor]:
    """One Dormand-Prince step: (accepted, h rho), h the step size tried and rho the stiffness
    estimate of :mod:`.explicit` (``flow_auto`` switches on it)."""
    def rhs(z: Tensor) -> tuple[Tensor, Tensor]:
        v, g = field(obj, z, 1)
        return -g, v

    y, h = s.theta, s.h
    yn, fn, err, vn, rho = explicit.step(y, -s.grad, h, rhs)
    gn = -fn
    s.evals += len(explicit.A) - 1
    acc = control(s, lim, y, yn, err, vn + gn.sum(-1), explicit.ORDER)
    s.theta = torch.where(acc[:, None], yn, y)
    s.value = torch.where(acc, vn, s.value)
    s.grad = torch.where(acc[:, None], gn, s.grad)
    return acc, h * rho


def control(s: TrajectoryState, lim: Limits, y: Tensor, yn: Tensor, err: Tensor, new: Tensor,
             order: int) -> Tensor:
    """Accept where the scaled error max_i |err_i| / (abstol + reltol max(|y_i|, |yn_i|)) <= 1
    and ``new`` (the sum of everything evaluated at yn) is finite; adapt h (a rejected step's
    factor is below SAFETY < 1); advance t and the step counters."""
    scale = torch.maximum(y.abs(), yn.abs()).mul_(lim.reltol[:, None]).add_(lim.abstol[:, None])
    en = err.abs().div_(scale).amax(-1)
    ok = torch.isfinite(en + new)
    acc = ok & (en <= 1.0)
    fac = torch.where(ok, en.pow(-1.0 / order).mul_(SAFETY).clamp_(SHRINK, GROW), SHRINK)
    s.t = torch.where(acc, s.t + s.h, s.t)
    s.h = s.h * fac
    s.steps += acc
    s.rejected += ~acc
    return acc


def discrete(obj: Objective, s: TrajectoryState, lim: Limits, sp: DynamicsSpec) -> Tensor:
    y, g, eta = s.theta, s.grad, lim.eta
    if sp.method == "gd":
        yn = optimizers.gd(y, g, eta)
    elif sp.method == "adam":
        yn, s.m, s.v = optimizers.adam(y, g, s.m, s.v, s.steps + 1, eta, sp.betas, sp.adam_eps)
    else:
        gmb = optimizers.minibatch_gradient(obj, y, s.seed, s.steps, sp.batch_size)
        yn = optimizers.gd(y, gmb, eta)
        s.evals += 1
    s.theta, (s.value, s.grad) = yn, field(obj, yn, 1)
    s.evals += 1
    s.steps += 1
    s.t = eta * s.steps.to(torch.float64)
    return torch.ones(len(y), dtype=torch.bool)
