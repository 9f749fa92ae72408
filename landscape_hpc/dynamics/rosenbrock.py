"""Shampine's ode23s (Rosenbrock 2(3), L-stable) for the gradient flow theta' = -grad V(theta).

With F = -grad V and its exact Jacobian J = -Hess V, one step of size h solves with
W = I - h d J (d = 1 / (2 + sqrt 2), one batched LU):

    k1 = W^-1 F(y)
    k2 = W^-1 (F(y + h k1 / 2) - k1) + k1,          y_new = y + h k2
    k3 = W^-1 (F(y_new) - e32 (k2 - F1) - 2 (k1 - F(y))),   err = h W^-1 (k1 - 2 k2 + k3) / 6

(Shampine & Reichelt 1997, e32 = 6 + sqrt 2).  F(y_new) and J(y_new) are evaluated once, with the
Hessian, and reused by the next step (FSAL).  Every tensor has a leading batch dimension.

The error estimate is filtered through W^-1, as Radau5 does (Hairer & Wanner, Solving ODEs II,
IV.8) and OrdinaryDiffEq.jl's ESDIRK methods do by default (``smooth_est``; the papers' KenCarp58):
ode23s' raw estimate does not vanish in stiff components (h lambda >> 1), where the L-stable step
is accurate, so along channels it stayed at 1-2x the tolerance for every h down to h lambda ~ 1
and forced cascades of rejected steps.  W^-1 leaves the non-stiff components as they are
(benchmarks/RESULTS.md, Trajectories, round 4).
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

D = 1.0 / (2.0 + math.sqrt(2.0))
E32 = 6.0 + math.sqrt(2.0)
ORDER = 3  # order of the error estimate, for the step-size controller


def factor(hess: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """LU of W = I + h d Hess V, batched (a singular W gives non-finite stages: a rejected step)."""
    return torch.linalg.lu_factor_ex(_shifted(hess, h * D))[:2]


def _shifted(hess: Tensor, c: Tensor) -> Tensor:
    """I + c Hess, batched over c (B,)."""
    w = hess * c[:, None, None]
    w.diagonal(dim1=-2, dim2=-1).add_(1.0)
    return w


def _solve(lu: tuple[Tensor, Tensor], b: Tensor) -> Tensor:
    return torch.linalg.lu_solve(lu[0], lu[1], b.unsqueeze(-1)).squeeze(-1)


def stages(y: Tensor, f0: Tensor, lu: tuple[Tensor, Tensor], h: Tensor, field) -> tuple[Tensor, Tensor, Tensor]:
    """First two stages: (k1, k2, y_new); ``field(y)`` returns F(y) = -grad V(y)."""
    k1 = _solve(lu, f0)
    f1 = field(torch.addcmul(y, h[:, None], k1, value=0.5))
    k2 = _solve(lu, f1 - k1).add_(k1)
    return k1, k2, f1


def error(f0: Tensor, f1: Tensor, f2: Tensor, k1: Tensor, k2: Tensor, lu: tuple[Tensor, Tensor],
          h: Tensor) -> Tensor:
    """The embedded error estimate, from F at y_new (f2), filtered through W^-1."""
    k3 = _solve(lu, torch.sub(k2, f1).mul_(-E32).add_(f2).add_(torch.sub(k1, f0), alpha=-2.0))
    return _solve(lu, torch.add(k1, k2, alpha=-2.0).add_(k3).mul_(h[:, None] / 6.0))


# ---- Rodas4 (Hairer & Wanner, Solving ODEs II, IV.7; method option "flow_rodas") ---------------
# L-stable, stiffly accurate Rosenbrock method of order 4 with an embedded order-3 solution, in the
# transformed form of OrdinaryDiffEq.jl's Rodas4 tableau (autonomous case).  With W = I + h g Hess V
# (one batched LU), stage i solves  k_i = h g W^-1 (F(u_i) + sum_j (C_ij / h) k_j)  at
# u_i = y + sum_j a_ij k_j; u_5 = y + sum_j a_5j k_j, u_6 = u_5 + k_5 is the embedded (order 3)
# solution and y_new = u_6 + k_6 the order-4 one, so the error estimate is k_6.  Six evaluations
# of F per step (the first one is the FSAL value at y), the Hessian once, at y_new.
RODAS_GAMMA = 0.25
RODAS_ORDER = 4  # order of the error estimate, for the step-size controller
RODAS_A = (
    (),
    (1.544,),
    (0.9466785280815826, 0.2557011698983284),
    (3.314825187068521, 2.896124015972201, 0.9986419139977817),
    (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
)
RODAS_C = (
    (),
    (-5.6688,),
    (-2.430093356833875, -0.2063599157091915),
    (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
    (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
    (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
     -6.058818238834054),
)


def rodas_factor(hess: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """LU of W = I + h gamma Hess V, batched."""
    return torch.linalg.lu_factor_ex(_shifted(hess, h * RODAS_GAMMA))[:2]


def rodas_step(y: Tensor, f0: Tensor, lu: tuple[Tensor, Tensor], h: Tensor, field
               ) -> tuple[Tensor, Tensor]:
    """(y_new, error estimate) of one Rodas4 step; ``field(u)`` returns F(u) = -grad V(u) and
    ``f0`` = F(y)."""
    hc = h[:, None]
    hg = hc * RODAS_GAMMA
    ks: list[Tensor] = []
    u = y
    for i in range(6):
        if i == 0:
            rhs = f0
        else:
            if i < 5:
                u = y + sum(a * k for a, k in zip(RODAS_A[i], ks))
            else:
                u = u + ks[4]  # u_6 = u_5 + k_5
            rhs = field(u) + sum(c * k for c, k in zip(RODAS_C[i], ks)) / hc
        ks.append(hg * _solve(lu, rhs))
    return u + ks[5], ks[5]
