"""Order-parameter dynamics of soft committee machines (relu-population-landscape Sec. 2-3, App. A).

Student f(x) = sum_i a_i sigma(w_i . x) (K neurons, rows of W) and teacher f*(x) = sum_n a*_n
sigma(w*_n . x) (K* neurons, rows of W*), both readouts fixed, x ~ N(0, I_d).  The overlaps

    Q = W W^T (K x K, student-student),  M = W W*^T (K x K*, student-teacher),  P = W* W*^T

are the covariances of the pre-activations, so the population loss (the convention of
:class:`~landscape_hpc.models.population.PopulationLoss`, factor 1 or 1/2, without the barrier)

    L = factor [a^T kappa(Q) a - 2 a^T kappa(Q, M, P) a* + a*^T kappa(P) a*]   (App. A.5)

depends on W only through them; kappa(Q)_ik = kappa(Q_ii, Q_ik, Q_kk) with kappa the closed-form
:func:`~landscape_hpc.models.population.overlap_kernel`.  With k_1, k_2 = dkappa/dC11, dkappa/dC12
the gradient G_Q = dL/dQ (symmetric: dL = tr(G_Q dQ) + tr(G_M^T dM)) and G_M = dL/dM are

    G_Q = factor [(a a^T) o k_2(Q) + 2 diag(a o (k_1(Q) a - k_1(Q, M, P) a*))],
    G_M = -2 factor (a a*^T) o k_2(Q, M, P),          grad_W L = 2 G_Q W + G_M W*

(k_1, k_2 stay finite at the aligned pairs i = k, where 2 k_1 + k_2 = d kappa(q, q, q) / dq), and
the gradient flow dW/dt = -grad_W L closes on the overlaps (P stays fixed):

    dQ/dt = -2 (G_Q Q + Q G_Q) - (G_M M^T + M G_M^T),     dM/dt = -2 G_Q M - G_M P.

The input dimension d enters nowhere: every W, W* with these overlaps, in any d, flows this way,
and for d >= K + K* every admissible (Q, M, P) (a positive semidefinite Gram matrix) has one.
Here the overlaps are plain inner products and t is the time of dW/dt = -grad_W L (the paper
absorbs the learning rate and the 1/d scales into a macroscopic time), so t, Q, M and L are those
of the weight-space flow of ``PopulationLoss``.  M and P are R and T in Goldt et al. (2019).

:meth:`SoftCommittee.flow_jvp` is the flow's exact derivative (from the kernel slopes'
derivatives), the Jacobian of ``dynamics.method: order_params``
(:mod:`landscape_hpc.dynamics.order_params`), which integrates this flow as a sweep task; the
module lives with the models, not the analysis, because the dynamics use it (and the analysis
imports the dynamics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.integrate
import torch

from .activations import Activation, ActivationSpec, get_activation
from .network import DTYPE
from .objective import LossSpec
from .population import PopulationLoss, erf_kappa, linear_slope, overlap_kernel

Tensor = torch.Tensor


def overlaps(w: Tensor, w_star: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(Q, M, P) = (W W^T, W W*^T, W* W*^T) of student rows W (..., K, d) and teacher rows W*
    (K*, d)."""
    return w @ w.mT, w @ w_star.T, w_star @ w_star.T


