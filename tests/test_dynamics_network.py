"""The trajectory engine on networks: invariants, teacher recovery, saddles, checkpoint/continue,
batches against single runs, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape_hpc.dynamics import POLISH_REASONS, DynamicsSpec, TrajectoryState, integrate
from landscape_hpc.dynamics.polish import polish
from landscape_hpc.dynamics.spec import PolishSpec
from landscape_hpc.models.init import InitSpec, initial_theta
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.neurons import split_neuron
from landscape_hpc.models.objective import LossSpec
from landscape_hpc.problem import build_problem

from test_dynamics import same_records


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def teacher_problem(width: int = 2, student: int = 2, activation="softplus", n: int = 200,
                    maxnorm: float = 100.0):
    teacher = Network(NetSpec(input_dim=2, widths=[width], activation=activation))
    theta_t = torch.randn(teacher.num_params, generator=gen(3), dtype=torch.float64)
    x = torch.randn(n, 2, generator=gen(4), dtype=torch.float64)
    net = Network(NetSpec(input_dim=2, widths=[student], activation=activation))
    return EmpiricalLoss(net, x, teacher(theta_t, x), LossSpec(maxnorm=maxnorm)), theta_t


def loss_levels(width: int, n: int = 400, maxnorm: float = 1000.0):
    return build_problem({"net": {"input_dim": 2, "widths": [width], "activation": "g"},
                          "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": n},
                          "loss": {"maxnorm": maxnorm}})


@pytest.mark.parametrize("activation", ["relu", {"name": "leaky_relu", "slope": 0.1}])
@pytest.mark.parametrize("reltol", [1e-3, 1e-4])
def test_flow_conserves_neuron_balance(activation, reltol):
    """||w_i||^2 - a_i^2 is conserved by the flow for bias-free homogeneous activations.

    (The kinks make the flow non-smooth: at tight tolerances the stiff solver crawls through
    sliding modes on a kink, so this stays at moderate tolerances and flow times.)"""
    obj, _ = teacher_problem(width=3, student=4, activation=activation, n=100)
    net = obj.net
    theta0 = initial_theta(net, InitSpec(), seed=5)
    spec = DynamicsSpec(reltol=reltol, abstol=reltol * 1e-3, polish=None,
                        stop={"maxT": 5.0, "min_gradnorm": 0.0, "maxsteps": 3000})
    rec = integrate(obj, theta0, spec).records[0]
    th = torch.from_numpy(rec.snapshots["theta"])
    balance = (net.view(th, "w") ** 2).sum(-1) - net.view(th, "a")[:, 0] ** 2
    drift = (balance - balance[0]).abs().max()
    assert rec.stopped_by == "maxT" and rec.snap_count > 10
    assert drift <= 10 * reltol * balance[0].abs().max().clamp_min(1.0)


def test_student_near_teacher_recovers_it():
    obj, theta_t = teacher_problem()
    theta0 = theta_t + 0.05 * torch.randn(len(theta_t), generator=gen(1), dtype=torch.float64)
    rec = integrate(obj, theta0, DynamicsSpec()).records[0]
    assert rec.stopped_by == "min_gradnorm"
    assert rec.loss < 1e-20 and rec.gradnorm < 1e-12
    assert rec.n_negative == 0


def test_polish_keeps_a_split_saddle_critical():
    obj1, _ = teacher_problem(width=2, student=1)
    rec = integrate(obj1, initial_theta(obj1.net, InitSpec(), seed=0), DynamicsSpec()).records[0]
    assert rec.gradnorm < 1e-12
    net2, theta_s = split_neuron(obj1.net, torch.from_numpy(rec.theta), 0, 0.3)
    obj2 = EmpiricalLoss(net2, obj1.x, obj1.y)
    assert obj2.gradient(theta_s).abs().max() < 1e-11
    start = theta_s + 1e-6 * torch.randn(len(theta_s), generator=gen(2), dtype=torch.float64)
    theta, code, *_ = polish(obj2, start[None], PolishSpec(gtol=1e-12), torch.tensor([True]))
    assert code.item() == 1  # gtol
    assert obj2.gradient(theta[0]).abs().max() <= 1e-12
    assert obj2.loss(theta[0]) == pytest.approx(rec.loss, rel=1e-9)  # stayed on the saddle line
    assert (theta[0] - theta_s).abs().max() < 1e-3
    theta, code, steps, *_ = polish(obj2, start[None], PolishSpec(gtol=0, maxtime=1e-9),
                                   torch.tensor([True]))
    assert POLISH_REASONS[code.item()] == "maxtime" and steps.item() <= 1
    assert torch.equal(theta[0], start)                # stopped before its first step


@pytest.mark.parametrize("method", ["flow", "flow_rodas", "flow_explicit", "adam", "sgd"])
def test_checkpoint_continue_is_bit_identical(method):
    prob = loss_levels(3)
    kw = {"batch_size": 50} if method == "sgd" else {}
    eta = 1e-2 if method in ("adam", "sgd") else 1e-3
    spec = DynamicsSpec(method=method, eta=eta, stop={"maxsteps": 60}, **kw)
    seeds = [0, 1, 2]
    whole = integrate(prob, None, spec, seeds=seeds)
    run = integrate(prob, None, spec, seeds=seeds, budget_steps=7)
    pieces = 1
    while not run.finished:
        state = TrajectoryState.from_dict(run.state.to_dict())
        run = integrate(prob, None, spec, state=state, budget_steps=7)
        pieces += 1
    assert pieces > 3
    same_records(whole.records, run.records)


@pytest.mark.parametrize("method", ["flow", "flow_rodas"])
def test_same_config_is_bit_identical(method):
    prob = loss_levels(3)
    spec = DynamicsSpec(method=method, stop={"maxsteps": 80})
    same_records(integrate(prob, None, spec, seeds=[4, 5]).records,
                 integrate(prob, None, spec, seeds=[4, 5]).records)


@pytest.mark.parametrize("method", ["flow", "flow_rodas"])
def test_batch_equals_single_runs(method):
    """Equal end points to tolerance; see the engine's docstring on bit-identity."""
    obj, _ = teacher_problem(width=2, student=2)
    seeds = [1, 2, 6, 7]  # 6 ends in a local minimum; 0 would leave along a channel
    theta0 = torch.stack([initial_theta(obj.net, InitSpec(), seed=s) for s in seeds])
    specs = [DynamicsSpec(method=method, stop={"min_gradnorm": g})
             for g in (1e-12, 1e-10, 1e-12, 1e-9)]
    batch = integrate(obj, theta0, specs).records
    for b, s in enumerate(seeds):
        one = integrate(obj, theta0[b], specs[b]).records[0]
        assert batch[b].stopped_by == one.stopped_by
        assert batch[b].polish_stopped_by == one.polish_stopped_by == "gtol"
        assert batch[b].loss == pytest.approx(one.loss, rel=1e-8, abs=1e-20)
        np.testing.assert_allclose(batch[b].theta, one.theta, rtol=1e-6, atol=1e-8)
        assert batch[b].n_negative == one.n_negative


