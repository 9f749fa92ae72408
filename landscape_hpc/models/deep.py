"""Batched analytic loss, gradient and Hessian for networks with two or more hidden layers.

Formulation.  The readout is treated as layer L+1 with the identity activation, so every layer
is z_l = W_l h_{l-1} + b_l, h_l = sigma(z_l) (h_0 = x, W_{L+1} = a, b_{L+1} = c, f = z_{L+1}).
With residuals e = f - y and L = nu sum_n ||e_n||^2, grad L = 2 nu J^T e and
Hessian L = 2 nu (J^T J + sum_nk e_nk Hess f_nk).  Per sample (index n dropped), with
u_l = (h_{l-1}, 1) the input of layer l (h_{l-1} only where W_l is in theta, 1 only with a bias):

* backward: delta_{L+1} = e, gamma_l = W_{l+1}^T delta_{l+1}, delta_l = gamma_l * sigma'(z_l);
  the gradient of layer l's own parameters (W_l, b_l) is delta_l u_l^T.
* curvature of the loss in z_l (Hessian back-propagation; the Gauss-Newton and residual parts
  together): M_{L+1} = I and
  M_l = D_l W_{l+1}^T M_{l+1} W_{l+1} D_l + diag(gamma_l * sigma''(z_l)),  D_l = diag sigma'(z_l).
* forward Jacobians H_l = dh_l/dtheta (tangents of the parameters of layers <= l):
  H_l = D_l [W_l H_{l-1} | O_l] with O_l[j', (j, a)] = [j = j'] u_l[a].

The Hessian/(2 nu) then has, for the own parameters (j, a) of layer l and every parameter p of a
lower layer, the blocks

    own x own:    sum_n M_l[j, j'] u_l[a] u_l[b]
    own x lower:  sum_n sum_m R[(j, a), m] H_{l-1}[m, p],
                  R[(j, a), m] = u_l[a] (M_l W_l)[j, m] + [a = m] delta_l[j]

(the second term of R is the bilinear product W_l h_{l-1} of the weights with the lower layers'
outputs).  Every entry is made once, in the layer of its row; the blocks above the diagonal are
mirrored.  J^T J is never formed: it is the M_{L+1} = I end of the recursion.

Decisions.  Samples are innermost (arrays (B, ..., N)), so that every sum over samples is a long
matrix product.  The columns O_l of H_l are sparse (one non-zero per column) and stay implicit as
t_l = sigma'(z_l) u_l^T: against them R and W_{l+1} act by a small batched product and an outer
product.  So the work per sample is about sum_l size_l n_{l-1} (offset_{l-1} + cols_{l-1})
multiply-adds: 2.3k for the 4-4-4 net with biases on d = 2 (P = 57), less than the 3.2k of J^T J
alone.  The parameters are handled in a "canonical" order, layer by layer and within a layer
(j, a) (the row j of W_l followed by b_l[j]): each layer's own block is contiguous and the
parameters of the lower layers are a prefix; the gradient and Hessian are permuted into the
network's layout once at the end.  Thetas are taken in groups and samples in chunks so that the
largest temporary (H_l, R) stays near ``BUDGET`` elements, 4 MB (in the L3 cache, and below the
32 MB above which glibc maps every allocation afresh where the allocator is left alone); for the 4-4 and 4-4-4 nets at
N = 10^4, 2-8 MB measured within noise of each other, 0.5 MB 1.5x slower (per-op overhead).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .network import Network

Tensor = torch.Tensor

#: elements of the largest temporary of one call (thetas x samples x its per-sample size)
BUDGET = 1 << 19
#: fewest samples per chunk (below that the per-op overhead dominates)
MIN_SAMPLES = 512


@dataclass(frozen=True)
class Layer:
    """z = W h + b with W (n_out, n_in) (named ``weight`` in the network, ``bias`` None without
    one); ``free`` is False for a fixed readout; ``offset`` is the first canonical index of the
    layer's own parameters."""

    weight: str
    bias: str | None
    n_in: int
    n_out: int
    free: bool
    offset: int

    @property
    def cols(self) -> int:
        """Length of u = (h_{l-1} if W is free, 1 if b)."""
        return self.n_in * self.free + (self.bias is not None)

    @property
    def size(self) -> int:
        return self.n_out * self.cols