def kernel_slopes(activation: str | dict | ActivationSpec | Activation, c11: Tensor, c12: Tensor,
                  c22: Tensor) -> tuple[Tensor, Tensor]:
    """(dkappa/dC11, dkappa/dC12) of :func:`overlap_kernel` in closed form (broadcast).

    relu, with s = sqrt(C11 C22 - C12^2) = |u||v| sin t and t = atan2(s, C12) the angle:
    dkappa/dC11 = s / (4 pi C11) and dkappa/dC12 = (pi - t) / (2 pi), both 0 at C11 = 0 (relu'(0) =
    0, as :func:`~landscape_hpc.models.population.pair_terms`); leaky_relu and identity through
    sigma(z) = slope z + (1 - slope) relu(z); sigmoid2 from the arcsine kernel.  Written for
    ``torch.func.jacfwd`` (the Jacobian of the flow, :mod:`landscape_hpc.dynamics.order_params`):
    every branch is finite, and s has a zero tangent where the pair is aligned (C11 C22 = C12^2,
    as on the diagonal i = k, where the kernels depend on Q_ii alone).
    """
    act = _closed_form(get_activation(activation))
    if act.name == "sigmoid2":
        return erf_kappa(c11, c12, c22, 1)[1:]
    slope = linear_slope(act)
    det = c11 * c22 - c12 * c12
    pos = det > 0  # s = 0 with a zero tangent at aligned pairs (forward-mode safe)
    s = torch.where(pos, torch.where(pos, det, 1.0).sqrt(), 0.0)
    live = c11 > 0
    k1 = torch.where(live, s / (4 * math.pi * torch.where(live, c11, 1.0)), 0.0)
    k2 = torch.where(live, (math.pi - torch.atan2(s, c12)) / (2 * math.pi), 0.0)
    q = (1 - slope) ** 2
    return q * k1, slope + q * k2


def _stacked(x: Tensor, y: Tensor) -> Tensor:
    """x @ y for T matrices x (..., T, r, c) and one y (..., c, s): one product of (T r, c)."""
    out = x.reshape(*x.shape[:-3], -1, x.shape[-1]) @ y
    return out.reshape(*out.shape[:-2], *x.shape[-3:-1], y.shape[-1])


def kernel_slope_derivatives(activation: str | dict | ActivationSpec | Activation, c11: Tensor,
                             c12: Tensor, c22: Tensor) -> tuple[Tensor, Tensor]:
    """d(k_1, k_2)/d(C11, C12, C22) of :func:`kernel_slopes`, as two (..., 3) tensors.

    relu, with s and t as there (s^2 + C12^2 = C11 C22): 4 pi dk_1 = (C22 / (2 s C11) - s / C11^2,
    -C12 / (s C11), 1 / (2 s)) and 4 pi dk_2 = (-C12 / (s C11), 2 / s, -C12 / (s C22)); they
    diverge like 1 / s at aligned pairs and are set to 0 where s = 0 or C11 = 0, where the slopes
    are constant (the diagonal i = k: k_1 = 0, k_2 = 1/2); scaled as the slopes for leaky_relu
    and identity; sigmoid2 from the arcsine kernel's second derivatives.
    """
    act = _closed_form(get_activation(activation))
    if act.name == "sigmoid2":
        _, _, _, k11, k12, k13, k22, k23 = erf_kappa(c11, c12, c22, 2)
        return torch.stack([k11, k12, k13], -1), torch.stack([k12, k22, k23], -1)
    det = c11 * c22 - c12 * c12
    ok = (det > 0) & (c11 > 0)
    s = torch.where(ok, det, 1.0).sqrt()
    c11, c22 = torch.where(ok, c11, 1.0), torch.where(ok, c22, 1.0)
    dk1 = torch.stack([c22 / (2 * s * c11) - s / (c11 * c11), -c12 / (s * c11), 0.5 / s], -1)
    dk2 = torch.stack([-c12 / (s * c11), 2 / s, -c12 / (s * c22)], -1)
    q = (1 - linear_slope(act)) ** 2 / (4 * math.pi)
    return tuple(torch.where(ok[..., None], q * d, 0.0) for d in (dk1, dk2))


def has_closed_form(act: Activation) -> bool:
    """Whether the order-parameter flow of ``act`` is in closed form here."""
    return act.name == "sigmoid2" or linear_slope(act) is not None


def _closed_form(act: Activation) -> Activation:
    if not has_closed_form(act):
        raise ValueError(f"activation: the order-parameter flow has closed forms for relu, "
                         f"leaky_relu, identity and sigmoid2, got '{act.name}'")
    return act


@dataclass(frozen=True)
class OverlapTrajectory:
    """Times (T,) and, at each, Q (T, ..., K, K), M (T, ..., K, K*) and the loss (T, ...)."""

    t: Tensor
    Q: Tensor
    M: Tensor
    loss: Tensor


