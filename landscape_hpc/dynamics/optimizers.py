"""Fixed-step updates of gd, adam and sgd, batched over trajectories (each with its own eta)."""

from __future__ import annotations

import torch

from ..models.loss import EmpiricalLoss
from ..models.objective import Objective, barrier

Tensor = torch.Tensor


def gd(theta: Tensor, grad: Tensor, eta: Tensor) -> Tensor:
    return theta - eta[:, None] * grad


def adam(theta: Tensor, grad: Tensor, m: Tensor, v: Tensor, k: Tensor, eta: Tensor,
         betas: tuple[float, float], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """One Adam step (Kingma & Ba, with bias correction); k is the 1-based step number (B,)."""
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad * grad
    kf = k.to(theta.dtype)[:, None]
    mhat = m / (1 - b1**kf)
    vhat = v / (1 - b2**kf)
    return theta - eta[:, None] * mhat / (vhat.sqrt() + eps), m, v


def minibatch_gradient(obj: Objective, theta: Tensor, seeds: Tensor, steps: Tensor,
                       batch_size: int) -> Tensor:
    """Gradient of L + R on a minibatch drawn without replacement, per trajectory.

    The draw of step k of the trajectory with seed s comes from a generator seeded with
    (s, k), so the state to checkpoint is just (seed, steps).  The minibatch loss is rescaled to
    estimate the full loss for the ``sum`` conventions."""
    if not isinstance(obj, EmpiricalLoss):
        raise ValueError("method 'sgd' needs finite data (an empirical loss), "
                         f"got {type(obj).__name__}")
    n = obj.num_samples
    if batch_size > n:
        raise ValueError(f"batch_size: {batch_size} exceeds the {n} samples")
    scale = 1.0 if obj.loss_spec.mean else n / batch_size
    grads = []
    gen = torch.Generator()
    for th, seed, k in zip(theta, seeds.tolist(), steps.tolist()):
        gen.manual_seed((seed * 2**32 + k) % 2**63)
        idx = torch.randperm(n, generator=gen)[:batch_size]
        sub = EmpiricalLoss(obj.net, obj.x[idx], obj.y[idx], obj.loss_spec, obj.analytic)
        g = scale * sub.gradient(th, with_barrier=False)
        if obj.maxnorm != float("inf"):
            g = g + barrier(th, obj.maxnorm, 1)[1]
        grads.append(g)
    return torch.stack(grads)
