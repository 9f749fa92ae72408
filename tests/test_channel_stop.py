"""The channel stop (landscape_hpc.dynamics.channel): a channel to infinity recognised along the
flow, a finite-norm minimum with a near-duplicate pair left alone, the record and store fields,
checkpoints."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from landscape_hpc.dynamics import DynamicsSpec, integrate
from landscape_hpc.dynamics.channel import Detector, polish_glu
from landscape_hpc.dynamics.record import STOP_REASONS, TrajectoryRecord, TrajectoryState
from landscape_hpc.models.channel_geometry import (GLUNetwork, cosine_distances, glu_limit,
                                                   glu_pair, input_vectors, output_weights,
                                                   pair_from_glu)
from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.models.objective import LossSpec
from landscape_hpc.problem import build_problem
from landscape_hpc.store.layout import RECORD, record_arrays

#: channels-to-infinity Fig. A1 (sweeps/channels_loss_levels.yaml, width 5 with biases)
LOSS_LEVELS = {"net": {"input_dim": 2, "widths": [5], "activation": "g", "biases": True},
               "target": {"kind": "rosenbrock"}, "inputs": {"kind": "grid", "n": 10000},
               "loss": {"maxnorm": 1000}}
#: seed 1 of that group at flow time 3.4e5, entering a channel of neurons 1 and 4 (cosine
#: distance 4e-3, output weights -3.07 and 16.1); the flow reaches maxnorm there at t = 2.6e9
ENTRANCE = [0.6501780075852334, 0.2616824883902157, -0.9508600394450222, 0.48226663768437256,
            -0.2599320266493066, -0.6133021091623345, 3.9656178267599684, -11.06547470391274,
            -1.1108904041993442, 0.49708118901393383, 0.30759367335510546, 0.9472198841671539,
            -0.7170174070356566, 7.279805762928808, 0.912399919032617, 2.8448778750851593,
            -16.792860870691293, 2.74381769052077, -0.1028227830674225, 16.072779049426646,
            -3.0740298284707763]
OFF = DynamicsSpec(channel=None)
CHANNEL_FIELDS = [f.name for f in RECORD if f.name.startswith("channel_")]


@pytest.fixture(scope="module")
def loss_levels():
    return build_problem(LOSS_LEVELS)


def backed_up(problem, theta: torch.Tensor, factor: float) -> torch.Tensor:
    """theta with the pair (1, 4) moved back up the channel: eps times ``factor`` at fixed c, a,
    w, Delta (the inverse of a jump, channels-to-infinity App. C.1)."""
    from landscape_hpc.analysis.jump import with_pair

    g = glu_pair(problem.net, theta, 1, 4)
    return with_pair(problem.net, theta, 1, 4, *pair_from_glu(replace(g, eps=g.eps * factor)))


@pytest.fixture(scope="module")
def channel_runs(loss_levels):
    """From the channel's entrance and from a point backed up the channel: detection on, off."""
    theta = torch.tensor(ENTRANCE, dtype=torch.float64)
    starts = torch.stack([theta, backed_up(loss_levels, theta, 2.0)])
    on = [integrate(loss_levels, s).records[0] for s in starts]
    off = integrate(loss_levels, starts[0], OFF).records[0]
    return starts, on, off


def test_channel_is_recognised_within_a_bounded_flow_time(loss_levels, channel_runs):
    starts, on, off = channel_runs
    assert off.stopped_by == "maxnorm" and off.t > 1e9        # the fallback, today's end
    for rec in on:
        assert rec.stopped_by == "channel" and rec.polish_stopped_by == "skipped"
        assert rec.channel_neurons == "1,4" and rec.channel_layer == 1
        assert rec.t == rec.channel_t < 1e8
        assert rec.weightnorm < 0.25 * loss_levels.objective.maxnorm
        assert rec.steps < off.steps / 2
        # the criteria, as recorded, hold at the detection and span a decade of flow time
        assert rec.channel_t >= 10 * rec.channel_t_window
        assert rec.channel_cosine < 1e-3 and rec.channel_cosine_ratio <= 0.8
        assert rec.channel_distance_ratio <= 0.8 and rec.channel_growth >= 1.2
        assert rec.channel_update_fraction >= 0.9 and rec.channel_weightnorm_ratio > 1
        theta = torch.from_numpy(rec.theta)
        a = output_weights(loss_levels.net, theta)[:, 0]
        assert a[1] * a[4] < 0 and min(abs(a[1]), abs(a[4])) > 10
        assert cosine_distances(input_vectors(loss_levels.net, theta))[1, 4] < 1e-3
        # the limit the flow heads to lies below where it stopped, and below the maxnorm end
        assert rec.channel_limit_loss < rec.loss and rec.channel_limit_loss < off.loss
        assert abs(rec.channel_glu_loss - rec.loss) < 1e-3 * rec.loss
    # the end of the channel does not depend on where along it the flow was stopped
    assert on[0].channel_limit_loss == pytest.approx(on[1].channel_limit_loss, rel=1e-7)
    assert on[0].channel_t != on[1].channel_t