@dataclass(frozen=True)
class Data:
    """Inputs and targets with the samples innermost, and the network's layers, made once."""

    xT: Tensor            # (d, N)
    yT: Tensor            # (K, N)
    layers: tuple[Layer, ...]
    to_canonical: Tensor  # canonical index of every network position
    per_sample: int       # elements per theta and sample of the largest Hessian temporary

    @classmethod
    def of(cls, net: Network, x: Tensor, y: Tensor) -> "Data":
        dims = (net.input_dim, *net.spec.widths, net.output_dim)
        L = net.depth
        layers, order, offset = [], [], 0
        for l in range(1, L + 2):
            top = l == L + 1
            weight, bias = ("a", "c") if top else (f"w{l}", f"b{l}")
            layer = Layer(weight, bias if net.has(bias) else None, dims[l - 1], dims[l],
                          not top or net.fixed_a is None, offset)
            layers.append(layer)
            order.append(_network_positions(net, layer))
            offset += layer.size
        per_sample = max([lay.size * lay.n_in for lay in layers]
                         + [lay.offset * lay.n_out for lay in layers[:-1]])
        return cls(x.T.contiguous(), y.T.contiguous(), tuple(layers),
                   torch.argsort(torch.cat(order)), per_sample)


def _network_positions(net: Network, layer: Layer) -> Tensor:
    """Network positions of the layer's own parameters in canonical order (j, a)."""
    cols = []
    if layer.free:
        s = net.slice(layer.weight)
        cols.append(torch.arange(s.start, s.stop).reshape(layer.n_out, layer.n_in))
    if layer.bias is not None:
        s = net.slice(layer.bias)
        cols.append(torch.arange(s.start, s.stop)[:, None])
    return torch.cat(cols, 1).flatten() if cols else torch.zeros(0, dtype=torch.long)


