"""Neuron geometry of channels to infinity (channels-to-infinity.txt Sec. 3-4, App. B.3, C.1).

The primitives that both the offline analysis (:mod:`landscape_hpc.analysis.channels`) and the
flow's channel stop (:mod:`landscape_hpc.dynamics.channel`) use; they live here, below both, so
that the dynamics need not import the analysis (which imports the dynamics).

A neuron's input vector is v_i = w_i, or (w_i, b_i) when its layer has biases (the bias is the
weight of a constant input 1).  Its output weight a_i is column i of the next layer's weights (the
readout for the last hidden layer), shape (out,).  Every function takes theta of shape (..., P)
and keeps the leading batch dims.

GLU reparameterisation of a pair (eq. 3): w = (v_i + v_j)/2, eps = |v_i - v_j|/2,
Delta = (v_i - v_j)/(2 eps), a = eps (a_i - a_j), c = a_i + a_j; its eps -> 0 limit (eq. 4) is the
gated linear unit c sigma(w.x) + a (Delta.x) sigma'(w.x).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .network import Network

Tensor = torch.Tensor


def check_shallow(net: Network) -> None:
    if net.depth != 1:
        raise ValueError(f"channel analysis needs one hidden layer, got {net.depth}: {net}")


def check_layer(net: Network, layer: int) -> None:
    if not 1 <= layer <= net.depth:
        raise ValueError(f"layer: expected 1..{net.depth} (hidden layers of {net}), got {layer}")


def input_vectors(net: Network, theta: Tensor, layer: int = 1) -> Tensor:
    """Input vectors v_i = (w_i[, b_i]) of the neurons of a hidden layer, shape (..., n, D)."""
    check_layer(net, layer)
    v = net.view(theta, f"w{layer}")
    b = f"b{layer}"
    return torch.cat([v, net.view(theta, b)[..., None]], -1) if net.has(b) else v


def output_weights(net: Network, theta: Tensor, layer: int = 1) -> Tensor:
    """Output weights a_i of the neurons of a hidden layer, shape (..., n, out)."""
    check_layer(net, layer)
    nxt = net.readout(theta) if layer == net.depth else net.view(theta, f"w{layer + 1}")
    return nxt.transpose(-1, -2)


def free_output_weights(net: Network, layer: int) -> bool:
    """Whether the output weights of ``layer`` are parameters (not a fixed readout)."""
    return layer < net.depth or net.fixed_a is None


def cosine_distances(v: Tensor) -> Tensor:
    """1 - cos between all rows of v (..., n, D): (..., n, n); 1 where a vector is zero."""
    u = v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)
    return 1.0 - u @ u.transpose(-1, -2)


def subspace_fraction(net: Network, delta: Tensor, later: Tensor, neurons: Tensor,
                      layer: int = 1) -> Tensor:
    """||delta projected on the channel subspace|| / ||delta|| (App. B.3, criterion 3) for a
    parameter update ``delta`` (..., P).  The channel subspace of ``neurons`` (..., k) of
    ``layer`` is spanned by their output weights and, in each of their input vectors, by the
    span of their input vectors at ``later`` (projector W_c (W_c^T W_c)^-1 W_c^T, from a QR)."""
    if not free_output_weights(net, layer):
        raise ValueError("the channel subspace needs free output weights (no fixed_readout)")
    idx = neurons.expand(*delta.shape[:-1], neurons.shape[-1])[..., None]
    wc = torch.take_along_dim(input_vectors(net, later, layer), idx, dim=-2)     # (..., k, D)
    q = torch.linalg.qr(wc.transpose(-1, -2)).Q                                   # (..., D, k)
    dv = torch.take_along_dim(input_vectors(net, delta, layer), idx, dim=-2)
    da = torch.take_along_dim(output_weights(net, delta, layer), idx, dim=-2)
    inside = (dv @ q).square().sum((-1, -2)) + da.square().sum((-1, -2))
    return inside.sqrt() / delta.norm(dim=-1)


@dataclass(frozen=True)
class GLU:
    """Eq. 3 of a pair (i, j): w = (v_i + v_j)/2, eps = |v_i - v_j|/2, Delta = (v_i - v_j)/(2 eps),
    a = eps (a_i - a_j), c = a_i + a_j.  Vectors (..., D), output weights (..., out), eps (...)."""

    c: Tensor
    a: Tensor
    w: Tensor
    delta: Tensor
    eps: Tensor


def glu_from_pair(v_i: Tensor, a_i: Tensor, v_j: Tensor, a_j: Tensor) -> GLU:
    """The GLU reparameterisation (eq. 3) of neurons (v_i, a_i), (v_j, a_j)."""
    diff = v_i - v_j
    eps = diff.norm(dim=-1) / 2
    return GLU(c=a_i + a_j, a=eps[..., None] * (a_i - a_j), w=(v_i + v_j) / 2,
               delta=diff / (2 * eps[..., None]), eps=eps)


def pair_from_glu(g: GLU) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Inverse of :func:`glu_from_pair`: (v_i, a_i, v_j, a_j)."""
    e = g.eps[..., None]
    return g.w + e * g.delta, g.c / 2 + g.a / (2 * e), g.w - e * g.delta, g.c / 2 - g.a / (2 * e)