def test_finite_minimum_with_a_near_duplicate_pair_is_not_a_channel():
    """A teacher of one neuron, a student of two split from it at gamma = 1.5 (output weights
    1.8 and -0.6: opposite signs) and perturbed: the flow converges to the line of zero-loss
    minima, the pair to an exact duplicate.  The check runs and finds the pair close, converging
    and with opposite signs, but its output weights do not diverge: same record as without."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=gen, dtype=torch.float64)
    teacher = Network(NetSpec(input_dim=2, widths=[1], activation="g", biases=True))
    y = teacher(teacher.pack(w=torch.tensor([[1.0, -0.5]]), b=torch.tensor([0.3]),
                             a=torch.tensor([[1.2]]), c=torch.tensor([0.1])), x)
    net = Network(NetSpec(input_dim=2, widths=[2], activation="g", biases=True))
    obj = EmpiricalLoss(net, x, y, LossSpec(maxnorm=1000))
    v = torch.tensor([[1.0, -0.5], [1.0, -0.5]]) + 0.01 * torch.randn(2, 2, generator=gen,
                                                                      dtype=torch.float64)
    b = torch.tensor([0.3, 0.3]) + 0.01 * torch.randn(2, generator=gen, dtype=torch.float64)
    theta0 = net.pack(w=v, b=b, a=torch.tensor([[1.5 * 1.2, -0.5 * 1.2]]), c=torch.tensor([0.1]))
    rec = integrate(obj, theta0).records[0]
    ref = integrate(obj, theta0, OFF).records[0]
    assert rec.stopped_by == "min_gradnorm" and rec.loss < 1e-20
    assert rec.channel_checks > 10 and ref.channel_checks == 0
    theta = torch.from_numpy(rec.theta)
    a = output_weights(net, theta)[:, 0]
    assert cosine_distances(input_vectors(net, theta))[0, 1] < 1e-10 and a[0] * a[1] < 0
    for name, value in rec.to_dict().items():
        if name not in ("wall_time", "channel_checks"):
            np.testing.assert_array_equal(value, ref.to_dict()[name], err_msg=name)


def test_other_divergences_and_off_switches(loss_levels):
    """Where the stop does not run: channel null, discrete methods, no maxnorm."""
    obj = loss_levels.objective
    assert Detector.build(obj, [DynamicsSpec()]) is not None
    assert Detector.build(obj, [OFF]) is None
    assert Detector.build(obj, [DynamicsSpec(method="gd")]) is None
    free = build_problem({**LOSS_LEVELS, "loss": {}}).objective
    assert Detector.build(free, [DynamicsSpec()]) is None
    assert Detector.build(free, [DynamicsSpec(channel={"require_maxnorm": False})]) is not None
    with pytest.raises(ValueError, match="channel"):
        Detector.build(obj, [DynamicsSpec(), OFF])
    assert STOP_REASONS[-1] == "channel" and STOP_REASONS.index("maxnorm") == 2


def test_glu_network_and_its_polish():
    """The GLU network equals eq. 4's limit, its Jacobian the finite differences, and the
    polish does not raise the loss."""
    torch.manual_seed(0)
    net = Network(NetSpec(input_dim=2, widths=[4], output_dim=2, activation="g", biases=True))
    theta = torch.randn(net.num_params, dtype=torch.float64)
    x, y = torch.randn(9, 2, dtype=torch.float64), torch.randn(9, 2, dtype=torch.float64)
    g = GLUNetwork.of(net, theta, 1, 3)
    xa = torch.cat([x, torch.ones(9, 1, dtype=torch.float64)], 1)
    r, J = g.residuals(net, xa, y, jacobian=True)
    assert torch.allclose(r, glu_limit(net, theta, 1, 3, x) - y, atol=1e-12)
    phi = g.flat()
    for k in range(len(phi)):
        e = torch.zeros_like(phi)
        e[k] = 1e-6
        num = (g.unflat(phi + e).residuals(net, xa, y)[0]
               - g.unflat(phi - e).residuals(net, xa, y)[0]) / 2e-6
        assert torch.allclose(J[:, k], num.flatten(), atol=1e-7), k
    start, limit = polish_glu(net, theta, 1, 3, x, y, 0.5)
    assert start == pytest.approx(0.5 * float((r * r).sum())) and (math.isnan(limit)
                                                                   or limit <= start)


def test_record_and_store_round_trip(channel_runs, tmp_path):
    starts, on, off = channel_runs
    names = {f.name for f in RECORD}
    assert {f for f in TrajectoryRecord.__dataclass_fields__} <= names
    recs = [on[0], off]
    for rec in recs:
        again = TrajectoryRecord.from_dict(rec.to_dict())
        for name in CHANNEL_FIELDS:
            assert getattr(again, name) == getattr(rec, name) or (
                math.isnan(getattr(rec, name)) and math.isnan(getattr(again, name)))
    old = {k: v for k, v in off.to_dict().items() if not k.startswith("channel_")}
    assert TrajectoryRecord.from_dict(old).channel_neurons == ""     # records from before
    arrays = record_arrays([r.to_dict() for r in recs], 21, 66)
    assert list(arrays["channel_neurons"]) == ["1,4", ""]
    assert list(arrays["channel_layer"]) == [1, -1]
    assert arrays["channel_t"][0] == on[0].t and np.isnan(arrays["channel_t"][1])
    assert arrays["channel_limit_loss"][0] == on[0].channel_limit_loss
    assert np.isnan(arrays["channel_limit_loss"][1]) and arrays["channel_checks"][1] == 0


def test_store_writes_the_channel_fields(tmp_path):
    """A sweep of the loss-levels group, seeds 1 (a channel) and 2 (a finite minimum), run by
    the worker into a store and read back."""
    import yaml

    from landscape_hpc.run import worker
    from landscape_hpc.store import DONE, Store, open_results
    from landscape_hpc.sweep import plan_sweep

    sweep = tmp_path / "ch.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "channel_stop", "fixed": {"problem": LOSS_LEVELS,
                                          "dynamics": {"stop": {"maxtime": 120}}},
        "grid": {"seed": [1, 2]}}))
    store, added = Store.create_or_extend(tmp_path / "s.zarr", plan_sweep(sweep))
    assert added == 2
    worker.run_unit(tmp_path / "s.zarr", 0)
    ds = open_results(tmp_path / "s.zarr").load()
    ds = ds.isel(task=np.flatnonzero(ds["status"].values == DONE))
    ds = ds.isel(task=np.argsort(ds["seed"].values))
    assert list(ds["stopped_by"].values) == ["channel", "min_gradnorm"]
    assert list(ds["channel_neurons"].values) == ["1,4", ""]
    assert ds["channel_layer"].values.tolist() == [1, -1]
    assert ds["channel_limit_loss"].values[0] < ds["loss"].values[0]
    assert np.isnan(ds["channel_t"].values[1]) and (ds["channel_checks"].values > 0).all()
    assert ds["channel_update_fraction"].attrs["description"]


def test_checkpoints_continue_bit_identically(loss_levels, channel_runs):
    """A batch of a channel and a finite minimum, interrupted every 40 steps and continued from
    the state's dict, equals the uninterrupted batch (wall times aside)."""
    theta = torch.stack([torch.tensor(ENTRANCE, dtype=torch.float64),
                         loss_levels.initial_theta(2)])
    whole = integrate(loss_levels, theta).records
    run = integrate(loss_levels, theta, budget_steps=40)
    parts = 1
    while not run.finished:
        state = TrajectoryState.from_dict(run.state.to_dict())
        assert state.channel_theta is not None
        run = integrate(loss_levels, state=state, budget_steps=40)
        parts += 1
    assert parts > 5 and [r.stopped_by for r in whole] == ["channel", "min_gradnorm"]
    for a, b in zip(whole, run.records):
        for name, value in a.to_dict().items():
            if name != "wall_time":
                np.testing.assert_array_equal(value, b.to_dict()[name], err_msg=name)
    # a checkpoint written without the stop's fields starts its checks afresh
    half = integrate(loss_levels, theta, budget_steps=40).state.to_dict()
    half = {k: v for k, v in half.items() if not k.startswith("channel_")}
    late = integrate(loss_levels, state=TrajectoryState.from_dict(half)).records
    assert [r.stopped_by for r in late] == ["channel", "min_gradnorm"]


