"""The jump procedure along a channel to infinity (channels-to-infinity App. C.1).

Each jump takes the GLU reparameterisation (eq. 3) of the channel's pair of neurons, halves eps
(more generally divides it by ``factor``) at fixed c, a, w and Delta, and re-integrates the
gradient flow from there to the bottom of the channel.  Along a channel the loss keeps falling,
c, a, w, Delta converge, and the error of the GLU limit (eq. 4) falls like eps^2 (Fig. 5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..dynamics import DynamicsSpec, integrate
from ..models.network import Network
from ..problem import Problem
from .channels import GLU, glu_limit, glu_pair, pair_from_glu

Tensor = torch.Tensor


@dataclass(frozen=True)
class Jump:
    """The state after one jump and re-integration: eps, loss, gradient infinity-norm, the GLU
    parameters of the pair, the RMS error of the GLU limit on the data, theta, and why the
    re-integration stopped."""

    eps: float
    loss: float
    gradnorm: float
    glu: GLU
    limit_error: float
    theta: Tensor
    stopped_by: str


def with_pair(net: Network, theta: Tensor, i: int, j: int, v_i: Tensor, a_i: Tensor,
              v_j: Tensor, a_j: Tensor) -> Tensor:
    """theta (P,) with neurons i, j given input vectors v (w[, b]) and output weights a (out,)."""
    blocks = {name: net.view(theta, name).clone() for name in net.blocks}
    d = net.input_dim
    for k, v, a in ((i, v_i, a_i), (j, v_j, a_j)):
        blocks["w1"][k] = v[:d]
        if "b1" in blocks:
            blocks["b1"][k] = v[d]
        blocks["a"][:, k] = a
    return net.pack(**blocks)


def jump_along_channel(problem: Problem, theta: Tensor, i: int, j: int, spec: DynamicsSpec,
                       jumps: int = 8, factor: float = 2.0) -> list[Jump]:
    """``jumps`` jumps along the channel of neurons i, j from theta (P,), re-integrating with
    ``spec`` after each (give it a step or time limit; the problem's maxnorm should be off or
    far, since the output weights grow like 1/eps)."""
    net = problem.net
    if net.depth != 1 or not net.has("a"):
        raise ValueError(f"the jump needs one hidden layer and a free readout, got {net}")
    if problem.x is None:
        raise ValueError("the GLU limit error needs data (a population loss has none)")
    out = []
    for _ in range(jumps):
        g = glu_pair(net, theta, i, j)
        theta = with_pair(net, theta, i, j, *pair_from_glu(replace(g, eps=g.eps / factor)))
        rec = integrate(problem, theta, spec).records[0]
        theta = torch.from_numpy(rec.theta)
        err = glu_limit(net, theta, i, j, problem.x) - net(theta, problem.x)
        out.append(Jump(glu_pair(net, theta, i, j).eps.item(), rec.loss, rec.gradnorm,
                        glu_pair(net, theta, i, j), err.square().mean().sqrt().item(), theta,
                        rec.stopped_by))
    return out
