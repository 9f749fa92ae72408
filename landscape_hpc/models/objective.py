"""The objective L(theta) + R(theta): a loss with exact derivatives plus the maxnorm barrier.

Conventions (``LossSpec``), for residuals e_n = f(x_n; theta) - y_n summed over outputs:

==============  ===================================  ============================================
convention      L(theta)                             used in
==============  ===================================  ============================================
``mean``        < ||e||^2 >_D = (1/N) sum ||e_n||^2    channels-to-infinity (A.2), few-neurons-theory
                                                     (eq. 3, 5); the default
``half_mean``   (1/2) < ||e||^2 >_D                  channels-to-infinity (App. D, population);
                                                     soft-committee analyses
``sum``         sum ||e_n||^2                        MLPGradientFlow.jl's own ``loss``
``half_sum``    (1/2) sum ||e_n||^2                  relu-like-stationary-points
==============  ===================================  ============================================

The population (infinite-data) losses replace < . >_D by the expectation over the input law and
accept ``mean`` and ``half_mean`` only.

Barrier (MLPGradientFlow.jl): weightnorm(theta) = sum(theta^2) / (2P), and
R(theta) = (weightnorm - maxnorm)^3 / 3 when weightnorm > maxnorm, else 0.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import torch
from pydantic import Field

from ..config import Spec

Tensor = torch.Tensor

Convention = Literal["mean", "half_mean", "sum", "half_sum"]


class LossSpec(Spec):
    """Loss convention and the maxnorm barrier threshold (``inf`` switches it off)."""

    convention: Convention = "mean"
    maxnorm: float = Field(default=math.inf, gt=0)

    @property
    def factor(self) -> float:
        """The 1 or 1/2 in front of the squared error."""
        return 0.5 if self.convention.startswith("half") else 1.0

    @property
    def mean(self) -> bool:
        return self.convention.endswith("mean")


def weightnorm(theta: Tensor) -> Tensor:
    """sum(theta^2) / (2 len(theta)), over the last dimension."""
    return (theta * theta).sum(-1) / (2 * theta.shape[-1])


def barrier(theta: Tensor, maxnorm: float, order: int = 0) -> tuple[Tensor, ...]:
    """R, and up to order 2 its gradient and Hessian, batched over leading dims of theta."""
    P = theta.shape[-1]
    excess = torch.clamp_min(weightnorm(theta) - maxnorm, 0.0)
    out = [excess**3 / 3]
    if order >= 1:
        out.append((excess**2 / P).unsqueeze(-1) * theta)
    if order >= 2:
        eye = torch.eye(P, dtype=theta.dtype)
        outer = theta.unsqueeze(-1) * theta.unsqueeze(-2)
        out.append((2 * excess / P**2)[..., None, None] * outer
                   + (excess**2 / P)[..., None, None] * eye)
    return tuple(out)


def barrier_residual(theta: Tensor, maxnorm: float) -> tuple[Tensor, Tensor]:
    """sqrt(R) for theta (B, P) as one more residual (B, 1), and its Jacobian (B, 1, P): the
    barrier in least-squares form, R = r^2 (C^1 at weightnorm = maxnorm)."""
    P = theta.shape[-1]
    excess = torch.clamp_min(weightnorm(theta) - maxnorm, 0.0)
    r = excess**1.5 / math.sqrt(3)
    J = (math.sqrt(3) / 2 * excess.sqrt() / P).unsqueeze(-1) * theta
    return r.unsqueeze(-1), J.unsqueeze(-2)


class Objective(ABC):
    """A loss L with exact derivatives up to the Hessian, plus the maxnorm barrier R.

    Subclasses implement :meth:`derivatives` for the loss alone; everything else derives from it.
    All methods take theta of shape (P,) or (B, P) and keep the leading dimension.
    """

    num_params: int
    loss_spec: LossSpec

    @abstractmethod
    def derivatives(self, theta: Tensor, order: int) -> tuple[Tensor, ...]:
        """(L,), (L, grad L) or (L, grad L, Hessian L) of the loss without barrier."""

    @property
    def maxnorm(self) -> float:
        return self.loss_spec.maxnorm

    def _check(self, theta: Tensor) -> Tensor:
        if theta.shape[-1] != self.num_params:
            raise ValueError(f"theta has {theta.shape[-1]} entries, expected {self.num_params}")
        return theta

    def loss(self, theta: Tensor) -> Tensor:
        """L(theta), without the barrier."""
        return self.derivatives(self._check(theta), 0)[0]

    def evaluate(self, theta: Tensor, order: int = 1, with_barrier: bool = True) -> tuple[Tensor, ...]:
        """(L + R, grad, Hessian) up to ``order``; without the barrier if ``with_barrier`` is False."""
        out = self.derivatives(self._check(theta), order)
        if not with_barrier or math.isinf(self.maxnorm):
            return out
        if not bool((weightnorm(theta) > self.maxnorm).any()):
            return out  # R and its derivatives vanish (the sum would only turn -0.0 into +0.0)
        return tuple(x + r for x, r in zip(out, barrier(theta, self.maxnorm, order)))

    def value(self, theta: Tensor) -> Tensor:
        """L(theta) + R(theta)."""
        return self.evaluate(theta, 0)[0]

    def gradient(self, theta: Tensor, with_barrier: bool = True) -> Tensor:
        return self.evaluate(theta, 1, with_barrier)[1]

    def hessian(self, theta: Tensor, with_barrier: bool = True) -> Tensor:
        return self.evaluate(theta, 2, with_barrier)[2]

    def hessian_spectrum(self, theta: Tensor, with_barrier: bool = True) -> Tensor:
        """Eigenvalues of the Hessian, ascending."""
        return torch.linalg.eigvalsh(self.hessian(theta, with_barrier))