def test_channel_stops_aggregate_as_channels():
    """stopped_by channel is the outcome class channel, as maxnorm is, and enters the channel
    levels; neither is converged."""
    import xarray as xr

    from landscape_hpc.aggregate import convergence_fractions, loss_histogram

    stops = ["channel", "maxnorm", "min_gradnorm", "channel"]
    raw = xr.Dataset(
        {"loss": ("task", [0.3, 0.3001, 0.5, 0.2]), "status": ("task", np.int8([3, 3, 3, 3])),
         "stopped_by": ("task", np.array(stops, dtype=object)),
         "polish_stopped_by": ("task", np.array(["skipped", "skipped", "gtol", "skipped"],
                                                dtype=object)),
         "n_negative": ("task", np.int32([0, 0, 0, 0]))},
        coords={"width": ("task", [1, 1, 1, 1]), "seed": ("task", [0, 1, 2, 3]),
                "task_id": ("task", np.array(list("abcd"), dtype=object))},
        attrs={"axes": ["width"]})
    f = convergence_fractions(raw, ["width"])
    assert f["count"].sel(outcome="channel").values.tolist() == [3]
    assert f["count"].sel(outcome="lowest_found").values.tolist() == [1]  # the only level
    assert loss_histogram(raw, ["width"])["count"].values.sum() == 1        # converged only
    assert loss_histogram(raw, ["width"], tasks="channel")["level"].values.tolist() == \
        pytest.approx([0.2, 0.30005])