def test_batch_has_own_step_sizes_and_stops():
    obj, _ = teacher_problem()
    theta0 = torch.stack([initial_theta(obj.net, InitSpec(), seed=s) for s in (0, 1)])
    specs = [DynamicsSpec(method="gd", eta=1e-2, stop={"maxsteps": 5}),
             DynamicsSpec(method="gd", eta=1e-3, stop={"maxsteps": 9})]
    recs = integrate(obj, theta0, specs).records
    assert [r.steps for r in recs] == [5, 9]
    assert recs[0].t == pytest.approx(5e-2) and recs[1].t == pytest.approx(9e-3)
    for b in range(2):
        one = integrate(obj, theta0[b], specs[b]).records[0]
        np.testing.assert_allclose(recs[b].snapshots["theta"], one.snapshots["theta"], rtol=1e-12)


def test_loss_levels_channel_hits_maxnorm():
    prob = loss_levels(2, maxnorm=50.0)
    recs = integrate(prob, None, DynamicsSpec(channel=None), seeds=[2, 3]).records  # no stop
    assert {r.stopped_by for r in recs} <= {"maxnorm", "min_gradnorm"}
    assert any(r.stopped_by == "maxnorm" for r in recs)
    for r in recs:
        if r.stopped_by == "maxnorm":
            assert r.weightnorm >= 50.0 and r.polish_stopped_by == "skipped"
        assert r.snap_count >= 2 and np.all(np.diff(r.snapshots["t"]) > 0)


def test_chunked_derivatives_equal_the_whole_batch(monkeypatch):
    """Large batches are evaluated in cache-sized chunks of thetas: same values as one piece."""
    from landscape_hpc.models import loss as loss_module
    prob = loss_levels(3, n=400)
    obj = prob.objective
    theta = torch.stack([prob.initial_theta(s) for s in range(5)])
    whole = obj.evaluate(theta, 2)
    monkeypatch.setattr(loss_module, "CHUNK_ELEMENTS", 2 * 400 * 3)  # chunks of 2 thetas
    chunked = obj.evaluate(theta, 2)
    for a, b in zip(whole, chunked):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for i in range(5):
        torch.testing.assert_close(obj.evaluate(theta[i], 2)[2], whole[2][i], rtol=1e-12, atol=1e-14)


def test_first_stopping_rule_wins():
    obj, _ = teacher_problem()
    spec = DynamicsSpec(stop={"maxsteps": 1, "maxT": 1e-12}, polish=None)
    assert integrate(obj, initial_theta(obj.net, InitSpec(), seed=0),
                     spec).records[0].stopped_by == "maxsteps"


def test_allocator_tuning_is_idempotent_and_changes_no_result():
    from landscape_hpc.dynamics.allocator import tune_allocator
    first = tune_allocator()
    assert tune_allocator() is first  # once per process; True on glibc
    prob = loss_levels(2)
    spec = DynamicsSpec(stop={"maxsteps": 40})
    one = integrate(prob, None, spec, seeds=[3]).records
    obj = prob.objective
    theta = torch.tensor(one[0].theta)
    before = obj.evaluate(theta, 2)
    tune_allocator()
    assert all(torch.equal(a, b) for a, b in zip(before, obj.evaluate(theta, 2)))
    same_records(one, integrate(prob, None, spec, seeds=[3]).records)
