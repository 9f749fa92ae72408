"""``method: order_params``: the gradient flow of a soft committee integrated in its order
parameters (Q, M) (relu-population-landscape Sec. 2-3, App. A), as a sweep task's dynamics.

The task is a population soft committee (:func:`check_problem`): bias-free one-hidden-layer
student with a fixed readout, teacher target, ``inputs: {kind: population}``, an activation with
closed-form kernels (relu, leaky_relu, identity, sigmoid2), no maxnorm.  Per trajectory:

1. theta_0 is drawn as for every method (the task's d and init) and turned into
   y_0 = (Q_0 upper triangle row by row, M_0 row-major), K (K + 1) / 2 + K M numbers whatever d,
   with Q = W W^T, M = W W*^T (the plain inner products of
   :class:`~landscape_hpc.models.soft_committee.SoftCommittee`, so t is the weight flow's time).
2. y follows dy/dt = F(y) (``SoftCommittee.flow``) by ode23s, the engine's ``flow`` step, with
   the exact Jacobian dF/dy in closed form (``SoftCommittee.flow_jvp`` along the n unit tangents,
   in chunks that stay in cache): 0.9 / 26 / 69 ms for a batch of 64 at K = M = 3 / 8 / 12
   (``torch.func.jacfwd``: 6 / 50 / 146 ms; the weight-space Hessian at d = 2M: 1 / 11 / 44 ms).
   :class:`OrderParamFlow` is that system for the engine: ``evaluate`` gives (L(Q, M), -F,
   -dF/dy), the engine following -"gradient" as for an objective.  Explicit DP5 is not offered:
   near the end points its steps sit at the stability limit (K = M = 3: 10^4 steps in 30 s left
   the loss at 1e-7, where ode23s takes 110-170 steps).
3. The stopping rules are every flow's, on this system: ``gradnorm`` is |F(y)|_inf, the speed of
   the order parameters.  It vanishes exactly where grad_W L does: F = 0 gives grad_W W*^T = 0 and
   grad_W W^T antisymmetric, and with grad_W = 2 G_Q W + G_M W*,
   |grad_W|^2 = tr(2 G_Q W grad_W^T) + tr(G_M W* grad_W^T) = 0 (G_Q symmetric).
4. The end point is a weight-space theta with the final overlaps (:meth:`OrderParamFlow.weights`),
   Newton-polished and recorded by the engine as every method's end point.

The record (decisions):

* theta, loss, gradnorm, gradnorm_nobarrier, weightnorm, eigenvalues, n_negative: at that
  weight-space theta (after the polish), as for the weight-space methods; n_params = K d.  The
  weight-space Hessian, not one in (Q, M): minima lie on the boundary of the admissible overlaps
  (the Gram matrix of (W, W*) is singular there), where dL/dQ is not zero (its off-diagonal
  entries are a_i a_k dkappa/dC12 > 0 for relu), so the (Q, M) Hessian does not classify them;
  the weight-space spectrum depends on the overlaps (and d) only, as rotations fixing W*
  conjugate the Hessian.
* theta0: the drawn theta_0.  snap_theta: the weight-space thetas of the snapshots' overlaps.
* loss_dynamics, gradnorm_dynamics, snap_loss, snap_gradnorm, t, steps, rejected, evals: those of
  the (Q, M) flow (L(Q, M), |F|_inf, evaluations of F and of its Jacobian).

Weights from overlaps, in the task's d: W = M P^+ W* + X with X X^T = S = Q - M P^+ M^T, X
orthogonal to the teacher.  The weight flow keeps X in the row space of X_0 (dX/dt = -2 G_Q X),
of dimension r = rank X_0; of the X with rows there, the one closest to X_0 is taken (orthogonal
Procrustes: the top r singular vectors of S^(1/2) X_0 = A Sigma B^T give X = S^(1/2) A B^T), so
that theta_0 is its own reconstruction.  This is exact in every d (d >= K + M as d < K + M: the
weight flow from theta_0 has these overlaps at every t); it fixes W up to the rotations that
leave the loss and the Hessian's spectrum unchanged, not the weight flow's own W(t).

In the state (checkpoints), ``theta`` is y and ``theta0`` the weight-space theta_0.

Where neurons align (the Gram matrix of (W, W*) loses rank) F is not Lipschitz in (Q, M): the relu
kernel slopes go as the square root of the pair's Gram determinant (their derivatives as its
inverse square root).  From random starts the end points are the weight flow's (tests); from a
start with exactly aligned neurons (all rows of W equal, K = M = 3, ten directions) the two flows
left or kept the symmetric saddle differently and ended at the same critical point in 4 of 10.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ..config import ConfigError
from ..models.activations import get_activation
from ..models.network import DTYPE
from ..models.soft_committee import SoftCommittee, has_closed_form
from ..problem import Problem, ProblemSpec
from .record import TrajectoryState

Tensor = torch.Tensor

METHOD = "order_params"
_TANGENT_CHUNK = 1 << 18  # tangent entries per chunk of the Jacobian (2 MB arrays)


def check_problem(spec: ProblemSpec) -> None:
    """ConfigError naming the setting if the order-parameter flow cannot run on ``spec``."""
    net = spec.net
    needs = (
        ("problem.inputs", spec.population, "the population loss (inputs: {kind: population})"),
        ("problem.target", spec.target.kind in ("teacher", "erf_toy"),
         "a teacher target (kind: teacher or erf_toy)"),
        ("problem.net.widths", len(net.widths) == 1, "one hidden layer"),
        ("problem.net.output_dim", net.output_dim == 1, "a scalar output (output_dim: 1)"),
        ("problem.net.biases", not any(_flags(net.biases)), "no biases (biases: false)"),
        ("problem.net.fixed_readout", net.fixed_readout is not None,
         "a fixed readout (fixed_readout: a number or the K values)"),
        ("problem.net.activation", has_closed_form(get_activation(net.activation)),
         "relu, leaky_relu, identity or sigmoid2 (closed-form kernels)"),
        ("problem.loss.maxnorm", math.isinf(spec.loss.maxnorm), "no barrier (maxnorm: .inf)"),
    )
    for key, ok, what in needs:
        if not ok:
            raise ConfigError(f"{key}: dynamics.method '{METHOD}' (the (Q, M) flow of a soft "
                              f"committee machine) needs {what}")


def _flags(biases: bool | tuple[bool, ...]) -> tuple[bool, ...]:
    return biases if isinstance(biases, tuple) else (biases,)


class OrderParamFlow:
    """The (Q, M) flow of a population soft-committee problem as a system for the engine: y (B, n)
    packs (Q, M) (module docstring); ``evaluate`` gives (L, -F, -dF/dy) up to ``order``."""

    maxnorm = math.inf

    def __init__(self, problem: Problem):
        if not isinstance(problem, Problem):
            raise ValueError(f"problem: method '{METHOD}' needs a Problem (its spec), got "
                             f"{type(problem).__name__}")
        check_problem(problem.spec)
        obj = problem.objective
        self.committee = SoftCommittee.from_population(obj)
        self.teacher_w = obj.teacher_w  # (K*, d)
        self.K, self.Ks = len(self.committee.a), len(self.committee.a_star)
        upper = torch.triu_indices(self.K, self.K)
        pos = torch.zeros(self.K, self.K, dtype=torch.long)
        pos[upper[0], upper[1]] = torch.arange(upper.shape[1])
        self.upper = upper
        self.full = torch.maximum(pos, pos.T).flatten()  # y index of every Q entry
        self.nq = upper.shape[1]
        self.num_params = self.nq + self.K * self.Ks
        self.p_pinv = torch.linalg.pinv(self.committee.P)
        self.basis = self.unpack(torch.eye(self.num_params, dtype=DTYPE))  # unit tangents

    # ---- packing ----------------------------------------------------------------------------
    def unpack(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(Q (..., K, K), M (..., K, K*)) of y (..., n); out of place (vmap-safe)."""
        lead = y.shape[:-1]
        return (y[..., self.full].reshape(*lead, self.K, self.K),
                y[..., self.nq:].reshape(*lead, self.K, self.Ks))

    def pack(self, Q: Tensor, M: Tensor) -> Tensor:
        return torch.cat([Q[..., self.upper[0], self.upper[1]], M.flatten(-2)], -1)

    def overlaps(self, theta: Tensor) -> Tensor:
        """y of weight-space thetas (B, K d)."""
        w = theta.reshape(len(theta), self.K, -1)
        return self.pack(w @ w.mT, w @ self.teacher_w.T)

    # ---- the system -------------------------------------------------------------------------
    def field(self, y: Tensor) -> Tensor:
        """F(y) = dy/dt."""
        return self.pack(*self.committee.flow(*self.unpack(y)))

    def evaluate(self, y: Tensor, order: int = 1, with_barrier: bool = False
                 ) -> tuple[Tensor, ...]:
        """(L(Q, M), -F, -dF/dy) up to ``order`` for y (B, n); ``with_barrier`` is moot (no
        barrier)."""
        out = [self.committee.loss(*self.unpack(y))]
        if order >= 1:
            out.append(-self.field(y))
        if order >= 2:
            out.append(-self.jacobian(y))
        return tuple(out)

    def jacobian(self, y: Tensor) -> Tensor:
        """dF/dy (B, n, n), column j the flow's derivative along the unit tangent e_j; in chunks
        of trajectories whose (chunk, n, K, K) tangent arrays stay in cache."""
        chunk = max(1, _TANGENT_CHUNK // (self.num_params * self.K * self.K))
        return torch.cat([self._jacobian(part) for part in y.split(chunk)])

    def _jacobian(self, y: Tensor) -> Tensor:
        Q, M = self.unpack(y)
        columns = self.committee.flow_jvp(Q, M, *self.basis)
        return self.pack(*columns).mT

    # ---- back to weights --------------------------------------------------------------------
    def weight_state(self, s: TrajectoryState) -> TrajectoryState:
        """``s`` with theta and snap_theta in weight space and no Hessian: what the engine's
        records take (value, grad and the snapshots' losses stay the (Q, M) flow's)."""
        snap = None
        if s.snap_theta is not None:
            B, S, _ = s.snap_theta.shape
            theta0 = s.theta0[:, None].expand(-1, S, -1).reshape(B * S, -1)
            snap = self._finite_weights(s.snap_theta.reshape(B * S, -1), theta0).reshape(B, S, -1)
        return replace(s, theta=self._finite_weights(s.theta, s.theta0), snap_theta=snap,
                       hess=None)

    def _finite_weights(self, y: Tensor, theta0: Tensor) -> Tensor:
        """:meth:`weights` of the finite rows of y (N, n); NaN rows elsewhere."""
        out = torch.full(theta0.shape, math.nan, dtype=DTYPE)
        rows = torch.isfinite(y).all(-1)
        if bool(rows.any()):
            out[rows] = self.weights(y[rows], theta0[rows])
        return out

    def weights(self, y: Tensor, theta0: Tensor) -> Tensor:
        """Weight-space thetas (N, K d) with the overlaps y (N, n), from the trajectories'
        theta0 (N, K d) (module docstring)."""
        Q, M = self.unpack(y)
        w_par = M @ self.p_pinv @ self.teacher_w  # the part in the teacher's span
        w0 = theta0.reshape(len(theta0), self.K, -1)
        x0 = w0 - w0 @ self.teacher_w.T @ self.p_pinv @ self.teacher_w
        ev, V = torch.linalg.eigh(Q - M @ self.p_pinv @ M.mT)
        root = (V * ev.clamp_min(0.0).sqrt()[..., None, :]) @ V.mT  # S^(1/2)
        A, _, Bt = torch.linalg.svd(root @ x0, full_matrices=False)
        top = torch.arange(A.shape[-1]) < torch.linalg.matrix_rank(x0)[:, None]  # (N, r)
        return (w_par + root @ (A * top[:, None, :]) @ Bt).flatten(-2)
