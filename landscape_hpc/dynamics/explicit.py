"""Dormand-Prince 5(4), batched, with FSAL, for the gradient flow on large theta (no Hessian).

Each step also estimates the stiffness along the step (Hairer & Wanner, Solving ODEs II, IV.2,
as DOPRI5 does): stages 6 and 7 are both at the end of the step, so
rho = |F(y_7) - F(y_6)| / |y_7 - y_6| estimates the largest |eigenvalue| of dF/dy that the step
excites; h rho above about 3.3 (the method's stability boundary on the negative real axis) means
the step size is set by stability, not accuracy.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor

ORDER = 5
#: h rho above this: the step size is stability-limited (DOPRI5's test)
STABILITY_LIMIT = 3.25
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
# 5th-order weights (= last row of A) minus the embedded 4th-order weights
E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def step(y: Tensor, f0: Tensor, h: Tensor, field) -> tuple[Tensor, Tensor, Tensor, object, Tensor]:
    """(y_new, F(y_new) as k7, err, extra, rho) for one step; ``field(y)`` returns (F(y), extra)
    and ``extra`` of the last stage (evaluated at y_new) is passed back; rho is the stiffness
    estimate of the module docstring."""
    hc = h[:, None]
    ks = [f0]
    extra = None
    points = []
    for row in A[1:]:
        points.append(y + hc * sum(a * k for a, k in zip(row, ks) if a != 0.0))
        f, extra = field(points[-1])
        ks.append(f)
    y6, y_new = points[-2:]
    err = hc * sum(e * k for e, k in zip(E, ks) if e != 0.0)
    rho = (ks[6] - ks[5]).norm(dim=-1) / (y_new - y6).norm(dim=-1).clamp_min(1e-300)
    return y_new, ks[-1], err, extra, rho