def with_channel(net: Network, theta: torch.Tensor, layer: int, i: int, j: int, eps: float
                 ) -> torch.Tensor:
    """theta with neurons i, j of ``layer`` a GLU pair (eq. 3) at width eps: input vectors
    w +- eps Delta, output weights c/2 +- a/(2 eps), fixed w, Delta, c, a."""
    from landscape_hpc.models.channel_geometry import GLU

    D = input_vectors(net, theta, layer).shape[-1]
    out = output_weights(net, theta, layer).shape[-1]
    gen = torch.Generator().manual_seed(layer)
    delta = torch.randn(D, generator=gen, dtype=torch.float64)
    g = GLU(c=torch.full((out,), 0.4, dtype=torch.float64), a=torch.full((out,), 1.3,
                                                                      dtype=torch.float64),
            w=torch.randn(D, generator=gen, dtype=torch.float64), delta=delta / delta.norm(),
            eps=torch.tensor(eps, dtype=torch.float64))
    vi, ai, vj, aj = pair_from_glu(g)
    blocks = {name: net.view(theta, name).clone() for name in net.blocks}
    nxt = "a" if layer == net.depth else f"w{layer + 1}"
    for k, v, a in ((i, vi, ai), (j, vj, aj)):
        blocks[f"w{layer}"][k] = v[:net.view(theta, f"w{layer}").shape[-1]]
        if f"b{layer}" in blocks:
            blocks[f"b{layer}"][k] = v[-1]
        blocks[nxt][:, k] = a
    return net.pack(**blocks)


@pytest.mark.parametrize("widths, layer", [((4,), 1), ((3, 4), 2), ((4, 3), 1)])
def test_criteria_find_a_channel_in_any_layer(widths, layer):
    """Moving a pair along its channel (eps / 2.2, all else fixed) passes the criteria in the
    pair's layer; the reverse move, and no move, do not."""
    net = Network(NetSpec(input_dim=3, widths=widths, activation="softplus", biases=True))
    theta = torch.randn(net.num_params, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64)
    obj = EmpiricalLoss(net, torch.randn(20, 3, dtype=torch.float64),
                        torch.randn(20, 1, dtype=torch.float64), LossSpec(maxnorm=1e3))
    det = Detector.build(obj, [DynamicsSpec()])
    early, late = (with_channel(net, theta, layer, 0, 2, e) for e in (0.02, 0.02 / 2.2))
    layer_found, group, values = det.criteria(late, early)
    assert (layer_found, group) == (layer, [0, 2])
    cosine, cos_ratio, dist_ratio, growth, frac, wn_ratio = values
    assert cos_ratio == pytest.approx(1 / 2.2**2, rel=1e-3) and dist_ratio == pytest.approx(1 / 2.2)
    assert growth == pytest.approx(2.2) and frac == pytest.approx(1.0) and wn_ratio > 1
    assert det.criteria(early, late) is None and det.criteria(late, late) is None