def derivatives(net: Network, data: Data, nu: float, theta: Tensor,
                order: int) -> tuple[Tensor, ...]:
    """(L,), (L, g) or (L, g, H) for theta of shape (P,) or (B, P)."""
    batched = theta.dim() == 2
    thetas = theta if batched else theta.unsqueeze(0)
    N = data.xT.shape[1]
    per = data.per_sample if order >= 2 else max(lay.n_out for lay in data.layers)
    group = max(1, BUDGET // (per * min(N, MIN_SAMPLES)))
    parts = [_group(net, data, nu, t, order, _chunk_size(N, per * t.shape[0]))
             for t in thetas.split(group)]
    out = tuple(torch.cat(p) for p in zip(*parts))
    return out if batched else tuple(o[0] for o in out)


def _chunk_size(N: int, per_sample: int) -> int:
    """Samples per chunk: near BUDGET elements, at least MIN_SAMPLES, equal chunks."""
    chunks = -(-N // max(MIN_SAMPLES, BUDGET // per_sample))
    return -(-N // chunks)


def _group(net: Network, data: Data, nu: float, theta: Tensor, order: int,
           chunk: int) -> list[Tensor]:
    """Derivatives of one group of thetas (B, P), summed over chunks of samples."""
    B, P = theta.shape
    W = [net.readout(theta) if lay.weight == "a" else net.view(theta, lay.weight)
         for lay in data.layers]
    b = [None if lay.bias is None else net.view(theta, lay.bias) for lay in data.layers]
    out = [theta.new_zeros(shape) for shape in [(B,), (B, P), (B, P, P)][:order + 1]]
    for s in range(0, data.xT.shape[1], chunk):
        _chunk(net, data, W, b, data.xT[:, s:s + chunk], data.yT[:, s:s + chunk], order, out)
    out[0] *= nu
    if order >= 1:
        idx = data.to_canonical
        out[1] = 2 * nu * out[1][:, idx]
    if order >= 2:
        _mirror(out[2], data.layers)
        out[2] = 2 * nu * out[2][:, idx][:, :, idx]
    return out


def _chunk(net: Network, data: Data, W: list[Tensor], b: list[Tensor | None], x: Tensor,
           y: Tensor, order: int, out: list[Tensor]) -> None:
    """Add one chunk of samples x (d, N), y (K, N) to the value, canonical gradient, Hessian."""
    layers = data.layers
    h, sig = [x], []
    for l in range(len(layers) - 1):
        sig.append(net.activation.derivatives(_affine(W[l], b[l], h[-1]), min(order, 2)))
        h.append(sig[-1][0])
    e = _affine(W[-1], b[-1], h[-1]) - y
    out[0] += (e * e).sum((-2, -1))
    if order == 0:
        return

    delta, gamma = [e], []
    for l in range(len(layers) - 1, 0, -1):
        gamma.insert(0, torch.matmul(W[l].transpose(-1, -2), delta[0]))
        delta.insert(0, gamma[0] * sig[l - 1][1])
    for l, lay in enumerate(layers):
        if lay.size:
            out[1][:, lay.offset:lay.offset + lay.size] += _own_gradient(lay, delta[l], h[l])
    if order >= 2:
        _hessian(layers, W, sig, h, delta, _curvatures(W, sig, gamma), out[2])


def _affine(w: Tensor, b: Tensor | None, h: Tensor) -> Tensor:
    """z = W h + b: (B, n_out, N)."""
    z = torch.matmul(w, h)
    return z if b is None else z + b.unsqueeze(-1)


def _own_gradient(lay: Layer, delta: Tensor, h: Tensor) -> Tensor:
    """sum_n delta u^T, flattened (j, a): (B, size)."""
    parts = []
    if lay.free:
        parts.append(torch.matmul(delta, h.transpose(-1, -2)))
    if lay.bias is not None:
        parts.append(delta.sum(-1, keepdim=True))
    return torch.cat(parts, -1).flatten(1)


def _curvatures(W: list[Tensor], sig: list[tuple[Tensor, ...]],
                gamma: list[Tensor]) -> list[tuple[Tensor | None, Tensor | None]]:
    """(M_l, V_l = M_l W_l) of every layer, bottom first: M_l (B, n_l, n_l, N) and V_l
    (B, n_l, n_{l-1}, N); the readout's is (None, a[..., None]) (M_{L+1} = I), the first layer's
    V None (not needed)."""
    a = W[-1]
    out = [(None, a.unsqueeze(-1))]
    T = torch.matmul(a.transpose(-1, -2), a).unsqueeze(-1)         # W^T M W of the layer above
    for l in range(len(sig) - 1, -1, -1):
        s1 = sig[l][1]
        M = T * s1.unsqueeze(2) * s1.unsqueeze(1)
        M.diagonal(0, 1, 2).add_((gamma[l] * sig[l][2]).transpose(-1, -2))
        V = None
        if l > 0:
            V = torch.matmul(W[l].transpose(-1, -2).unsqueeze(1), M)  # sum_j' M[j, j'] W[j', m]
            B, n_out, n_in, N = V.shape
            T = torch.matmul(W[l].transpose(-1, -2), V.reshape(B, n_out, n_in * N))
            T = T.view(B, n_in, n_in, N)
        out.insert(0, (M, V))
    return out


def _hessian(layers: tuple[Layer, ...], W: list[Tensor], sig: list[tuple[Tensor, ...]],
             h: list[Tensor], delta: list[Tensor],
             MV: list[tuple[Tensor | None, Tensor | None]], H: Tensor) -> None:
    """Add the lower and diagonal blocks of one chunk to the canonical Hessian H (B, P, P)."""
    B = H.shape[0]
    jac = None  # Jacobian of the layer's input h_{l-1}, see _next_jacobian
    for l, (lay, (M, V)) in enumerate(zip(layers, MV)):
        if not lay.size:  # a fixed readout without c
            continue
        o, s = lay.offset, lay.size
        u = _u(lay, h[l])
        block = H[:, o:o + s, o:o + s]
        if M is None:  # the readout: M = I
            block.view(B, lay.n_out, lay.cols, lay.n_out, lay.cols).diagonal(0, 1, 3).add_(
                torch.matmul(u, u.transpose(-1, -2)).unsqueeze(-1))
        else:
            block += _own_own(M, u, lay)
        if jac is not None:
            _own_lower(lay, u, V, delta[l], jac, H[:, o:o + s, :o])
        if M is not None:
            jac = _next_jacobian(W[l], u, sig[l][1], jac)


def _u(lay: Layer, h: Tensor) -> Tensor:
    """u = (h if W is free, 1 if b): (..., cols, N)."""
    parts = [h] if lay.free else []
    if lay.bias is not None:
        parts.append(h.new_ones(*h.shape[:-2], 1, h.shape[-1]))
    return torch.cat(parts, -2) if len(parts) > 1 else parts[0]


def _own_own(M: Tensor, u: Tensor, lay: Layer) -> Tensor:
    """sum_n M[j, j'] u[a] u[b], as (B, size, size) in (j, a) order."""
    B, n, _, N = M.shape
    c = lay.cols
    uu = (u.unsqueeze(-2) * u.unsqueeze(-3)).reshape(*u.shape[:-2], c * c, N)
    G = torch.matmul(M.reshape(B, n * n, N), uu.transpose(-1, -2))  # (B, n n, c c)
    return G.view(B, n, n, c, c).transpose(2, 3).reshape(B, n * c, n * c)


def _own_lower(lay: Layer, u: Tensor, V: Tensor, delta: Tensor,
               jac: tuple[Tensor | None, Tensor], out: Tensor) -> None:
    """Add sum_n R[(j, a), m] H_{l-1}[m, p] to out (B, size, o), H_{l-1} given as ``jac`` (see
    _next_jacobian); V = M W is (B, n_out, n_in, N or 1)."""
    low, t = jac
    B, n_in, c_in, N = t.shape
    R = (u.unsqueeze(-3).unsqueeze(-2) * V.unsqueeze(2)).view(B, lay.size, n_in, N)
    if lay.free:
        R.view(B, lay.n_out, lay.cols, n_in, N)[:, :, :n_in].diagonal(0, 2, 3).add_(
            delta.unsqueeze(-1))
    o = 0
    if low is not None:
        o = low.shape[1]
        out[..., :o] += torch.matmul(R.view(B, lay.size, n_in * N),
                                     low.view(B, o, n_in * N).transpose(-1, -2))
    own = torch.matmul(R.transpose(1, 2), t.transpose(-1, -2))        # (B, n_in, size, c_in)
    out[..., o:] += own.transpose(1, 2).reshape(B, lay.size, n_in * c_in)


def _next_jacobian(w: Tensor, u: Tensor, s1: Tensor,
                   jac: tuple[Tensor | None, Tensor] | None) -> tuple[Tensor | None, Tensor]:
    """The Jacobian of h_l = sigma(W u + b) from that of its input, as (low, t): low
    (B, o, n_l, N) the columns of the lower layers' parameters (o of them), and t = sigma' u
    (B, n_l, c, N) for its own, H_l[j', (j, a)] = [j = j'] t[j, a] (kept implicit: it is sparse)."""
    t = s1.unsqueeze(2) * u.unsqueeze(-3)
    if jac is None:
        return None, t
    low, t_in = jac
    B, n, N = s1.shape
    n_in, c_in = t_in.shape[1:3]
    o = 0 if low is None else low.shape[1]
    new = s1.new_empty(B, o + n_in * c_in, n, N)
    if low is not None:
        torch.mul(torch.matmul(w.unsqueeze(1), low), s1.unsqueeze(1), out=new[:, :o])
    G = w.transpose(-1, -2).unsqueeze(-1) * s1.unsqueeze(1)          # W[j', j] sigma'[j']
    torch.mul(t_in.unsqueeze(3), G.unsqueeze(2), out=new[:, o:].view(B, n_in, c_in, n, N))
    return new, t


def _mirror(H: Tensor, layers: tuple[Layer, ...]) -> None:
    """Fill the blocks above the diagonal from those below."""
    for lay in layers:
        o, s = lay.offset, lay.size
        H[:, :o, o:o + s] = H[:, o:o + s, :o].transpose(-1, -2)
