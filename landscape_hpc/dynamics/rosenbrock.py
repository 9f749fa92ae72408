"""Shampine's ode23s (Rosenbrock 2(3), L-stable) for the gradient flow theta' = -grad V(theta).

With F = -grad V and its exact Jacobian J = -Hess V, one step of size h solves with
W = I - h d J (d = 1 / (2 + sqrt 2), one batched LU):

    k1 = W^-1 F(y)
    k2 = W^-1 (F(y + h k1 / 2) - k1) + k1,          y_new = y + h k2
    k3 = W^-1 (F(y_new) - e32 (k2 - F1) - 2 (k1 - F(y))),   err = h (k1 - 2 k2 + k3) / 6

(Shampine & Reichelt 1997, e32 = 6 + sqrt 2).  F(y_new) and J(y_new) are evaluated once, with the
Hessian, and reused by the next step (FSAL).  Every tensor has a leading batch dimension.
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

D = 1.0 / (2.0 + math.sqrt(2.0))
E32 = 6.0 + math.sqrt(2.0)
ORDER = 3  # order of the error estimate, for the step-size controller


def factor(hess: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """LU of W = I + h d Hess V, batched."""
    eye = torch.eye(hess.shape[-1], dtype=hess.dtype)
    lu, piv = torch.linalg.lu_factor(eye + (h * D)[:, None, None] * hess)
    return lu, piv


def _solve(lu: tuple[Tensor, Tensor], b: Tensor) -> Tensor:
    return torch.linalg.lu_solve(lu[0], lu[1], b.unsqueeze(-1)).squeeze(-1)


def stages(y: Tensor, f0: Tensor, lu: tuple[Tensor, Tensor], h: Tensor, field) -> tuple[Tensor, Tensor, Tensor]:
    """First two stages: (k1, k2, y_new); ``field(y)`` returns F(y) = -grad V(y)."""
    hc = h[:, None]
    k1 = _solve(lu, f0)
    f1 = field(y + 0.5 * hc * k1)
    k2 = _solve(lu, f1 - k1) + k1
    return k1, k2, f1


def error(f0: Tensor, f1: Tensor, f2: Tensor, k1: Tensor, k2: Tensor, lu: tuple[Tensor, Tensor],
          h: Tensor) -> Tensor:
    """The embedded error estimate, from F at y_new (f2)."""
    k3 = _solve(lu, f2 - E32 * (k2 - f1) - 2.0 * (k1 - f0))
    return h[:, None] * (k1 - 2.0 * k2 + k3) / 6.0
