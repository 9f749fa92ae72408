"""``method: order_params``, the (Q, M) flow of a soft committee as a sweep task's dynamics,
against the weight-space flow from the same theta_0 (issue 15): the same end points (loss, class,
order parameters), the same loss at the same flow time, weights rebuilt from the overlaps in any
d, checkpoints, the problems it refuses, and a sweep with the method as an axis."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.integrate
import torch
import yaml
from test_dynamics import same_records
from test_store import DATA, cli

from landscape_hpc.config import ConfigError
from landscape_hpc.dynamics import DynamicsSpec, TrajectoryState, integrate
from landscape_hpc.dynamics.order_params import OrderParamFlow, check_problem
from landscape_hpc.problem import ProblemSpec, build_problem
from landscape_hpc.store import open_results
from landscape_hpc.sweep import plan_sweep

SWEEP = DATA / "order_params_sweep.yaml"
CONVERGED = {"min_gradnorm", "min_loss"}


def problem_spec(K: int, M: int, d: int, **net) -> dict:
    """relu_population's problem (App. G): K students, M orthonormal teachers, in d."""
    return {"net": {"input_dim": d, "widths": [K], "activation": "relu", "biases": False,
                    "fixed_readout": 1.0, **net},
            "target": {"kind": "teacher",
                       "teacher": {"kind": "orthonormal", "width": M, "activation": "relu"}},
            "inputs": {"kind": "population"}, "loss": {"convention": "half_mean"},
            "init": {"kind": "normal", "scale": d**-0.5}}


# (K, M, d, seeds): d = K + M; K = M = 7 seed 8 ends in a spurious local minimum (loss 0.0232)
CASES = [(3, 3, 6, [0, 1, 2]), (4, 3, 7, [0, 1]), (7, 7, 14, [0, 8])]


@pytest.mark.parametrize("K, M, d, seeds", CASES)
def test_end_points_are_the_weight_flows(K, M, d, seeds):
    """Must-show: from the overlaps of theta_0 the (Q, M) flow ends where the weight-space flow
    from theta_0 ends: the same loss (1e-8 relative, or both global minima), already where the
    (Q, M) flow stopped, the same class (n_negative, global or not) and, for K = M (isolated
    minima; K = M + 1 has a manifold of them), the same order parameters."""
    p = build_problem(problem_spec(K, M, d))
    weight = integrate(p, None, DynamicsSpec(method="flow"), seeds=seeds).records
    order = integrate(p, None, DynamicsSpec(method="order_params"), seeds=seeds).records
    flow = OrderParamFlow(p)
    for s, w, q in zip(seeds, weight, order):
        assert w.stopped_by in CONVERGED and q.stopped_by in CONVERGED
        assert (w.polish_stopped_by, q.polish_stopped_by) == ("gtol", "gtol")
        assert abs(q.loss - w.loss) <= 1e-8 * abs(w.loss) + 1e-13, (s, q.loss, w.loss)
        # the (Q, M) flow's own end, before the polish: L(Q, M) where it stopped
        assert abs(q.loss_dynamics - w.loss) <= 1e-8 * abs(w.loss) + 1e-12
        assert q.n_negative == w.n_negative == 0 and (q.loss < 1e-10) == (w.loss < 1e-10)
        assert len(q.theta) == K * d and np.array_equal(q.theta0, p.initial_theta(s).numpy())
        if K == M:
            yw, yq = (flow.overlaps(torch.from_numpy(r.theta)[None]) for r in (w, q))
            assert torch.allclose(yq, yw, rtol=0, atol=1e-8)
    if K == 7:
        assert order[1].loss > 0.02  # the case holds a spurious minimum


