"""Squared-error loss of a network on a finite dataset, with exact float64 derivatives.

The gradient and Hessian are analytic and batched over thetas: :mod:`landscape_hpc.models.shallow`
for one hidden layer (the papers' main case), :mod:`landscape_hpc.models.deep` for more.
``analytic=False`` selects torch.func autodiff (grad, hessian, vectorised over a batch of thetas
with vmap) instead, the reference and baseline.  See :mod:`.objective` for the conventions.
"""

from __future__ import annotations

import math

import torch
from torch.func import grad, hessian, jacfwd, vmap

from . import deep, shallow
from .network import DTYPE, Network
from .objective import LossSpec, Objective, barrier_residual

Tensor = torch.Tensor

#: most elements (thetas x samples x hidden units x outputs) of one call for one hidden layer: a
#: larger batch of thetas is evaluated in chunks, so that the (B, r, N) arrays stay in the CPU's
#: cache (a 16-theta batch at N = 10^4 is 2-3x slower per theta in one piece than in chunks)
CHUNK_ELEMENTS = 1 << 16


class EmpiricalLoss(Objective):
    """L(theta) = factor * reduce_n ||f(x_n; theta) - y_n||^2 on inputs x (N, d), targets y (N, out).

    ``analytic`` (None: True) selects the analytic derivatives; False selects torch.func.
    """

    def __init__(self, net: Network, x: Tensor, y: Tensor, loss_spec: LossSpec | None = None,
                 analytic: bool | None = None):
        x = torch.as_tensor(x, dtype=DTYPE)
        y = torch.as_tensor(y, dtype=DTYPE)
        if y.dim() == 1:
            y = y.unsqueeze(-1)
        if x.dim() != 2 or x.shape[1] != net.input_dim:
            raise ValueError(f"inputs must have shape (N, {net.input_dim}), got {tuple(x.shape)}")
        if y.shape != (x.shape[0], net.output_dim):
            raise ValueError(f"targets must have shape ({x.shape[0]}, {net.output_dim}), "
                             f"got {tuple(y.shape)}")
        self.net, self.x, self.y = net, x, y
        self.loss_spec = loss_spec or LossSpec()
        self.num_params = net.num_params
        self.weight = self.loss_spec.factor / (x.shape[0] if self.loss_spec.mean else 1)
        self.analytic = True if analytic is None else analytic
        self._inputs = None
        if self.analytic:
            self._inputs = (shallow.Inputs.of(x, net.has("b")) if net.depth == 1
                            else deep.Data.of(net, x, y))

    @property
    def num_samples(self) -> int:
        return self.x.shape[0]

    def residuals(self, theta: Tensor) -> Tensor:
        """f(x; theta) - y, shape (..., N, out)."""
        return self.net(theta, self.x) - self.y

    def least_squares(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Residuals r (B, M) with L + R = ||r||^2 and their exact Jacobian (B, M, P), for
        theta (B, P): sqrt(factor / N) e of every sample and output (analytic for one hidden
        layer, torch.func otherwise), then sqrt(R) of the barrier where maxnorm is finite."""
        s = self.weight ** 0.5
        if self.analytic and self.net.depth == 1:
            e, J = shallow.jacobian(self.net, self._inputs, self.y, self._check(theta))
        else:
            e = self.residuals(theta).flatten(-2)
            J = vmap(jacfwd(lambda t: self.residuals(t).flatten()))(theta)
        r, J = s * e, s * J
        if math.isinf(self.maxnorm):
            return r, J
        rb, Jb = barrier_residual(theta, self.maxnorm)
        return torch.cat([r, rb], -1), torch.cat([J, Jb], -2)

    def derivatives(self, theta: Tensor, order: int) -> tuple[Tensor, ...]:
        if self.analytic and self.net.depth > 1:
            return deep.derivatives(self.net, self._inputs, self.weight, theta, order)
        if self.analytic:
            per_theta = self.x.shape[0] * self.net.spec.widths[0] * self.y.shape[1]
            chunk = max(1, CHUNK_ELEMENTS // per_theta)
            if theta.dim() == 1 or theta.shape[0] <= chunk:
                return shallow.derivatives(self.net, self._inputs, self.y, self.weight, theta,
                                           order)
            parts = [shallow.derivatives(self.net, self._inputs, self.y, self.weight, t, order)
                     for t in theta.split(chunk)]
            return tuple(torch.cat(p) for p in zip(*parts))
        return self._autodiff(theta, order)

    def _single_loss(self, theta: Tensor) -> Tensor:
        e = self.residuals(theta)
        return self.weight * (e * e).sum()

    def _autodiff(self, theta: Tensor, order: int) -> tuple[Tensor, ...]:
        batched = theta.dim() == 2
        t = theta if batched else theta.unsqueeze(0)
        out = [vmap(self._single_loss)(t)]
        if order >= 1:
            out.append(vmap(grad(self._single_loss))(t))
        if order >= 2:
            out.append(vmap(hessian(self._single_loss))(t))
        return tuple(out) if batched else tuple(o[0] for o in out)