class SoftCommittee:
    """The population loss and gradient flow of a fixed-readout student (readout a, K neurons)
    against a teacher (readout a*, overlaps P), as functions of (Q, M) only (module docstring).

    Q and M may carry leading batch dimensions, shared by every method.
    """

    def __init__(self, activation: str | dict | ActivationSpec | Activation, P: Tensor, a: Tensor,
                 a_star: Tensor, loss_spec: LossSpec | None = None):
        self.activation = _closed_form(get_activation(activation))
        self.P, self.a, self.a_star = (torch.as_tensor(x, dtype=DTYPE) for x in (P, a, a_star))
        if self.a.dim() != 1 or self.a_star.dim() != 1 or self.P.shape != (len(self.a_star),) * 2:
            raise ValueError(f"need a (K,), a* (K*,) and P (K*, K*), got shapes "
                             f"{tuple(self.a.shape)}, {tuple(self.a_star.shape)}, "
                             f"{tuple(self.P.shape)}")
        loss_spec = loss_spec or LossSpec()
        if loss_spec.convention not in ("mean", "half_mean"):
            raise ValueError(f"loss.convention: the population loss accepts 'mean' or "
                             f"'half_mean', got '{loss_spec.convention}'")
        self.factor = loss_spec.factor
        p = self.P.diagonal()
        k_tt = overlap_kernel(self.activation, p[:, None], self.P, p[None, :])
        self.target_power = self.a_star @ k_tt @ self.a_star  # E[f*^2]

    @classmethod
    def from_population(cls, loss: PopulationLoss) -> SoftCommittee:
        """The order-parameter form of a population loss whose student readout is fixed."""
        if loss.student.fixed_a is None:
            raise ValueError("net.fixed_readout: the order-parameter flow needs a fixed readout")
        w_t = loss.teacher_w
        return cls(loss.activation, w_t @ w_t.T, loss.student.fixed_a[0], loss.teacher_a,
                   loss.loss_spec)

    def _pairs(self, Q: Tensor, M: Tensor) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """The kernel arguments (Q_ii, Q_ik, Q_kk) and (Q_ii, M_in, P_nn), broadcast over pairs."""
        q = Q.diagonal(dim1=-2, dim2=-1)[..., :, None]
        return (q, Q, q.mT), (q, M, self.P.diagonal()[None, :])

    def loss(self, Q: Tensor, M: Tensor) -> Tensor:
        """L(Q, M) = factor E[(f - f*)^2]."""
        ss, st = self._pairs(Q, M)
        k_ss, k_st = overlap_kernel(self.activation, *ss), overlap_kernel(self.activation, *st)
        return self.factor * ((k_ss @ self.a) @ self.a - 2 * (k_st @ self.a_star) @ self.a
                              + self.target_power)

    def gradient(self, Q: Tensor, M: Tensor) -> tuple[Tensor, Tensor]:
        """(G_Q, G_M) = (dL/dQ symmetric, dL/dM), so that grad_W L = 2 G_Q W + G_M W*."""
        ss, st = self._pairs(Q, M)
        return self._gradient(*kernel_slopes(self.activation, *ss),
                              *kernel_slopes(self.activation, *st))

    def _gradient(self, k1_ss: Tensor, k2_ss: Tensor, k1_st: Tensor, k2_st: Tensor
                  ) -> tuple[Tensor, Tensor]:
        """(G_Q, G_M) from the kernel slopes at the pairs; linear in them."""
        a, b = self.a, self.a_star
        g_q = self.factor * (torch.outer(a, a) * k2_ss
                             + torch.diag_embed(2 * a * (k1_ss @ a - k1_st @ b)))
        return g_q, -2 * self.factor * torch.outer(a, b) * k2_st

    def flow(self, Q: Tensor, M: Tensor) -> tuple[Tensor, Tensor]:
        """(dQ/dt, dM/dt) of the gradient flow dW/dt = -grad_W L."""
        g_q, g_m = self.gradient(Q, M)
        x, y = 2 * g_q @ Q, g_m @ M.mT
        return -(x + x.mT + y + y.mT), -(2 * g_q @ M + g_m @ self.P)

    def flow_jvp(self, Q: Tensor, M: Tensor, dQ: Tensor, dM: Tensor) -> tuple[Tensor, Tensor]:
        """The flow's derivatives at (Q, M) (..., K, K), (..., K, K*) along T tangents stacked in
        dQ (..., T, K, K) (symmetric), dM (..., T, K, K*) (leading dims broadcast), exactly.

        The kernel arguments move by (dQ_ii, dQ_ik, dQ_kk) and (dQ_ii, dM_in, 0); the slopes by
        their derivatives (:func:`kernel_slope_derivatives`); G_Q, G_M are linear in the slopes
        and the flow is bilinear in (G_Q, G_M) and (Q, M), but for -G_M P.  Every product has
        the tangents on the left, as one matrix product of the T stacked tangents.
        """
        ss, st = self._pairs(Q, M)
        dq = dQ.diagonal(dim1=-2, dim2=-1)[..., :, None]
        moves = ((dq, dQ, dq.mT), (dq, dM))  # the teacher's C22 = P_nn does not move
        slopes, tangents = [], []
        for pairs, move in zip((ss, st), moves):
            slopes += kernel_slopes(self.activation, *pairs)
            tangents += [sum(d[..., None, :, :, j] * m for j, m in enumerate(move))
                         for d in kernel_slope_derivatives(self.activation, *pairs)]
        g_q, g_m = self._gradient(*slopes)
        dg_q, dg_m = self._gradient(*tangents)
        u = _stacked(dg_q, Q) + _stacked(dQ, g_q)  # dG_Q Q + dQ G_Q
        v = _stacked(dg_m, M.mT) + _stacked(dM, g_m.mT)  # dG_M M^T + dM G_M^T
        w = _stacked(dg_q, M) + _stacked(dM.mT, g_q).mT + 0.5 * _stacked(dg_m, self.P)
        return -(2 * (u + u.mT) + v + v.mT), -2 * w

    def integrate(self, Q0: Tensor, M0: Tensor, times: Tensor | np.ndarray | list[float],
                  method: str = "DOP853", rtol: float = 1e-10,
                  atol: float = 1e-12) -> OverlapTrajectory:
        """Q, M and L at ``times`` (increasing, >= 0) of the flow from (Q0, M0) at t = 0, by
        ``scipy.integrate.solve_ivp`` (``method``: DOP853, RK45, Radau, BDF, LSODA, ...)."""
        Q0, M0 = torch.as_tensor(Q0, dtype=DTYPE), torch.as_tensor(M0, dtype=DTYPE)
        K, Ks = len(self.a), len(self.a_star)
        if Q0.shape[-2:] != (K, K) or M0.shape[-2:] != (K, Ks) or Q0.shape[:-2] != M0.shape[:-2]:
            raise ValueError(f"need Q0 (..., {K}, {K}) and M0 (..., {K}, {Ks}), got shapes "
                             f"{tuple(Q0.shape)}, {tuple(M0.shape)}")
        times = np.asarray(times, dtype=float)
        nq = Q0.numel()

        def rhs(_: float, y: np.ndarray) -> np.ndarray:
            y = torch.from_numpy(y)
            dq, dm = self.flow(y[:nq].reshape(Q0.shape), y[nq:].reshape(M0.shape))
            return torch.cat([dq.reshape(-1), dm.reshape(-1)]).numpy()

        y0 = torch.cat([Q0.reshape(-1), M0.reshape(-1)]).numpy()
        sol = scipy.integrate.solve_ivp(rhs, (0.0, float(times[-1])), y0, method=method,
                                        t_eval=times, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"solve_ivp ({method}) failed: {sol.message}")
        y = torch.from_numpy(np.ascontiguousarray(sol.y.T))
        Q, M = y[:, :nq].reshape(-1, *Q0.shape), y[:, nq:].reshape(-1, *M0.shape)
        return OverlapTrajectory(torch.as_tensor(sol.t), Q, M, self.loss(Q, M))