@pytest.mark.parametrize("K, M, d, seed", [(3, 3, 6, 0), (4, 3, 7, 1), (3, 3, 3, 0)])
def test_loss_at_each_snapshot_is_the_weight_flows_at_that_time(K, M, d, seed):
    """Must-show: L(Q(t), M(t)) of the snapshots equals the loss of the weight-space flow from
    theta_0 (DOP853 at rtol 1e-12) at the same t, to 1e-5 at reltol 1e-6 (2.4e-6 measured; 2.4e-8
    at reltol 1e-9, ten times slower), up to t = 50, while the loss falls a thousandfold; the
    snapshots' weights have that loss too (up to the drift of y off the overlaps that weights
    can have, O(tolerance): in d = M, Q = M M^T exactly, numerically not)."""
    p = build_problem(problem_spec(K, M, d))
    spec = DynamicsSpec(method="order_params", reltol=1e-6, abstol=1e-8, stop={"maxT": 50.0},
                        polish=None)
    r = integrate(p, None, spec, seeds=[seed]).records[0]
    snap = r.snapshots
    t, loss = snap["t"], snap["loss"]
    assert len(t) > 15 and loss[-1] < 0.01 * loss[0]  # the loss moved by far more than the tol
    obj = p.objective
    sol = scipy.integrate.solve_ivp(lambda _, th: -obj.gradient(torch.from_numpy(th)).numpy(),
                                    (0.0, t[-1]), p.initial_theta(seed).numpy(), t_eval=t,
                                    method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success
    reference = obj.loss(torch.from_numpy(sol.y.T.copy())).numpy()
    np.testing.assert_allclose(loss, reference, rtol=0, atol=1e-5)
    np.testing.assert_allclose(obj.loss(torch.from_numpy(snap["theta"])).numpy(), loss,
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("d", [3, 5, 7, 20])  # d = M, K + M - 2 < K + M = 7 <= 20
def test_weights_have_the_overlaps_in_any_d(d):
    """weights(y, theta0) is theta0 at y = overlaps(theta0), and has the overlaps y of every
    point of the weight flow from theta0 (its orthogonal part stays in X_0's row space)."""
    p = build_problem(problem_spec(4, 3, d))
    flow = OrderParamFlow(p)
    theta0 = p.initial_theta(0, 3)
    assert torch.allclose(flow.weights(flow.overlaps(theta0), theta0), theta0, rtol=0, atol=1e-12)
    theta = integrate(p, theta0, DynamicsSpec(method="flow"), budget_steps=40).state.theta
    y = flow.overlaps(theta)
    assert (y - flow.overlaps(theta0)).abs().max() > 0.1
    assert torch.allclose(flow.overlaps(flow.weights(y, theta0)), y, rtol=0, atol=1e-12)


def test_checkpoint_continues_bit_identically():
    """The worker's checkpoints: a state (theta = y, theta0 the weights) saved and continued."""
    torch.set_num_threads(1)
    p = build_problem(problem_spec(4, 3, 7))
    spec = DynamicsSpec(method="order_params")
    whole = integrate(p, None, spec, seeds=[0, 1]).records
    part = integrate(p, None, spec, seeds=[0, 1], budget_steps=25)
    assert not part.finished and part.state.theta.shape == (2, 10 + 12)
    state = TrajectoryState.from_dict(part.state.to_dict())
    same_records(whole, integrate(p, None, spec, seeds=[0, 1], state=state).records)


@pytest.mark.parametrize("change, key", [
    ({"net": {"biases": True}}, "problem.net.biases"),
    ({"net": {"fixed_readout": None}}, "problem.net.fixed_readout"),
    ({"net": {"activation": "tanh"}}, "problem.net.activation"),
    ({"inputs": {"kind": "normal", "n": 100}}, "problem.inputs"),
    ({"loss": {"maxnorm": 100.0}}, "problem.loss.maxnorm"),
])
def test_refuses_what_is_not_a_population_soft_committee(change, key):
    spec = problem_spec(3, 3, 6)
    for part, values in change.items():
        spec[part] = {**spec[part], **values} if part != "inputs" else values
    with pytest.raises(ConfigError, match=f"^{key}: dynamics.method 'order_params'"):
        check_problem(ProblemSpec.model_validate(spec))


def test_plan_refuses_a_trainable_readout_naming_the_setting(tmp_path):
    sweep = yaml.safe_load(SWEEP.read_text())
    del sweep["fixed"]["problem"]["net"]["fixed_readout"]
    sweep["grid"]["readout"] = [None]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    with pytest.raises(ConfigError, match=r"problem.net.fixed_readout: dynamics.method "
                                          r"'order_params' .* \(from grid.readout, grid.method\)"):
        plan_sweep(path)
    with pytest.raises(ValueError, match="needs a Problem"):
        integrate(build_problem(problem_spec(3, 3, 6)).objective, torch.zeros(1, 18),
                  DynamicsSpec(method="order_params"))


def test_sweep_with_the_method_as_an_axis_runs_into_a_store_and_queries(tmp_path):
    """tests/data/order_params_sweep.yaml: flow vs order_params on the same seeds, run by the
    CLI; the two methods' records agree task by task and ``query`` splits by method."""
    store = tmp_path / "qm.zarr"
    run = cli("run", SWEEP, "--store", store, "-q")
    assert run.returncode == 0, run.stderr
    raw = open_results(store)  # along task
    raw = raw.isel(task=np.flatnonzero(raw["status"].values != 0))
    assert (raw["status"].values == 3).all() and raw.sizes["task"] == 12
    method = raw["method"].values.astype(str)
    key = [f"{size} {seed}" for size, seed in zip(raw["size"].values, raw["seed"].values)]
    flow, order = (raw.isel(task=np.flatnonzero(method == m)) for m in ("flow", "order_params"))
    assert [key[i] for i in np.flatnonzero(method == "flow")] == \
        [key[i] for i in np.flatnonzero(method == "order_params")]
    np.testing.assert_allclose(order["loss"].values, flow["loss"].values, rtol=1e-8, atol=1e-13)
    for name in ("n_negative", "n_params", "stopped_by", "polish_stopped_by"):
        assert (order[name].values == flow[name].values).all(), name
    assert (order["loss"].values > 0.02).sum() == 1  # K = M = 7, seed 8: a spurious minimum
    query = cli("query", store, "--by", "method", "--what", "fractions", "--format", "json")
    assert query.returncode == 0, query.stderr
    rows = json.loads(query.stdout)["rows"]
    counts = {(r["method"], r["outcome"]): r["count"] for r in rows}
    assert counts[("flow", "global_min")] == counts[("order_params", "global_min")] == 5
    assert counts[("flow", "local_min")] == counts[("order_params", "local_min")] == 1