def glu_pair(net: Network, theta: Tensor, i: int, j: int) -> GLU:
    """The GLU reparameterisation of neurons i, j of theta (one hidden layer)."""
    check_shallow(net)
    v, a = input_vectors(net, theta), output_weights(net, theta)
    return glu_from_pair(v[..., i, :], a[..., i, :], v[..., j, :], a[..., j, :])


def glu_limit(net: Network, theta: Tensor, i: int, j: int, x: Tensor) -> Tensor:
    """The network function (..., N, out) with the pair (i, j) replaced by its eps -> 0 limit
    (eq. 4): c sigma(w.x) + a (Delta.x) sigma'(w.x)."""
    g = glu_pair(net, theta, i, j)
    xa = torch.cat([x, torch.ones_like(x[:, :1])], 1) if net.has("b") else x
    v, a = input_vectors(net, theta), output_weights(net, theta)
    rest = [k for k in range(v.shape[-2]) if k not in (i, j)]
    y = net.activation(xa @ v[..., rest, :].transpose(-1, -2)) @ a[..., rest, :]
    s, ds = net.activation.derivatives(xa @ g.w[..., None], 1)                 # (..., N, 1)
    y = y + s * g.c[..., None, :] + (xa @ g.delta[..., None]) * ds * g.a[..., None, :]
    return y + net.view(theta, "c")[..., None, :] if net.has("c") else y


@dataclass(frozen=True)
class GLUNetwork:
    """A one-hidden-layer network with the pair (i, j) replaced by its GLU limit (eq. 4), in
    free parameters: the other neurons' input vectors ``v`` (k, D) and output weights ``a``
    (k, out), the unit's c (out), w (D) and u = a Delta^T (out, D), and the readout bias ``c0``
    (out, zeros where the network has none).  f(x) = sum_k a_k sigma(v_k.x) + c sigma(w.x)
    + (u x) sigma'(w.x) + c0, x with a trailing 1 where the hidden layer has biases."""

    v: Tensor
    a: Tensor
    c: Tensor
    w: Tensor
    u: Tensor
    c0: Tensor

    @classmethod
    def of(cls, net: Network, theta: Tensor, i: int, j: int) -> "GLUNetwork":
        """The GLU network of theta (P,) with neurons i, j at their eps -> 0 limit."""
        check_shallow(net)
        g = glu_pair(net, theta, i, j)
        v, a = input_vectors(net, theta), output_weights(net, theta)
        rest = [k for k in range(v.shape[-2]) if k not in (i, j)]
        c0 = net.view(theta, "c") if net.has("c") else torch.zeros(net.output_dim,
                                                                   dtype=theta.dtype)
        return cls(v[rest], a[rest], g.c, g.w, g.a[:, None] * g.delta[None, :], c0)

    def flat(self) -> Tensor:
        return torch.cat([self.v.flatten(), self.a.flatten(), self.c, self.w, self.u.flatten(),
                          self.c0])

    def unflat(self, phi: Tensor) -> "GLUNetwork":
        out, k = [], 0
        for x in (self.v, self.a, self.c, self.w, self.u, self.c0):
            out.append(phi[k:k + x.numel()].reshape(x.shape))
            k += x.numel()
        return GLUNetwork(*out)

    def residuals(self, net: Network, xa: Tensor, y: Tensor, jacobian: bool = False
                  ) -> tuple[Tensor, Tensor | None]:
        """f(x) - y (N, out) on inputs ``xa`` (N, D, with the trailing 1 if the layer has
        biases), and with ``jacobian`` its Jacobian (N * out, number of parameters), columns
        in the order of :meth:`flat`."""
        act = net.activation
        zk = xa @ self.v.T                                                     # (N, k)
        sk = act.derivatives(zk, 1 if jacobian else 0)
        z = xa @ self.w                                                        # (N,)
        s = act.derivatives(z, 2 if jacobian else 1)
        lin = xa @ self.u.T                                                    # (N, out)
        f = sk[0] @ self.a + s[0][:, None] * self.c + lin * s[1][:, None] + self.c0
        r = f - y
        if not jacobian:
            return r, None
        N, out = r.shape
        eye = torch.eye(out, dtype=r.dtype)
        x4 = xa[:, None, None, :]
        cols = [
            sk[1][:, None, :, None] * self.a.T[None, :, :, None] * x4,            # v (k, D)
            sk[0][:, None, :, None] * eye[None, :, None, :],                       # a (k, out)
            s[0][:, None, None] * eye[None],                                       # c (out)
            (self.c * s[1][:, None] + lin * s[2][:, None])[:, :, None] * xa[:, None, :],  # w
            s[1][:, None, None, None] * eye[None, :, :, None] * x4,                # u (out, D)
            eye[None].expand(N, out, out),                                         # c0 (out)
        ]
        cols = [c.reshape(N, out, -1) for c in cols]
        return r, torch.cat(cols, -1).reshape(N * out, -1)
