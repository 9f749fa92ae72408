"""The channel stop: recognise along the flow that a trajectory follows a channel to infinity.

channels-to-infinity.txt (Sec. 3-4, App. B.3, Fig. 4a-b): along a channel a pair (or group) of
neurons has input vectors that converge while their output weights diverge with opposite signs,
and the late parameter updates lie almost entirely (> 90 %) in the channel subspace (the group's
output weights and the span of its input vectors).  Asymptotically the pair is a gated linear
unit (eq. 3-4): with eps = |v_i - v_j| / 2 -> 0, a_i - a_j ~ a / eps, L = L_GLU + O(eps^2).  Along
the flow eps ~ t^(-1/4): per decade of flow time the cosine distance falls by 10^(-1/2) = 0.32,
|v_i - v_j| by 10^(-1/4) = 0.56 and |a_i - a_j| grows by 10^(1/4) = 1.78 (measured on the
loss-levels problem, width 5: 0.32-0.36, 0.56-0.58, 1.65-1.79).

The check (:class:`Detector`), at flow times t >= ``tmin`` spaced by at least a factor
10^(1/per_decade) (at the first accepted step past each), compares theta(t) with theta(t_w), the
check ``K = ceil(per_decade * window)`` checks back (t_w <= t / 10^window; the state keeps the
last K checks' thetas).  In every hidden layer whose output weights are parameters, the
candidate pair is, among the pairs whose input vectors are close -- cosine distance below
``cosine`` (App. B.3: 1e-3) and |v_i - v_j| / |v_i + v_j| below ``distance`` (0.1: the vectors
themselves close, not only their directions) -- and whose output weights have opposite signs
(a_i . a_j < 0), the one of largest |a_i| + |a_j| (Fig. 4a); its group is its connected
component in the graph of close pairs.  The check passes when, over the window,

1. the pair converges: its cosine distance and |v_i - v_j| both fell to at most ``convergence``
   (0.8) times their values at t_w (channel: 0.32 and 0.56),
2. its output weights diverge: |a_i - a_j| grew at least by ``growth`` (1.2; channel: 1.78),
3. the weightnorm grew, and
4. ||P (theta(t) - theta(t_w))|| / ||theta(t) - theta(t_w)|| >= ``update_fraction`` (App. B.3:
   0.9), P the projection on the group's channel subspace at t
   (:func:`~landscape_hpc.models.channel_geometry.subspace_fraction`).

The trajectory stops with ``stopped_by = channel`` when ``confirm`` (2) consecutive checks pass
on the same layer and neurons.  No polish follows (as after maxnorm).  The record
(:class:`.record.TrajectoryRecord`, ``channel_*``) has the neurons and layer, the window's flow
times, every criterion's value at the detection and, for a pair in one hidden layer with a loss
on data, the limit the flow heads to: the loss of the network with the pair replaced by its GLU
limit at the detection point's c, a, w, Delta (``glu_loss``, eq. 4), and of that GLU network
polished (Levenberg-Marquardt on all its parameters) to its nearest critical point
(``limit_loss``, :func:`polish_glu`): the end of the channel, where the flow's c, a, w, Delta and
other neurons go as eps -> 0, below the loss at the detection.  ``glu_loss`` is not: c, a, w,
Delta still move at O(eps^2), the order of the gap, and on the loss-levels problem one channel of
three (width 5, biases, seed 16) has ``glu_loss`` above the loss (and ``limit_loss`` below it).

Not a finite-norm minimum with a near-duplicate pair: there the flow settles (the gradient decays
exponentially), so over a decade of flow time late in the flow nothing converges or grows:
criteria 1-2 fail (a pair converging to an exact duplicate has its output weights converging
too).  A pair passing a near-alignment on its way elsewhere fails the update fraction (the update
is spread over all parameters) or does not pass ``confirm`` checks in a row.  Not a divergence
of another kind: parallel input vectors of different lengths whose output weights diverge
(neurons in a linear regime, |v_i - v_j| grows) fail ``distance`` and 1; a single neuron whose
input vector diverges while its output weight vanishes (the unit sharpens to a ReLU-and-step)
has no pair.  Both still end at maxnorm (the fallback), in the same outcome class.  The
thresholds are conservative (channel values 0.32, 0.56, 1.78 against 0.8, 0.8 and 1.2): a
channel the check misses ends at maxnorm, as before.  With one input (and no bias) every two
input vectors of one sign are parallel, so the cosine criterion cannot see convergence
(0/0 counts as converged, |v_i - v_j| decides), and with few parameters the channel subspace may
be all of them (criterion 4 then always holds).

Decisions:

* every hidden layer is checked (channels appear in any layer and in several at once, Fig. 4f);
  the first passing layer is recorded.  The GLU losses only for one hidden layer.
* default on (``DynamicsSpec.channel``) for the flows with a finite ``loss.maxnorm``, where a
  channel today creeps to the maxnorm; not for gd, adam, sgd (at a channel's entrance they stop
  at the edge of stability, Fig. 6d, and SGD's updates are noisy).  ``require_maxnorm: false``
  checks without a maxnorm too; ``channel: null`` switches it off (the former behaviour).
* the check only reads the state: a trajectory it does not stop is bit-identical with the stop
  off (its wall time aside).  Its history (the ring of the last K checks, the streak, the last
  pass) lives in :class:`.record.TrajectoryState`, so checkpoints continue bit-identically; a
  checkpoint without it starts the checks afresh.  A check costs a few small tensor operations
  per trajectory, at most ``per_decade`` per decade of flow time, and the GLU polish one
  Levenberg-Marquardt run (<= GLU_STEPS steps) per channel stop.
* the dynamics do not import :mod:`landscape_hpc.analysis` (which imports the dynamics); the
  geometry is :mod:`landscape_hpc.models.channel_geometry`, shared with the analysis.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch

from ..models.channel_geometry import (GLUNetwork, cosine_distances, free_output_weights,
                                       input_vectors, output_weights, subspace_fraction)
from ..models.loss import EmpiricalLoss
from ..models.network import Network
from ..models.objective import Objective, weightnorm
from .record import Stop, TrajectoryState, code
from .spec import ChannelSpec, DynamicsSpec

Tensor = torch.Tensor

CHANNEL = code(Stop.CHANNEL)
#: columns of ``TrajectoryState.channel_values``
VALUES = ("t", "t_window", "cosine", "cosine_ratio", "distance_ratio", "growth",
          "update_fraction", "weightnorm_ratio", "glu_loss", "limit_loss")
#: the polish of the GLU network (:func:`polish_glu`): gradient infinity-norm, most steps
GLU_GTOL, GLU_STEPS = 1e-9, 200
#: the polished GLU network counts as a critical point where its gradient is below GLU_ACCEPT
#: (the polish may stall at rounding above GLU_GTOL, or creep along a flat valley); there it also
#: stops once a step lowers the loss by less than GLU_RTOL relative (the loss is then settled to
#: ~1e-9 relative, far below the 1e-3 of the loss levels)
GLU_ACCEPT, GLU_RTOL = 1e-6, 1e-10


def network_of(obj: Objective) -> Network | None:
    """The network of an objective (the student of a population loss), if it has one."""
    net = getattr(obj, "net", None)
    return net if isinstance(net, Network) else getattr(obj, "student", None)


class Detector:
    """The channel check of one batch: :meth:`init` adds its fields to a state, :meth:`update`
    runs after every step's stopping rules."""

    def __init__(self, obj: Objective, net: Network, spec: ChannelSpec):
        self.obj, self.net, self.spec = obj, net, spec
        self.K = max(1, math.ceil(spec.per_decade * spec.window - 1e-9))
        self.factor = 10.0 ** (1.0 / spec.per_decade)
        self.layers = [l for l in range(1, net.depth + 1)
                       if net.spec.widths[l - 1] >= 2 and free_output_weights(net, l)]
        self.width = max(net.spec.widths)
        self.data = isinstance(obj, EmpiricalLoss) and net.depth == 1

    @classmethod
    def build(cls, obj: Objective, specs: Sequence[DynamicsSpec]) -> "Detector | None":
        """The detector of a batch, or None where the channel stop does not run (see the module
        docstring).  Every trajectory of a batch must have the same ``channel`` spec."""
        spec = specs[0].channel
        if any(s.channel != spec for s in specs):
            raise ValueError("spec: 'channel' must be the same for all trajectories of a batch")
        net = network_of(obj)
        if spec is None or specs[0].discrete or net is None:
            return None
        if spec.require_maxnorm and math.isinf(obj.maxnorm):
            return None
        det = cls(obj, net, spec)
        return det if det.layers else None

    def init(self, s: TrajectoryState) -> None:
        """Give ``s`` the detector's fields where it lacks them (a new state, or the checkpoint
        of a run without the detector: its checks start afresh)."""
        if s.channel_next is not None:
            return
        B, P = s.theta.shape
        f64, i64 = torch.float64, torch.int64
        s.channel_next = torch.maximum(torch.full((B,), self.spec.tmin, dtype=f64), s.t)
        s.channel_checks = torch.zeros(B, dtype=i64)
        s.channel_t = torch.full((B, self.K), math.nan, dtype=f64)
        s.channel_theta = torch.full((B, self.K, P), math.nan, dtype=f64)
        s.channel_streak = torch.zeros(B, dtype=i64)
        s.channel_neurons = torch.full((B, 1 + self.width), -1, dtype=i64)
        s.channel_values = torch.full((B, len(VALUES)), math.nan, dtype=f64)

    def update(self, s: TrajectoryState, acc: Tensor, codes: Tensor | None) -> Tensor | None:
        """Check the running trajectories of ``s`` that accepted a step (``acc``) and reached
        their next check time; return ``codes`` (from the stopping rules, None: none stops) with
        the channel stops added."""
        due = acc & (s.channel_next <= s.t)
        if codes is not None:
            due &= codes == 0
        if not bool(due.any()):
            return codes
        t0 = time.perf_counter()
        rows = torch.nonzero(due).flatten()
        stops = [r for r in rows.tolist() if self._check(s, r)]
        s.wall[rows] += (time.perf_counter() - t0) / len(rows)  # the checks' time, shared
        if not stops:
            return codes
        out = torch.zeros(len(s.t), dtype=torch.int64) if codes is None else codes.clone()
        out[stops] = CHANNEL
        return out

    # ---- one trajectory ------------------------------------------------------------------------
    def _check(self, s: TrajectoryState, r: int) -> bool:
        """One check of row r: record it in the ring, evaluate the criteria against the check K
        back; True when the trajectory stops."""
        t, theta = s.t[r].clone(), s.theta[r].clone()
        k = int(s.channel_checks[r])
        slot = k % self.K
        t_w, theta_w = s.channel_t[r, slot].clone(), s.channel_theta[r, slot].clone()
        s.channel_t[r, slot] = t
        s.channel_theta[r, slot] = theta
        s.channel_checks[r] = k + 1
        s.channel_next[r] = t * self.factor
        found = self.criteria(theta, theta_w) if k >= self.K else None
        if found is None:
            s.channel_streak[r] = 0
            return False
        layer, group, values = found
        neurons = torch.full((1 + self.width,), -1, dtype=torch.int64)
        neurons[0] = layer
        neurons[1:1 + len(group)] = torch.tensor(group)
        same = bool((neurons == s.channel_neurons[r]).all())
        s.channel_streak[r] = s.channel_streak[r] + 1 if same else 1
        s.channel_neurons[r] = neurons
        stop = int(s.channel_streak[r]) >= self.spec.confirm
        glu = self.glu_loss(theta, *group) if stop and len(group) == 2 else (math.nan, math.nan)
        s.channel_values[r] = torch.tensor([float(t), float(t_w), *values, *glu],
                                           dtype=torch.float64)
        return stop

    def criteria(self, theta: Tensor, theta_w: Tensor) -> tuple[int, list[int], list[float]] | None:
        """The first layer whose candidate group passes the criteria (module docstring) between
        ``theta_w`` (window start) and ``theta`` (now): (layer, neurons, [cosine, cosine_ratio,
        distance_ratio, growth, update_fraction, weightnorm_ratio]); None if none."""
        sp, net = self.spec, self.net
        wn_ratio = float(weightnorm(theta) / weightnorm(theta_w))
        if not wn_ratio > 1.0:
            return None
        for layer in self.layers:
            v, a = input_vectors(net, theta, layer), output_weights(net, theta, layer)
            n = v.shape[0]
            d = cosine_distances(v)
            rel = (v[:, None] - v[None]).norm(dim=-1) / (v[:, None] + v[None]).norm(dim=-1)
            close = (d < sp.cosine) & (rel < sp.distance) & ~torch.eye(n, dtype=torch.bool)
            cand = close & ((a @ a.T) < 0)
            if not bool(cand.any()):
                continue
            mag = a.norm(dim=-1)
            score = torch.where(cand, mag[:, None] + mag[None, :], -math.inf)
            i, j = divmod(int(score.argmax()), n)
            i, j = min(i, j), max(i, j)
            v0, a0 = input_vectors(net, theta_w, layer), output_weights(net, theta_w, layer)
            d0 = float(cosine_distances(v0[[i, j]])[0, 1])
            cos_ratio = float(d[i, j]) / d0 if d0 > 0 else 0.0 if d[i, j] == 0 else math.inf
            dist_ratio = float((v[i] - v[j]).norm() / (v0[i] - v0[j]).norm())
            growth = float((a[i] - a[j]).norm() / (a0[i] - a0[j]).norm())
            if not (cos_ratio <= sp.convergence and dist_ratio <= sp.convergence
                    and growth >= sp.growth):
                continue
            group = _component(close, i)
            frac = float(subspace_fraction(net, theta - theta_w, theta, torch.tensor(group),
                                           layer))
            if not frac >= sp.update_fraction:
                continue
            return layer, group, [float(d[i, j]), cos_ratio, dist_ratio, growth, frac, wn_ratio]
        return None

    def glu_loss(self, theta: Tensor, i: int, j: int) -> tuple[float, float]:
        """(L of the GLU network of theta, the pair i, j at its limit (eq. 4), L of that network
        polished to its nearest critical point (:func:`polish_glu`)), for one hidden layer and a
        loss on data; NaN otherwise."""
        if not self.data:
            return math.nan, math.nan
        obj = self.obj
        return polish_glu(self.net, theta, i, j, obj.x, obj.y, obj.weight)


