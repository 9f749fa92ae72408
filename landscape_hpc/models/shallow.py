"""Batched analytic loss, gradient and Hessian for one-hidden-layer networks.

f_k(x) = sum_i A_ki sigma(u_i . x~) + c_k with u_i = (w_i, b_i), x~ = (x, 1) (or u_i = w_i,
x~ = x without bias).  With residuals e = f - y and L = nu * sum_nk e_nk^2 (nu from the
convention), grad L = 2 nu J^T e and Hessian L = 2 nu (J^T J + S), where J is the Jacobian of the
outputs and S = sum_nk e_nk Hess f_nk has two kinds of non-zero blocks:

    S[u_i, u_i]  = sum_n (sum_k e_nk A_ki) sigma''(z_ni) x~_n x~_n^T
    S[u_i, A_ki] = sum_n e_nk sigma'(z_ni) x~_n

J^T J is one batched matrix product, which is where the time goes for the papers' sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .network import Network

Tensor = torch.Tensor


@dataclass(frozen=True)
class Inputs:
    """The inputs x (N, d) in the layouts the derivatives use, made once per dataset:
    x~ = (x, 1) with biases (else x), and the transposes with the samples innermost."""

    x: Tensor
    xT: Tensor
    xt: Tensor
    xtT: Tensor

    @classmethod
    def of(cls, x: Tensor, bias: bool) -> "Inputs":
        xt = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1) if bias else x
        return cls(x, x.T.contiguous(), xt, xt.T.contiguous())


def _indices(net: Network) -> tuple[Tensor, Tensor | None]:
    """theta positions of u_i = (w_i, b_i), shape (r, d~), and of A, shape (K, r) or None."""
    r, d = net.spec.widths[0], net.input_dim
    w = torch.arange(net.slice("w").start, net.slice("w").stop).reshape(r, d)
    if net.has("b"):
        w = torch.cat([w, torch.arange(net.slice("b").start, net.slice("b").stop)[:, None]], 1)
    a = None
    if net.fixed_a is None:
        a = torch.arange(net.slice("a").start, net.slice("a").stop).reshape(net.output_dim, r)
    return w, a


def derivatives(net: Network, inputs: Inputs, y: Tensor, nu: float, theta: Tensor,
                order: int) -> tuple[Tensor, ...]:
    """(L,), (L, g) or (L, g, H) for theta of shape (P,) or (B, P)."""
    x = inputs.x
    batched = theta.dim() == 2
    t = theta if batched else theta.unsqueeze(0)
    B, P = t.shape
    N, K = y.shape
    has_b, has_a, has_c = net.has("b"), net.fixed_a is None, net.has("c")

    A = net.readout(t)                                     # (B, K, r)
    z = torch.matmul(x, net.view(t, "w").transpose(-1, -2))  # (B, N, r)
    if has_b:
        z = z + net.view(t, "b").unsqueeze(1)
    sig = net.activation.derivatives(z, min(order, 2))
    h = sig[0]
    f = torch.matmul(h, A.transpose(-1, -2))               # (B, N, K)
    if has_c:
        f = f + net.view(t, "c").unsqueeze(1)
    e = f - y
    out = [nu * (e * e).sum((-2, -1))]

    if order >= 1:
        h1 = sig[1]
        eA = torch.matmul(e, A)                            # (B, N, r): sum_k e_nk A_ki
        dz = eA * h1
        parts = {"w1": torch.matmul(dz.transpose(-1, -2), x)}
        if has_b:
            parts["b1"] = dz.sum(1)
        if has_a:
            parts["a"] = torch.matmul(e.transpose(-1, -2), h)
        if has_c:
            parts["c"] = e.sum(1)
        g = torch.cat([parts[n].reshape(B, -1) for n in net.blocks], -1)
        out.append(2 * nu * g)

    if order >= 2:
        out.append(2 * nu * _hessian(net, inputs, e, A, h, h1, eA * sig[2]))

    return tuple(out) if batched else tuple(o[0] for o in out)


def _hessian(net: Network, inputs: Inputs, e: Tensor, A: Tensor, h: Tensor, h1: Tensor,
             q: Tensor) -> Tensor:
    """J^T J + S (without the factor 2 nu); q = (e A) * sigma'' weighs S[u_i, u_i].

    J^T is filled block by block into one (B, P, N K) tensor with the samples innermost, so that
    every elementwise product runs over long contiguous rows; J^T J is then one batched product.
    """
    B, N, K = e.shape
    r, d = h.shape[-1], inputs.x.shape[1]
    has_b, has_a, has_c = net.has("b"), net.fixed_a is None, net.has("c")
    JT = torch.empty(B, net.num_params, N * K, dtype=e.dtype)
    Ah1 = A.transpose(1, 2).unsqueeze(2) * h1.transpose(1, 2).unsqueeze(3)  # (B, r, N, K)
    if K == 1:  # keep the samples as the innermost, contiguous dimension
        torch.mul(Ah1.view(B, r, 1, N), inputs.xT, out=JT[:, :r * d].view(B, r, d, N))
    else:
        torch.mul(Ah1.unsqueeze(2), inputs.xT.unsqueeze(-1),
                  out=JT[:, :r * d].view(B, r, d, N, K))              # rows of w
    o = r * d
    if has_b:
        JT[:, o:o + r].view(B, r, N, K).copy_(Ah1)
        o += r
    if has_a:
        block = JT[:, o:o + K * r].view(B, K, r, N, K)
        if K > 1:
            block.zero_()
        for k in range(K):
            block[:, k, :, :, k].copy_(h.transpose(1, 2))
        o += K * r
    if has_c:
        block = JT[:, o:o + K].view(B, K, N, K)
        block.zero_()
        for k in range(K):
            block[:, k, :, k] = 1.0
    H = torch.matmul(JT, JT.transpose(-1, -2))

    iu, ia = _indices(net)
    qx = q.transpose(1, 2).contiguous().unsqueeze(2) * inputs.xtT       # (B, r, d~, N)
    H[:, iu[:, :, None], iu[:, None, :]] += torch.matmul(qx, inputs.xt)  # S[u_i, u_i]
    if has_a:
        eh = e * h1 if K == 1 else (e.unsqueeze(-1) * h1.unsqueeze(-2)).reshape(B, N, K * r)
        s_ua = torch.matmul(eh.transpose(-1, -2), inputs.xt).reshape(B, K, r, -1)  # (B, K, r, d~)
        H[:, iu[None, :, :], ia[:, :, None]] += s_ua
        H[:, ia[:, :, None], iu[None, :, :]] += s_ua
    return H
