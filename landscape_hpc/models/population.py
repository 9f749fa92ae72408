"""Population (infinite-data) loss of bias-free two-layer teacher-student networks, x ~ N(0, I_d).

Student f(x) = sum_i a_i sigma(w_i . x), teacher f*(x) = sum_j a*_j sigma(w*_j . x), with the same
activation sigma.  Stack the neurons o = (w_1..w_r, w*_1..w*_s) with signed readouts
e = (a, -a*); then f - f* = sum_m e_m sigma(o_m . x) and (channels-to-infinity.txt eq. 15-17)

    L(theta) = factor * E[(f - f*)^2] = factor * sum_mn e_m e_n K(o_m, o_n),
    K(u, v)  = E[sigma(u . x) sigma(v . x)] = kappa(C11, C12, C22),

because (u . x, v . x) is centred Gaussian with covariance C = [[|u|^2, u.v], [u.v, |v|^2]].
``factor`` is 1 (convention ``mean``) or 1/2 (``half_mean``).

Kernels:

* relu, leaky_relu, identity (sigma(z) = s z + (1 - s) relu(z), slope s = 0, s, 1):
  K = s u.v + (1 - s)^2 K_relu with K_relu = u.v / 2 + |u||v| (sin t - t cos t) / (2 pi), t the
  angle between u and v (Cho & Saul; few-neurons-theory.txt eq. 29).  Its derivatives are taken
  directly in u and v with unit vectors of the plane (u, v); they stay finite at aligned (t = 0)
  and opposite (t = pi) neurons, where the loss is C^2 while the covariance derivatives of kappa
  diverge.  At a zero vector the relu part's u-derivatives are 0 (the convention relu'(0) = 0).
* sigmoid2, erf(z / sqrt 2): kappa = (2 / pi) arcsin(C12 / sqrt((1 + C11)(1 + C22))), with
  closed-form covariance derivatives.
* every other activation: an n x n Gauss-Hermite rule in the orthonormal frame of the plane (u, v)
  (u.x = |u| xi_1, v.x = m xi_1 + tau xi_2): K = E[sigma sigma], grad_u K = E[sigma'(u.x)
  sigma(v.x) x], H_uu = E[sigma''(u.x) sigma(v.x) x x^T], H_uv = E[sigma'(u.x) sigma'(v.x) x x^T]
  (derivatives under the expectation; only sigma, sigma', sigma'' enter).  These are smooth in
  u, v, also at aligned neurons and at u = 0.  The rule is exact for polynomials; for sigmoid-like
  activations its error grows with the norms (features of width 1 / |u| in xi), so raise
  ``quadrature`` for large weights.

Value and gradient of the closed-form kernels come from the Gram matrix (:func:`gram_terms`):
every rotation-invariant K has grad_u K = alpha u + beta v, so the gradient is two batched
products of (r, r + s) coefficients with the weights, without the (B, r, r + s, d) pair arrays
that the Hessian blocks need (6.5x faster at K = M = 20; benchmarks/RESULTS.md, issue 13).

With grad_u K and the Hessian blocks H_uu, H_uv of K at the pairs (w_i, o_m), exactly
(no finite differences):

    dL/dw_i       = 2 factor a_i sum_m e_m grad_u K(w_i, o_m)
    dL/da_i       = 2 factor sum_m e_m K(w_i, o_m)
    d2L/dw_i dw_k = 2 factor [delta_ik a_i sum_m e_m H_uu(w_i, o_m) + a_i a_k H_uv(w_i, w_k)]
    d2L/dw_i da_k = 2 factor [a_i grad_u K(w_i, w_k) + delta_ik sum_m e_m grad_u K(w_i, o_m)]
    d2L/da_i da_k = 2 factor K(w_i, w_k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import scipy.special
import torch

from .activations import Activation, ActivationSpec, get_activation
from .network import DTYPE, Network
from .objective import LossSpec, Objective

Tensor = torch.Tensor

DEFAULT_QUADRATURE = 96
_TWO_PI = 2.0 * math.pi
_GRID_CHUNK = 1 << 22  # quadrature grid points evaluated at once
_LINEAR_SLOPE = {"relu": 0.0, "identity": 1.0}  # leaky_relu: its slope parameter
_CONVENTIONS = ("mean", "half_mean")


@dataclass(frozen=True)
class LowRank:
    """d x d matrices ``scale * I + left @ core @ right^T`` over leading batch dimensions."""

    scale: Tensor  # (...)
    left: Tensor  # (..., d, 2)
    core: Tensor  # (..., 2, 2)
    right: Tensor  # (..., d, 2)

    def dense(self) -> Tensor:
        eye = torch.eye(self.left.shape[-2], dtype=self.left.dtype)
        return (self.scale[..., None, None] * eye
                + self.left @ self.core @ self.right.transpose(-1, -2))


@dataclass(frozen=True)
class PairTerms:
    """K(u, v) = E[sigma(u.x) sigma(v.x)] over pairs, grad_u K and the blocks d2K/du2, d2K/dudv."""

    value: Tensor  # (...)
    grad_u: Tensor | None = None  # (..., d)
    hess_uu: LowRank | None = None
    hess_uv: LowRank | None = None


def gaussian_kernel(activation: str | dict | ActivationSpec | Activation, u: Tensor, v: Tensor,
                    quadrature: int = DEFAULT_QUADRATURE) -> Tensor:
    """E[sigma(u . x) sigma(v . x)] for x ~ N(0, I_d); u, v of shape (..., d), broadcast together.

    Closed form for relu, leaky_relu, identity and sigmoid2, else ``quadrature`` x ``quadrature``
    Gauss-Hermite nodes.
    """
    u, v = torch.as_tensor(u, dtype=DTYPE), torch.as_tensor(v, dtype=DTYPE)
    return pair_terms(get_activation(activation), u, v, 0, quadrature).value


def overlap_kernel(activation: str | dict | ActivationSpec | Activation, c11: Tensor, c12: Tensor,
                   c22: Tensor, quadrature: int = DEFAULT_QUADRATURE) -> Tensor:
    """kappa(C11, C12, C22) = E[sigma(z1) sigma(z2)], (z1, z2) ~ N(0, [[C11, C12], [C12, C22]]).

    The same kernel as :func:`gaussian_kernel`, from the overlaps |u|^2, u.v, |v|^2 (broadcast).
    """
    act = get_activation(activation)
    c11, c12, c22 = torch.broadcast_tensors(
        *(torch.as_tensor(c, dtype=DTYPE) for c in (c11, c12, c22)))
    slope = linear_slope(act)
    if act.name == "sigmoid2":
        return erf_kappa(c11, c12, c22, 0)[0]
    if slope is None:  # the frame of _quadrature_terms from the overlaps
        s1 = c11.clamp_min(0.0).sqrt()
        m = torch.where(s1 > 0, c12 / torch.where(s1 > 0, s1, 1.0), 0.0)
        tau = (c22 - m * m).clamp_min(0.0).sqrt()
        return _plane_moments(act, s1, m, tau, _MOMENTS[:1], quadrature)[0]
    norms = (c11 * c22).clamp_min(0.0).sqrt()
    cos = torch.where(norms > 0, c12 / torch.where(norms > 0, norms, 1.0), 0.0).clamp(-1.0, 1.0)
    return slope * c12 + (1 - slope) ** 2 * _relu_value(c12, norms, torch.arccos(cos))


def pair_terms(act: Activation, u: Tensor, v: Tensor, order: int,
               quadrature: int = DEFAULT_QUADRATURE) -> PairTerms:
    """K(u, v) and, up to ``order`` (0, 1, 2), grad_u K and the blocks H_uu, H_uv; u, v (..., d)
    broadcast together."""
    u, v = torch.broadcast_tensors(u, v)
    slope = linear_slope(act)
    if slope is None:
        if act.name == "sigmoid2":
            return _erf_terms(u, v, order)
        return _quadrature_terms(act, u, v, order, quadrature)
    relu = _relu_terms(u, v, order)
    q = (1 - slope) ** 2
    value = slope * (u * v).sum(-1) + q * relu.value
    if order == 0:
        return PairTerms(value)
    grad_u = slope * v + q * relu.grad_u
    if order == 1:
        return PairTerms(value, grad_u)
    uu, uv = relu.hess_uu, relu.hess_uv
    return PairTerms(value, grad_u,
                     LowRank(q * uu.scale, uu.left, q * uu.core, uu.right),
                     LowRank(slope + q * uv.scale, uv.left, q * uv.core, uv.right))


def gram_terms(act: Activation, w: Tensor, o: Tensor, order: int
               ) -> tuple[Tensor, ...] | None:
    """K(w_i, o_m) for all pairs of w (B, r, d) and o (B, n, d), and up to ``order`` 1 the
    coefficients of grad_u K(w_i, o_m) = alpha_im w_i + beta_im o_m, from the Gram matrix and
    norms (no (B, r, n, d) temporaries); None for kernels without a closed form.

    Every rotation-invariant kernel K(u, v) = kappa(|u|^2, u.v, |v|^2) has a gradient of this form.
    For the relu family the angle t comes from the distances of the unit vectors,
    t = 2 asin(|u^ - v^| / 2) (or pi - 2 asin(|u^ + v^| / 2) past pi / 2), accurate also at
    aligned and opposite pairs, where arccos of the Gram entry would lose half the digits.
    """
    slope = linear_slope(act)
    if slope is None and act.name != "sigmoid2":
        return None
    gram = w @ o.transpose(-1, -2)  # (B, r, n)
    nw, no = w.norm(dim=-1), o.norm(dim=-1)
    if slope is None:  # sigmoid2
        k = erf_kappa((nw * nw)[..., None], gram, (no * no)[..., None, :], order)
        return (k[0],) if order == 0 else (k[0], 2 * k[1], k[2])
    wh, oh = _unit(w, nw), _unit(o, no)
    dm = torch.cdist(wh, oh, compute_mode="donot_use_mm_for_euclid_dist").clamp_max(2.0)
    dp = torch.cdist(wh, -oh, compute_mode="donot_use_mm_for_euclid_dist").clamp_max(2.0)
    near = dm <= dp
    x = torch.where(near, dm, dp)
    half = 2 * torch.asin(0.5 * x)  # t, or pi - t
    t = torch.where(near, half, math.pi - half)
    sin = x * (1 - 0.25 * x * x).clamp_min(0.0).sqrt()
    cos = torch.where(near, 1 - 0.5 * x * x, 0.5 * x * x - 1)
    norms = nw[..., None] * no[..., None, :]
    q = (1 - slope) ** 2
    value = slope * gram + q * _relu_value(gram, norms, t, sin, cos)
    if order == 0:
        return (value,)
    live = (nw > 0).to(w.dtype)[..., None]
    alpha = q * live * no[..., None, :] * sin / (_TWO_PI * torch.where(nw > 0, nw, 1.0)[..., None])
    beta = slope + q * live * (math.pi - t) / _TWO_PI
    return value, alpha, beta


def linear_slope(act: Activation) -> float | None:
    """s with sigma(z) = s z + (1 - s) relu(z), or None for the other activations."""
    if act.name == "leaky_relu":
        return act.params["slope"]
    return _LINEAR_SLOPE.get(act.name)


def _relu_value(c12: Tensor, norms: Tensor, t: Tensor, sin: Tensor | None = None,
                cos: Tensor | None = None) -> Tensor:
    """K_relu = u.v / 2 + |u||v| (sin t - t cos t) / (2 pi); the remainder is O(t^3) at t = 0."""
    sin = torch.sin(t) if sin is None else sin
    cos = torch.cos(t) if cos is None else cos
    return 0.5 * c12 + norms * (sin - t * cos) / _TWO_PI


def _unit(x: Tensor, norm: Tensor) -> Tensor:
    """x / norm, and 0 where norm is 0."""
    return x / torch.where(norm > 0, norm, 1.0)[..., None]


def _relu_terms(u: Tensor, v: Tensor, order: int) -> PairTerms:
    """Relu kernel in the plane of u, v: with unit vectors u^, v^, cos t = u^.v^, and the unit
    vectors e_v (in the plane, orthogonal to u, towards v) and e_u (orthogonal to v, towards u)::

        2 pi grad_u K = (pi - t) v + |v| sin t u^
        2 pi H_uu     = (|v| sin t / |u|) (I - u^ u^T + e_v e_v^T)
        2 pi H_uv     = (pi - t) I + sin t (u^ v^T + e_v e_u^T)

    Every term that needs e_u, e_v carries a factor sin t, so they stay finite at t = 0, pi.
    """
    nu, nv = u.norm(dim=-1), v.norm(dim=-1)
    uh, vh = _unit(u, nu), _unit(v, nv)
    cos = (uh * vh).sum(-1).clamp(-1.0, 1.0)
    perp_v = vh - cos[..., None] * uh
    sin = perp_v.norm(dim=-1)
    t = torch.atan2(sin, cos)
    value = _relu_value((u * v).sum(-1), nu * nv, t)
    if order == 0:
        return PairTerms(value)
    live_u = (nu > 0).to(u.dtype)
    grad_u = (live_u[..., None] / _TWO_PI
              * ((math.pi - t)[..., None] * v + (nv * sin)[..., None] * uh))
    if order == 1:
        return PairTerms(value, grad_u)
    perp_u = uh - cos[..., None] * vh
    ev, eu = _unit(perp_v, sin), _unit(perp_u, perp_u.norm(dim=-1))
    c_uu = live_u * nv * sin / (_TWO_PI * torch.where(nu > 0, nu, 1.0))
    zero = torch.zeros_like(c_uu)
    basis_u = torch.stack([uh, ev], -1)
    hess_uu = LowRank(c_uu, basis_u, _matrix2(-c_uu, zero, zero, c_uu), basis_u)
    live = live_u * (nv > 0).to(u.dtype)
    s_uv = live * sin / _TWO_PI
    hess_uv = LowRank(live * (math.pi - t) / _TWO_PI, basis_u, _matrix2(s_uv, zero, zero, s_uv),
                      torch.stack([vh, eu], -1))
    return PairTerms(value, grad_u, hess_uu, hess_uv)


def _erf_terms(u: Tensor, v: Tensor, order: int) -> PairTerms:
    """sigmoid2 by the chain rule through C11 = |u|^2, C12 = u.v, C22 = |v|^2 (k_a = d kappa/dC_a)::

        grad_u K = 2 k_11 u + k_12 v
        H_uu = 2 k_11 I + [u v] [[4 k_11,11, 2 k_11,12], [2 k_11,12, k_12,12]] [u v]^T
        H_uv =   k_12 I + [u v] [[2 k_11,12, 4 k_11,22], [k_12,12, 2 k_12,22]] [u v]^T
    """
    k = erf_kappa((u * u).sum(-1), (u * v).sum(-1), (v * v).sum(-1), order)
    if order == 0:
        return PairTerms(k[0])
    grad_u = 2 * k[1][..., None] * u + k[2][..., None] * v
    if order == 1:
        return PairTerms(k[0], grad_u)
    _, k1, k2, k11, k12, k13, k22, k23 = k
    basis = torch.stack([u, v], -1)
    return PairTerms(k[0], grad_u,
                     LowRank(2 * k1, basis, _matrix2(4 * k11, 2 * k12, 2 * k12, k22), basis),
                     LowRank(k2, basis, _matrix2(2 * k12, 4 * k13, k22, 2 * k23), basis))


def erf_kappa(c11: Tensor, c12: Tensor, c22: Tensor, order: int) -> tuple[Tensor, ...]:
    """kappa = (2/pi) arcsin(C12 / sqrt(A B)), A = 1 + C11, B = 1 + C22, Q = A B - C12^2 > 0, and
    its derivatives (k,), (k, k_1, k_2) or (k, k_1, k_2, k_11, k_12, k_13, k_22, k_23), indices
    1, 2, 3 = C11, C12, C22."""
    a, b = 1 + c11, 1 + c22
    out = [2 / math.pi * torch.asin(c12 / (a * b).sqrt())]
    if order == 0:
        return tuple(out)
    rq = (a * b - c12 * c12).rsqrt()
    out += [-c12 * rq / (math.pi * a), 2 / math.pi * rq]
    if order == 1:
        return tuple(out)
    rq3 = rq**3 / math.pi
    out += [c12 / math.pi * (rq / a**2 + 0.5 * b * rq**3 / a), -b * rq3, 0.5 * c12 * rq3,
            2 * c12 * rq3, -a * rq3]
    return tuple(out)


# (q, p, j, k): E[sigma^(q)(z1) sigma^(p)(z2) xi_1^j xi_2^k], the moments needed up to each order
_MOMENTS = ((0, 0, 0, 0),
            (1, 0, 1, 0), (1, 0, 0, 1),
            (2, 0, 0, 0), (2, 0, 2, 0), (2, 0, 1, 1), (2, 0, 0, 2),
            (1, 1, 0, 0), (1, 1, 2, 0), (1, 1, 1, 1), (1, 1, 0, 2))


def _quadrature_terms(act: Activation, u: Tensor, v: Tensor, order: int, n: int) -> PairTerms:
    """Gaussian expectations in the orthonormal frame e_1 = u / |u|, e_2 = the unit part of v
    orthogonal to u, where u.x = |u| xi_1 and v.x = m xi_1 + tau xi_2 (xi standard normal)::

        grad_u K = E[sigma'(u.x) sigma(v.x) x],   H_uu = E[sigma''(u.x) sigma(v.x) x x^T],
        H_uv = E[sigma'(u.x) sigma'(v.x) x x^T],  E[g x x^T] = E[g] I + sum_ab (E[g xi_a xi_b]
                                                    - E[g] delta_ab) e_a e_b^T.

    Only sigma, sigma', sigma'' enter, and no direction is divided by a vanishing norm: at
    tau = 0 (aligned) the e_2 terms cancel, at u = 0 e_1 is 0 and the formulas still hold.
    """
    nu = u.norm(dim=-1)
    e1 = _unit(u, nu)
    m = (v * e1).sum(-1)
    perp = v - m[..., None] * e1
    tau = perp.norm(dim=-1)
    mo = _plane_moments(act, nu, m, tau, _MOMENTS[: (1, 3, 11)[order]], n)
    if order == 0:
        return PairTerms(mo[0])
    e2 = _unit(perp, tau)
    grad_u = mo[1][..., None] * e1 + mo[2][..., None] * e2
    if order == 1:
        return PairTerms(mo[0], grad_u)
    basis = torch.stack([e1, e2], -1)

    def second(g0: Tensor, g11: Tensor, g12: Tensor, g22: Tensor) -> LowRank:
        return LowRank(g0, basis, _matrix2(g11 - g0, g12, g12, g22 - g0), basis)

    return PairTerms(mo[0], grad_u, second(*mo[3:7]), second(*mo[7:11]))


def _matrix2(x11: Tensor, x12: Tensor, x21: Tensor, x22: Tensor) -> Tensor:
    return torch.stack([torch.stack([x11, x12], -1), torch.stack([x21, x22], -1)], -2)


@lru_cache(maxsize=8)
def _hermite_rule(n: int) -> tuple[Tensor, Tensor]:
    """Gauss-Hermite nodes and weights for the standard normal density (weights sum to 1)."""
    x, w = scipy.special.roots_hermitenorm(n)
    return torch.tensor(x, dtype=DTYPE), torch.tensor(w / w.sum(), dtype=DTYPE)


def _plane_moments(act: Activation, s1: Tensor, m: Tensor, tau: Tensor,
                   moments: tuple[tuple[int, int, int, int], ...], n: int) -> list[Tensor]:
    """E[sigma^(q)(s1 xi_1) sigma^(p)(m xi_1 + tau xi_2) xi_1^j xi_2^k] for each (q, p, j, k) by an
    n x n Gauss-Hermite rule, in chunks of pairs; s1, m, tau broadcast together."""
    x, w = _hermite_rule(n)
    s1, m, tau = torch.broadcast_tensors(s1, m, tau)
    shape = s1.shape
    s1, m, tau = s1.reshape(-1), m.reshape(-1), tau.reshape(-1)
    q_max, p_max = max(mo[0] for mo in moments), max(mo[1] for mo in moments)
    inner_keys = sorted({(p, k) for _, p, _, k in moments})
    chunks = []
    step = max(1, _GRID_CHUNK // (n * n))
    for lo in range(0, s1.numel(), step):
        part = slice(lo, lo + step)
        g = act.derivatives(s1[part, None] * x, q_max)  # (N, n) over xi_1
        z2 = (m[part, None] * x)[:, :, None] + (tau[part, None] * x)[:, None, :]
        h = act.derivatives(z2, p_max)  # (N, n, n)
        inner = {(p, k): h[p] @ (w * x**k) for p, k in inner_keys}  # xi_2 integrated out
        chunks.append([(g[q] * inner[p, k]) @ (w * x**j) for q, p, j, k in moments])
    out = [torch.cat(parts) for parts in zip(*chunks)]
    return [o.reshape(shape) for o in out]


def _check_network(net: Network, field: str) -> None:
    spec = net.spec
    if net.depth != 1:
        raise ValueError(f"{field}.widths: the population loss needs one hidden layer (one width), "
                         f"got widths {list(spec.widths)}")
    if spec.output_dim != 1:
        raise ValueError(f"{field}.output_dim: the population loss needs a scalar output "
                         f"(output_dim 1), got {spec.output_dim}")
    if any(spec.bias_flags):
        raise ValueError(f"{field}.biases: the population loss accepts bias-free networks only "
                         f"(biases: false), got {list(spec.bias_flags)}")


class PopulationLoss(Objective):
    """L(theta) = factor * E_x[(f(x; theta) - f*(x))^2], x ~ N(0, I_d), for one-hidden-layer
    bias-free scalar networks with the teacher's activation (see the module docstring).

    ``teacher_theta`` is the teacher's flat parameter vector in its own layout (its readout may be
    fixed).  ``quadrature`` is the number of Gauss-Hermite nodes per dimension, used by
    activations without a closed-form kernel.
    """

    def __init__(self, student: Network, teacher: Network, teacher_theta: Tensor,
                 loss_spec: LossSpec | None = None, quadrature: int = DEFAULT_QUADRATURE):
        _check_network(student, "net")
        _check_network(teacher, "target")
        if teacher.input_dim != student.input_dim:
            raise ValueError(f"target.input_dim: must equal net.input_dim = {student.input_dim}, "
                             f"got {teacher.input_dim}")
        act, act_t = student.activation, teacher.activation
        if (act.name, act.params) != (act_t.name, act_t.params):
            raise ValueError(f"target.activation: the population loss needs the student's "
                             f"activation {student.spec.activation}, got {teacher.spec.activation}")
        loss_spec = loss_spec or LossSpec()
        if loss_spec.convention not in _CONVENTIONS:
            raise ValueError(f"loss.convention: the population loss accepts 'mean' or 'half_mean', "
                             f"got '{loss_spec.convention}'")
        if quadrature < 2:
            raise ValueError(f"quadrature: need >= 2 Gauss-Hermite nodes per dimension, "
                             f"got {quadrature}")
        theta_t = torch.as_tensor(teacher_theta, dtype=DTYPE)
        if theta_t.shape != (teacher.num_params,):
            raise ValueError(f"target.theta: expected {teacher.num_params} numbers for {teacher}, "
                             f"got shape {tuple(theta_t.shape)}")
        self.student, self.teacher = student, teacher
        self.activation = act
        self.loss_spec = loss_spec
        self.num_params = student.num_params
        self.quadrature = quadrature
        self.teacher_w = teacher.view(theta_t, "w")  # (s, d)
        self.teacher_a = teacher.readout(theta_t)[0]  # (s,)
        k_tt = pair_terms(act, self.teacher_w[:, None], self.teacher_w[None], 0, quadrature).value
        self.target_power = self.teacher_a @ k_tt @ self.teacher_a  # E[f*^2]

    def derivatives(self, theta: Tensor, order: int) -> tuple[Tensor, ...]:
        batched = theta.dim() == 2
        t = theta if batched else theta.unsqueeze(0)
        net, nu = self.student, self.loss_spec.factor
        B, r = t.shape[0], net.spec.widths[0]
        w = net.view(t, "w")  # (B, r, d)
        a = net.readout(t)[:, 0]  # (B, r)
        o = torch.cat([w, self.teacher_w.expand(B, -1, -1)], 1)  # (B, r + s, d)
        e = torch.cat([a, -self.teacher_a.expand(B, -1)], 1)  # (B, r + s)
        gram = gram_terms(self.activation, w, o, min(order, 1))
        if gram is None:
            k = pair_terms(self.activation, w[:, :, None], o[:, None], order, self.quadrature)
            value = k.value
        else:
            value = gram[0]
        ke = torch.einsum("bim,bm->bi", value, e)  # (K e)_i = (K_ss a - K_st a*)_i
        out = [nu * ((a * ke).sum(-1) - (a * (value[:, :, r:] @ self.teacher_a)).sum(-1)
                     + self.target_power)]
        if order >= 1:
            if gram is None:  # sum_m e_m grad_u K(w_i, o_m)
                g_e = torch.einsum("bimp,bm->bip", k.grad_u, e)
            else:
                alpha, beta = gram[1], gram[2]  # grad_u K = alpha u + beta v
                g_e = (alpha @ e.unsqueeze(-1)) * w + (beta * e[:, None]) @ o
            grad = torch.zeros_like(t)
            grad[:, net.slice("w")] = 2 * nu * (a[..., None] * g_e).reshape(B, -1)
            if net.fixed_a is None:
                grad[:, net.slice("a")] = 2 * nu * ke
            out.append(grad)
        if order >= 2:
            if gram is not None:
                k = pair_terms(self.activation, w[:, :, None], o[:, None], 2, self.quadrature)
            out.append(2 * nu * self._hessian(net, a, e, k, g_e))
        return tuple(out) if batched else tuple(x[0] for x in out)

    @staticmethod
    def _hessian(net: Network, a: Tensor, e: Tensor, k: PairTerms, g_e: Tensor) -> Tensor:
        """The Hessian over 2 factor, in the student's theta layout, written block by block into
        one (B, P, P) array (symmetric exactly: each block pair is averaged with its mirror)."""
        B, r, d = g_e.shape
        n = e.shape[1]
        uu, uv = k.hess_uu, k.hess_uv
        ss = slice(0, r)
        coef = a[:, :, None] * e[:, None, :]  # (B, r, n)
        # diagonal blocks: sum_m coef_im (scale I + left core right^T) as one (d, 2n) @ (2n, d)
        lc = (uu.left @ uu.core) * coef[..., None, None]  # (B, r, n, d, 2)
        diag = (lc.permute(0, 1, 3, 2, 4).reshape(B, r, d, 2 * n)
                @ uu.right.permute(0, 1, 2, 4, 3).reshape(B, r, 2 * n, d))
        diag = 0.5 * (diag + diag.transpose(-1, -2))
        diag.diagonal(dim1=-2, dim2=-1).add_((coef * uu.scale).sum(-1)[..., None])
        # off-diagonal blocks a_i a_k H_uv(w_i, w_k), averaged with the mirrored block
        aa = a[:, :, None] * a[:, None, :]
        blocks = ((uv.left @ uv.core)[:, :, ss] * aa[..., None, None]) @ uv.right[:, :, ss].transpose(-1, -2)
        blocks = 0.5 * (blocks + blocks.permute(0, 2, 1, 4, 3))  # (B, r, r, d, d)
        H = torch.empty(B, net.num_params, net.num_params, dtype=a.dtype)
        sw = net.slice("w")
        hw = H[:, sw, sw].view(B, r, d, r, d)
        hw.copy_(blocks.permute(0, 1, 3, 2, 4))
        scale = aa * uv.scale[:, :, ss]
        hw.diagonal(dim1=2, dim2=4).add_((0.5 * (scale + scale.transpose(1, 2)))[..., None])
        hw.diagonal(dim1=1, dim2=3).add_(diag.permute(0, 2, 3, 1))
        if net.fixed_a is None:
            sa = net.slice("a")
            h_wa = a[:, :, None, None] * k.grad_u[:, :, ss].transpose(-1, -2)  # (B, r, d, r)
            h_wa.diagonal(dim1=1, dim2=3).add_(g_e.transpose(1, 2))
            h_wa = h_wa.reshape(B, r * d, r)
            H[:, sw, sa] = h_wa
            H[:, sa, sw] = h_wa.transpose(-1, -2)
            v = k.value[:, :, ss]
            H[:, sa, sa] = 0.5 * (v + v.transpose(-1, -2))
        return H
