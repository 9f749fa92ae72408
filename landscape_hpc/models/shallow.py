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

import weakref
from dataclasses import dataclass

import torch

from .network import Network

Tensor = torch.Tensor


@dataclass(frozen=True)
class Inputs:
    """The inputs x (N, d) in the layouts the derivatives use, made once per dataset:
    x~ = (x, 1) with biases (else x), stored with the samples innermost (xT, xtT contiguous);
    x and xt are their transposed views, the layout in which BLAS sums over samples fastest
    (3-4x faster than a row-major (N, d) operand for d of 2-16)."""

    x: Tensor
    xT: Tensor
    xt: Tensor
    xtT: Tensor

    @classmethod
    def of(cls, x: Tensor, bias: bool) -> "Inputs":
        xT = x.T.contiguous()
        xtT = torch.cat([xT, torch.ones(1, x.shape[0], dtype=x.dtype)]) if bias else xT
        return cls(xT.T, xT, xtT.T, xtT)


_INDEX_CACHE: "weakref.WeakKeyDictionary[Network, tuple]" = weakref.WeakKeyDictionary()


def _layout(net: Network) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Flat positions in the (P, P) Hessian of its S blocks [u_i, u_i], [A_ki, u_i] and
    [u_i, A_ki] (the last two None with a fixed readout), u_i = (w_i, b_i); made once per
    network."""
    got = _INDEX_CACHE.get(net)
    if got is None:
        r, d = net.spec.widths[0], net.input_dim
        w = torch.arange(net.slice("w").start, net.slice("w").stop).reshape(r, d)
        if net.has("b"):
            w = torch.cat([w, torch.arange(net.slice("b").start, net.slice("b").stop)[:, None]], 1)
        P = net.num_params
        uu = (w[:, :, None] * P + w[:, None, :]).flatten()
        ua = au = None
        if net.fixed_a is None:
            a = torch.arange(net.slice("a").start, net.slice("a").stop).reshape(net.output_dim, r)
            ua = (w[None, :, :] * P + a[:, :, None]).flatten()   # rows A_ki, columns u_i: (K, r, d~)
            au = (a[:, :, None] * P + w[None, :, :]).flatten()
        got = _INDEX_CACHE[net] = (uu, ua, au)
    return got


def derivatives(net: Network, inputs: Inputs, y: Tensor, nu: float, theta: Tensor,
                order: int) -> tuple[Tensor, ...]:
    """(L,), (L, g) or (L, g, H) for theta of shape (P,) or (B, P).

    Everything over the samples is laid out (B, r, N) (samples innermost, contiguous), so that the
    elementwise products run over long rows and the sums over samples are matrix products."""
    batched = theta.dim() == 2
    t = theta if batched else theta.unsqueeze(0)
    B, P = t.shape
    N, K = y.shape
    has_b, has_a, has_c = net.has("b"), net.fixed_a is None, net.has("c")

    A, sig, e = _forward(net, inputs, y, t, min(order, 2))
    AT = A.transpose(-1, -2)                                # (B, r, K)
    h = sig[0]
    out = [nu * (e * e).sum((-2, -1))]

    if order >= 1:
        h1 = sig[1]
        eA = AT * e if K == 1 else torch.matmul(AT, e)     # (B, r, N): sum_k e_nk A_ki
        dz = eA * h1
        parts = {"w1": torch.matmul(dz, inputs.x)}          # (B, r, d)
        if has_b:
            parts["b1"] = dz.sum(-1)
        if has_a:
            parts["a"] = torch.matmul(e, h.transpose(-1, -2))  # (B, K, r)
        if has_c:
            parts["c"] = e.sum(-1)
        g = torch.cat([parts[n].reshape(B, -1) for n in net.blocks], -1)
        out.append(2 * nu * g)

    if order >= 2:
        out.append(2 * nu * _hessian(net, inputs, e, AT, h, h1, eA * sig[2]))

    return tuple(out) if batched else tuple(o[0] for o in out)


def jacobian(net: Network, inputs: Inputs, y: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
    """Residuals e (B, N K) and their Jacobian J (B, N K, P) for theta (B, P); entry n K + k is
    output k of sample n (the Gauss-Newton part of the Hessian is 2 nu J^T J)."""
    B = theta.shape[0]
    N, K = y.shape
    A, (h, h1), e = _forward(net, inputs, y, theta, 1)
    JT = _jacobian_t(net, inputs, A.transpose(-1, -2), h, h1, K)
    return e.transpose(-1, -2).reshape(B, N * K), JT.transpose(-1, -2)


def _forward(net: Network, inputs: Inputs, y: Tensor, theta: Tensor, order: int
             ) -> tuple[Tensor, tuple[Tensor, ...], Tensor]:
    """The readout A (B, K, r), (sigma, ..., sigma^(order)) at z = u . x~ (B, r, N) and the
    residuals e = f - y (B, K, N)."""
    A = net.readout(theta)
    z = torch.matmul(net.view(theta, "w"), inputs.xT)
    if net.has("b"):
        z = z + net.view(theta, "b").unsqueeze(-1)
    sig = net.activation.derivatives(z, order)
    f = torch.matmul(A, sig[0])
    if net.has("c"):
        f = f + net.view(theta, "c").unsqueeze(-1)
    return A, sig, f - y.T


def _jacobian_t(net: Network, inputs: Inputs, AT: Tensor, h: Tensor, h1: Tensor, K: int
                ) -> Tensor:
    """J^T (B, P, N K) of the outputs, AT = A^T (B, r, K), h and h1 = sigma, sigma' (B, r, N).

    J^T is filled block by block with the samples innermost, so that every elementwise product
    runs over long contiguous rows."""
    B, r, N = h.shape
    d = inputs.x.shape[1]
    P = net.num_params
    JT = torch.empty(B, P, N * K, dtype=h.dtype)
    if K == 1:  # keep the samples as the innermost, contiguous dimension
        Ah1 = AT * h1                                                   # (B, r, N)
        torch.mul(Ah1.unsqueeze(2), inputs.xT, out=JT[:, :r * d].view(B, r, d, N))
    else:
        Ah1 = h1.unsqueeze(-1) * AT.unsqueeze(2)                        # (B, r, N, K)
        torch.mul(Ah1.unsqueeze(2), inputs.xT.unsqueeze(-1),
                  out=JT[:, :r * d].view(B, r, d, N, K))                # rows of w
    o = r * d
    if net.has("b"):
        JT[:, o:o + r].view(B, r, N, K).copy_(Ah1.view(B, r, N, K))
        o += r
    if net.fixed_a is None:
        block = JT[:, o:o + K * r].view(B, K, r, N, K)
        if K > 1:
            block.zero_()
        for k in range(K):
            block[:, k, :, :, k].copy_(h)
        o += K * r
    if net.has("c"):
        block = JT[:, o:o + K].view(B, K, N, K)
        block.zero_()
        for k in range(K):
            block[:, k, :, k] = 1.0
    return JT


def _hessian(net: Network, inputs: Inputs, e: Tensor, AT: Tensor, h: Tensor, h1: Tensor,
             q: Tensor) -> Tensor:
    """J^T J + S (without the factor 2 nu); e is (B, K, N), AT = A^T (B, r, K), h, h1 and
    q = (e A) * sigma'' (which weighs S[u_i, u_i]) are (B, r, N).  J^T J is one batched product.
    """
    B, K, N = e.shape
    r = h.shape[1]
    P = net.num_params
    JT = _jacobian_t(net, inputs, AT, h, h1, K)
    H = torch.matmul(JT, JT.transpose(-1, -2))

    uu, ua, au = _layout(net)
    Hf = H.view(B, P * P)
    s_uu = torch.matmul(q.unsqueeze(2) * inputs.xtT, inputs.xt)         # (B, r, d~, d~)
    Hf.index_add_(1, uu, s_uu.reshape(B, -1))                           # S[u_i, u_i]
    if net.fixed_a is None:
        eh = e * h1 if K == 1 else (e.unsqueeze(2) * h1.unsqueeze(1)).reshape(B, K * r, N)
        s_ua = torch.matmul(eh, inputs.xt).reshape(B, -1)               # (B, K, r, d~)
        Hf.index_add_(1, ua, s_ua)
        Hf.index_add_(1, au, s_ua)
    return H
