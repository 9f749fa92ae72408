"""Target functions of inputs x (N, d): modified Rosenbrock, Matern-3/2 Gaussian process, erf toy.

* Modified Rosenbrock (channels-to-infinity.txt eq. 8, eq. 7 for d = 2)::

      f~(x) = log10[ sum_{i=2}^d ((a - x_{i-1})^2 + b (x_i - x_{i-1}^2 + c)^2) + offset ]

  with a = 1, b = 3, c = 1 and offset = 0.1 (the paper's "d", renamed to avoid the clash with the
  dimension); the offset is added once, outside the sum (at d = 2 both readings agree with eq. 7).
* Gaussian process with the Matern-3/2 kernel (eq. 9),
  k_s(x, x') = (1 + sqrt3 s r) exp(-sqrt3 s r), r = ||x - x'||: the sample at the data points is
  L z with L L^T = K + jitter I (Cholesky, float64) and z standard normal from a seeded generator.
* The 1-D toy target of channels-to-infinity.txt section 4 (Fig. 6):
  f(x) = erf((5x + 2.5)/sqrt2) + erf((5x - 2.5)/sqrt2).

``zscore`` standardises per output column with the mean and the population standard deviation
(divisor N), exactly the paper's zscore_D.
"""

from __future__ import annotations

import math

import torch

from ..models.network import DTYPE

Tensor = torch.Tensor
SQRT2 = math.sqrt(2.0)
SQRT3 = math.sqrt(3.0)
GP_JITTER = 1e-8


def zscore(y: Tensor) -> Tensor:
    """(y - mean) / std over the rows (dim 0), std with divisor N."""
    centred = y - y.mean(dim=0)
    return centred / centred.pow(2).mean(dim=0).sqrt()


def rosenbrock(x: Tensor, a: float = 1.0, b: float = 3.0, c: float = 1.0,
               offset: float = 0.1) -> Tensor:
    """log10 of the modified Rosenbrock function (eq. 8), shape (N,), for x of shape (N, d >= 2)."""
    if x.dim() != 2 or x.shape[1] < 2:
        raise ValueError(f"rosenbrock: needs inputs of shape (N, d) with input_dim d >= 2, "
                         f"got {tuple(x.shape)}")
    prev, cur = x[:, :-1], x[:, 1:]
    terms = (a - prev) ** 2 + b * (cur - prev**2 + c) ** 2
    return torch.log10(terms.sum(dim=1) + offset)


def matern32(x: Tensor, x2: Tensor, scale: float) -> Tensor:
    """Kernel matrix k_s(x_i, x2_j) of eq. 9, shape (N, M)."""
    r = torch.cdist(x, x2)
    u = SQRT3 * scale * r
    return (1 + u) * torch.exp(-u)


def gp_sample(x: Tensor, scale: float, seed: int, outputs: int = 1,
              jitter: float = GP_JITTER) -> Tensor:
    """A Matern-3/2 GP sampled at the rows of x: shape (N, outputs), independent columns."""
    k = matern32(x, x, scale)
    k.diagonal().add_(jitter)
    chol, info = torch.linalg.cholesky_ex(k)
    if info.item() != 0:
        raise ValueError(f"gp: kernel matrix (N = {x.shape[0]}, scale = {scale}) is not positive "
                         f"definite with jitter = {jitter:g}; raise 'jitter'")
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(x.shape[0], outputs, generator=gen, dtype=DTYPE)
    return chol @ z


def erf_toy(x: Tensor) -> Tensor:
    """erf((5x + 2.5)/sqrt2) + erf((5x - 2.5)/sqrt2), shape (N,), for x of shape (N, 1)."""
    if x.dim() != 2 or x.shape[1] != 1:
        raise ValueError(f"erf_toy: needs inputs of shape (N, 1) (input_dim 1), "
                         f"got {tuple(x.shape)}")
    t = x[:, 0]
    return torch.erf((5 * t + 2.5) / SQRT2) + torch.erf((5 * t - 2.5) / SQRT2)
