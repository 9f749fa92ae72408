"""The trajectory engine: integrators against exact flows, invariants, stopping rules, polish,
records, checkpoint/continue, batches and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from landscape_hpc.dynamics import DynamicsSpec, integrate
from landscape_hpc.dynamics.polish import polish
from landscape_hpc.dynamics.spec import PolishSpec
from landscape_hpc.models.objective import LossSpec, Objective


class Quadratic(Objective):
    """L = (theta - c)^T H (theta - c) / 2, batched."""

    def __init__(self, H, c, maxnorm: float = math.inf):
        self.H = torch.as_tensor(H, dtype=torch.float64)
        self.c = torch.as_tensor(c, dtype=torch.float64)
        self.num_params = len(self.c)
        self.loss_spec = LossSpec(maxnorm=maxnorm)

    def derivatives(self, theta, order):
        d = theta - self.c
        g = d @ self.H
        out = [0.5 * (d * g).sum(-1), g, self.H.expand(*theta.shape, theta.shape[-1])]
        return tuple(out[: order + 1])


def stiff_quadratic() -> Quadratic:
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64))
    H = q @ torch.diag(torch.tensor([1e-1, 1.0, 1e2, 1e4], dtype=torch.float64)) @ q.T
    return Quadratic(H, [0.5, -1.0, 2.0, 0.3])


def exact_flow(obj: Quadratic, theta0: torch.Tensor, t: float) -> torch.Tensor:
    return obj.c + torch.linalg.matrix_exp(-obj.H * t) @ (theta0 - obj.c)


def same_records(r1, r2) -> None:
    for a, b in zip(r1, r2):
        for k, v in a.to_dict().items():
            if k == "wall_time":
                continue
            w = b.to_dict()[k]
            if isinstance(v, np.ndarray):
                assert np.array_equal(v, w, equal_nan=True), k
            else:
                assert v == w or (v != v and w != w), k  # NaN: equal


THETA0 = torch.tensor([2.0, 1.0, -1.0, 0.5], dtype=torch.float64)


@pytest.mark.parametrize("method,reltol,abstol", [("flow", 1e-3, 1e-6), ("flow", 1e-6, 1e-9),
                                                  ("flow_rodas", 1e-3, 1e-6),
                                                  ("flow_rodas", 1e-6, 1e-9),
                                                  ("flow_explicit", 1e-6, 1e-9)])
def test_quadratic_flow_matches_exact_solution(method, reltol, abstol):
    obj = stiff_quadratic()
    if method == "flow_explicit":  # explicit RK: keep it non-stiff
        obj = Quadratic(obj.H / 1e3, obj.c)
    spec = DynamicsSpec(method=method, reltol=reltol, abstol=abstol, polish=None,
                        stop={"maxT": 50.0, "min_gradnorm": 0.0})
    rec = integrate(obj, THETA0, spec).records[0]
    snaps = rec.snapshots
    assert len(snaps["t"]) > 10 and snaps["t"][0] == 0.0 and snaps["step"][-1] == rec.steps
    for t, th in zip(snaps["t"], snaps["theta"]):
        exact = exact_flow(obj, THETA0, float(t)).numpy()
        assert np.abs(th - exact).max() <= 20 * (abstol + reltol * np.abs(exact).max())
    assert rec.stopped_by == "maxT" and rec.polish_stopped_by == "off"


@pytest.mark.parametrize("method", ["flow", "flow_rodas"])
def test_stiff_flow_reaches_the_minimum_in_few_steps(method):
    # gradients below ||H|| |theta| eps = 1e4 * 2 * 2.2e-16 ~ 4e-12 are rounding luck: ask for 1e-11
    obj = stiff_quadratic()
    spec = DynamicsSpec(method=method, polish=None, stop={"min_gradnorm": 1e-11})
    rec = integrate(obj, THETA0, spec).records[0]
    assert rec.stopped_by == "min_gradnorm" and rec.gradnorm <= 1e-11
    assert rec.steps < 200
    np.testing.assert_allclose(rec.theta, obj.c.numpy(), atol=1e-10)  # smallest eigenvalue 0.1
    assert rec.n_negative == 0


def test_gd_matches_iterated_map():
    obj = stiff_quadratic()
    eta = 1e-4
    rec = integrate(obj, THETA0, DynamicsSpec(method="gd", eta=eta, polish=None,
                                              stop={"maxsteps": 50})).records[0]
    M = torch.eye(4, dtype=torch.float64) - eta * obj.H
    expect = obj.c + torch.linalg.matrix_power(M, 50) @ (THETA0 - obj.c)
    np.testing.assert_allclose(rec.theta, expect.numpy(), rtol=1e-12, atol=1e-14)
    assert rec.stopped_by == "maxsteps" and rec.steps == 50 and rec.t == pytest.approx(50 * eta)


def test_adam_then_polish_reaches_the_minimum():
    obj = stiff_quadratic()
    spec = DynamicsSpec(method="adam", eta=1e-2, stop={"maxsteps": 300})
    rec = integrate(obj, THETA0, spec).records[0]
    assert rec.stopped_by == "maxsteps" and rec.loss_dynamics < obj.value(THETA0)
    assert rec.polish_stopped_by == "gtol" and rec.gradnorm <= 1e-13


def test_polish_lands_on_a_saddle():
    obj = Quadratic(torch.diag(torch.tensor([2.0, -1.0, 0.5, -3.0], dtype=torch.float64)),
                    [1.0, 2.0, 3.0, 4.0])
    theta, code, steps, *_ = polish(obj, THETA0[None], PolishSpec(), torch.tensor([True]))
    np.testing.assert_allclose(theta[0].numpy(), obj.c.numpy(), atol=1e-13)
    assert code.item() == 1 and steps.item() <= 3  # gtol
    rec = integrate(obj, THETA0, DynamicsSpec(method="gd", stop={"maxsteps": 1})).records[0]
    assert rec.polish_stopped_by == "gtol" and rec.n_negative == 2


def test_maxnorm_stops_and_skips_polish():
    obj = Quadratic(torch.eye(4, dtype=torch.float64), [10.0, 10.0, 10.0, 10.0], maxnorm=5.0)
    rec = integrate(obj, THETA0, DynamicsSpec()).records[0]
    assert rec.stopped_by == "maxnorm" and rec.polish_stopped_by == "skipped"
    assert 5.0 <= rec.weightnorm <= 5.0 * (1 + 1e-12)  # the stop is located on the last step
    # the exact flow theta(t) = c + exp(-t) (theta0 - c) reaches weightnorm 5 at t_event
    wn = lambda t: float(((obj.c + math.exp(-t) * (THETA0 - obj.c)) ** 2).sum() / 8)  # noqa: E731
    lo, hi = 0.0, 10.0
    for _ in range(60):
        lo, hi = (lo, (lo + hi) / 2) if wn((lo + hi) / 2) >= 5.0 else ((lo + hi) / 2, hi)
    assert rec.t == pytest.approx(hi, rel=1e-2)
    np.testing.assert_allclose(rec.theta, exact_flow(obj, THETA0, rec.t).numpy(), atol=1e-2)
    assert rec.loss_dynamics == pytest.approx(float(obj.loss(torch.from_numpy(rec.theta))))


@pytest.mark.parametrize("stop,reason", [
    ({"maxsteps": 3}, "maxsteps"), ({"maxT": 1e-2}, "maxT"), ({"min_loss": 1e-2}, "min_loss"),
    ({"min_gradnorm": 1e-1}, "min_gradnorm"), ({"maxtime": 1e-12}, "maxtime"),
    ({"patience": 5}, "patience")])
def test_stopping_rules(stop, reason):
    obj = stiff_quadratic()
    method = "gd" if reason == "patience" else "flow"
    eta = 1.0 if reason == "patience" else 1e-3  # gd with eta = 1 diverges: no improvement
    spec = DynamicsSpec(method=method, eta=eta, polish=None, stop=stop)
    rec = integrate(obj, THETA0, spec).records[0]
    assert rec.stopped_by == reason
    if reason == "patience":
        assert rec.steps == 5


def test_nonfinite_stops():
    obj = stiff_quadratic()
    spec = DynamicsSpec(method="gd", eta=1.0, stop={"patience": 1e9})
    rec = integrate(obj, THETA0, spec).records[0]
    assert rec.stopped_by == "nonfinite" and rec.polish_stopped_by == "skipped"


def test_spec_validation():
    with pytest.raises(ValidationError, match="batch_size"):
        DynamicsSpec(method="sgd")
    with pytest.raises(ValidationError, match="betas"):
        DynamicsSpec(method="adam", betas=(0.9, 1.0))
    with pytest.raises(ValidationError):
        DynamicsSpec(stop={"maxsteps": 0})
    with pytest.raises(ValueError, match="theta0 must have shape"):
        integrate(stiff_quadratic(), torch.zeros(3))
    with pytest.raises(ValueError, match="'method' must be the same"):
        integrate(stiff_quadratic(), torch.zeros(2, 4),
                  [DynamicsSpec(), DynamicsSpec(method="gd")])


def test_rodas_is_fourth_order_with_a_fourth_order_local_error_estimate():
    """Fixed steps of Rodas4 on the nonlinear flow theta' = -(theta^3 + A theta): the global error
    falls as h^4, and the error estimate of one step (the local error of the embedded order-3
    solution) as h^4."""
    from landscape_hpc.dynamics import rosenbrock as R
    A = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 5.0]], dtype=torch.float64)
    y0 = torch.tensor([[1.0, -0.5, 0.8]], dtype=torch.float64)

    def grad(y):
        return y**3 + y @ A

    def run(n, steps=None):
        y, h = y0, torch.full((1,), 1.0 / n, dtype=torch.float64)
        for _ in range(n if steps is None else steps):
            lu = R.rodas_factor(torch.diag_embed(3 * y**2) + A, h)
            y, err = R.rodas_step(y, -grad(y), lu, h, lambda z: -grad(z))
        return y, float(err.abs().max())

    ref, _ = run(2000)
    errs = [float((run(n)[0] - ref).abs().max()) for n in (10, 20, 40)]
    assert 12 < errs[0] / errs[1] < 20 and 12 < errs[1] / errs[2] < 20
    est = [run(n, steps=1)[1] for n in (40, 80, 160)]
    assert 11 < est[0] / est[1] < 20 and 11 < est[1] / est[2] < 20


def test_starting_step_follows_hairer_norsett_wanner():
    """On y' = -lam y the exact F' = Hess V grad V and the explicit methods' difference quotient
    agree, and both give h = min(100 h0, (0.01 / max(|F|, |F'|))^(1 / order)) in the scaled
    max-norm.  On a stiff problem every adaptive method starts within 4x of the step size its
    controller settles on (MATLAB's heuristic started ode23s here 10^3x too small)."""
    from landscape_hpc.dynamics.engine import _initial_step
    from landscape_hpc.dynamics.stopping import Limits

    lam, y0, reltol, abstol = 50.0, 2.0, 1e-3, 1e-6
    obj = Quadratic([[lam]], [0.0])
    theta0 = torch.tensor([[y0]], dtype=torch.float64)
    _, g, H = obj.evaluate(theta0, 2)
    lim = Limits.from_specs([DynamicsSpec(reltol=reltol, abstol=abstol)])
    sc = abstol + reltol * y0
    h0 = 0.01 * (y0 / sc) / (lam * y0 / sc)
    expected = min(100 * h0, (0.01 / (lam * lam * y0 / sc)) ** (1 / 3))
    assert float(_initial_step(obj, theta0, g, H, lim, 3)[0]) == pytest.approx(expected, rel=1e-12)
    assert float(_initial_step(obj, theta0, g, None, lim, 3)[0]) == pytest.approx(expected,
                                                                                 rel=1e-12)
    for method in ("flow", "flow_rodas", "flow_explicit"):
        start = integrate(stiff_quadratic(), THETA0, DynamicsSpec(method=method), budget_steps=0)
        later = integrate(stiff_quadratic(), THETA0, DynamicsSpec(method=method), budget_steps=6)
        ratio = float(start.state.h[0] / later.state.h[0])
        assert 0.25 < ratio < 4 and int(later.state.rejected[0]) <= 1, (method, ratio)


def test_record_fields_are_the_store_columns_and_stop_reasons_are_codes():
    """One definition: the store's record arrays are TrajectoryRecord's fields (after the derived
    n_params), and the stop reasons are enum members whose order gives the state's codes."""
    from dataclasses import fields

    from landscape_hpc.dynamics.record import (POLISH_REASONS, STOP_REASONS, Polish, Stop,
                                               TrajectoryRecord, code)
    from landscape_hpc.store.layout import RECORD

    assert [f.name for f in RECORD] == ["n_params", *(f.name for f in fields(TrajectoryRecord))]
    assert {f.dtype for f in RECORD} == {"f8", "i8", "i4", "str"} and all(f.description
                                                                          for f in RECORD)
    assert [f.name for f in RECORD if f.dims] == ["theta", "theta0", "eigenvalues", "snap_t",
                                                  "snap_step", "snap_loss", "snap_gradnorm",
                                                  "snap_theta"]
    assert STOP_REASONS == tuple(Stop) and type(STOP_REASONS[code(Stop.CHANNEL)]) is str
    assert POLISH_REASONS.index(Polish.GTOL) == 1 and Stop.RUNNING == Polish.RUNNING == ""
