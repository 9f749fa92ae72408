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

import torch

from .network import Network

Tensor = torch.Tensor


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


def derivatives(net: Network, x: Tensor, y: Tensor, nu: float, theta: Tensor,
                order: int) -> tuple[Tensor, ...]:
    """(L,), (L, g) or (L, g, H) for theta of shape (P,) or (B, P)."""
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
        dz = torch.matmul(e, A) * h1                       # (B, N, r): sum_k e_nk A_ki sigma'
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
        out.append(2 * nu * _hessian(net, x, e, A, h, h1, sig[2]))

    return tuple(out) if batched else tuple(o[0] for o in out)


def _hessian(net: Network, x: Tensor, e: Tensor, A: Tensor, h: Tensor, h1: Tensor,
             h2: Tensor) -> Tensor:
    """J^T J + S (without the factor 2 nu)."""
    B, N, K = e.shape
    r = h.shape[-1]
    has_b, has_a, has_c = net.has("b"), net.fixed_a is None, net.has("c")
    xt = torch.cat([x, torch.ones(N, 1, dtype=x.dtype)], 1) if has_b else x

    Ah1 = A.unsqueeze(1) * h1.unsqueeze(2)                 # (B, N, K, r): df_k / dz_i
    cols = [(Ah1.unsqueeze(-1) * x[None, :, None, None, :]).reshape(B, N, K, -1)]
    if has_b:
        cols.append(Ah1)
    eye = torch.eye(K, dtype=x.dtype)
    if has_a:
        cols.append((eye[None, None, :, :, None] * h[:, :, None, None, :]).reshape(B, N, K, K * r))
    if has_c:
        cols.append(eye.expand(B, N, K, K))
    J = torch.cat(cols, -1).reshape(B, N * K, -1)
    H = torch.matmul(J.transpose(-1, -2), J)

    iu, ia = _indices(net)
    q = torch.matmul(e, A) * h2                            # (B, N, r)
    s_uu = torch.matmul((q.transpose(1, 2).unsqueeze(-1) * xt).transpose(-1, -2), xt)
    H[:, iu[:, :, None], iu[:, None, :]] += s_uu           # (B, r, d~, d~)
    if has_a:
        eh = (e.unsqueeze(-1) * h1.unsqueeze(-2)).reshape(B, N, K * r)
        s_ua = torch.matmul(eh.transpose(-1, -2), xt).reshape(B, K, r, -1)  # (B, K, r, d~)
        H[:, iu[None, :, :], ia[:, :, None]] += s_ua
        H[:, ia[:, :, None], iu[None, :, :]] += s_ua
    return H