def polish_glu(net: Network, theta: Tensor, i: int, j: int, x: Tensor, y: Tensor, weight: float,
               gtol: float = GLU_GTOL, maxsteps: int = GLU_STEPS) -> tuple[float, float]:
    """(L of the GLU network of theta (P,) with the pair i, j at its eps -> 0 limit, and L after
    Levenberg-Marquardt on all the GLU network's parameters (the other neurons, c, w, u = a Delta,
    the readout bias) to a gradient infinity-norm <= ``gtol``, a settled loss, ``maxsteps`` or a
    stall: the critical point at the end of the channel, which the flow's c, a, w, Delta approach
    as eps -> 0; NaN where the gradient is still above GLU_ACCEPT there (no critical point
    nearby: the limit diverges itself)).  L = weight * sum of squared residuals on (x, y)."""
    g = GLUNetwork.of(net, theta, i, j)
    xa = torch.cat([x, torch.ones_like(x[:, :1])], 1) if net.has("b") else x
    phi = g.flat()
    free = torch.ones(len(phi), dtype=torch.bool)
    if not net.has("c"):
        free[-net.output_dim:] = False
    r, J = g.residuals(net, xa, y, True)
    loss = start = float(weight * (r * r).sum())
    lam = 1e-3
    for _ in range(maxsteps):
        Jf, rf = J[:, free], r.flatten()
        grad = 2 * weight * (Jf.T @ rf)
        if float(grad.abs().max()) <= gtol:
            return start, loss
        A = Jf.T @ Jf
        damp = lam * (A.diagonal() + 1e-12 * A.diagonal().max())
        delta = torch.linalg.solve(A + torch.diag(damp), -(Jf.T @ rf))
        trial = phi.clone()
        trial[free] += delta
        rt, _ = g.unflat(trial).residuals(net, xa, y)
        lt = float(weight * (rt * rt).sum())
        if math.isfinite(lt) and lt <= loss:
            if loss - lt <= GLU_RTOL * loss and float(grad.abs().max()) <= GLU_ACCEPT:
                return start, lt                                   # settled at a critical point
            phi, loss, lam = trial, lt, max(lam / 3, 1e-12)
            r, J = g.unflat(phi).residuals(net, xa, y, True)
        else:
            lam *= 4
            if lam > 1e12:
                break
    grad = 2 * weight * (J[:, free].T @ r.flatten())
    return start, loss if float(grad.abs().max()) <= GLU_ACCEPT else math.nan


def _component(adjacent: Tensor, start: int) -> list[int]:
    """The connected component of ``start`` in the graph ``adjacent`` (n, n), sorted."""
    seen, todo = {start}, [start]
    while todo:
        k = todo.pop()
        for m in torch.nonzero(adjacent[k]).flatten().tolist():
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return sorted(seen)


def build(obj: Objective, specs: Sequence[DynamicsSpec]) -> Detector | None:
    """:meth:`Detector.build`."""
    return Detector.build(obj, specs)


def neurons_text(row: Tensor) -> tuple[int, str]:
    """(layer, "i,j[,k...]") of a ``TrajectoryState.channel_neurons`` row; (-1, "") if unset."""
    layer = int(row[0])
    if layer < 1:
        return -1, ""
    return layer, ",".join(str(int(k)) for k in row[1:] if int(k) >= 0)
