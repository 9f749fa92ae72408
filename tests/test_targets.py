"""Inputs, target functions, teachers and datasets of landscape_hpc.targets."""

import math

import pytest
import torch
from pydantic import ValidationError

from landscape_hpc.models.loss import EmpiricalLoss
from landscape_hpc.models.network import NetSpec, Network
from landscape_hpc.targets import (make_data, make_inputs, parse_inputs, parse_target,
                                   teacher_network)
from landscape_hpc.targets.datasets import load_dataset
from landscape_hpc.targets.functions import erf_toy, gp_sample, matern32, rosenbrock, zscore

SQRT3 = math.sqrt(3.0)


def teacher(**spec):
    return {"kind": "teacher", "teacher": spec}


# ---- inputs ----------------------------------------------------------------------------------
def test_grid_shape_range_spacing():
    x = make_inputs({"kind": "grid", "n": 10_000}, 2)  # channels-to-infinity: 100 x 100
    assert x.shape == (10_000, 2) and x.dtype == torch.float64
    axis = torch.unique(x[:, 0])
    assert axis.numel() == 100
    assert axis[0] == -SQRT3 and axis[-1] == SQRT3
    assert torch.allclose(axis.diff(), torch.full((99,), 2 * SQRT3 / 99), rtol=0, atol=1e-14)
    assert torch.equal(torch.unique(x[:, 1]), axis)
    assert torch.equal(x[:3], torch.stack([axis[:1].expand(3), axis[:3]], 1))  # last axis fastest
    assert torch.unique(x, dim=0).shape[0] == 10_000


def test_grid_other_range_and_dimension():
    # symmetry-induced-critical-points: 1681 points with 4 x_i in {-20, ..., 20}
    x = make_inputs({"kind": "grid", "n": 1681, "low": -5, "high": 5}, 2)
    assert torch.allclose(torch.unique(x[:, 1]), torch.arange(-20, 21) / 4.0, rtol=0, atol=1e-15)
    assert make_inputs({"kind": "grid", "n": 125}, 3).shape == (125, 3)
    assert make_inputs({"kind": "grid", "n": 7}, 1).shape == (7, 1)


@pytest.mark.parametrize("n,d", [(10, 2), (1000, 2), (100, 3), (2, 16)])
def test_grid_n_not_a_perfect_power(n, d):
    with pytest.raises(ValueError, match=rf"inputs\.n.*{n} is not"):
        make_inputs({"kind": "grid", "n": n}, d)


@pytest.mark.parametrize("law", ["uniform", "normal"])
def test_sobol_reproducible_per_seed_and_different_across_seeds(law):
    spec = {"kind": "sobol", "n": 256, "seed": 3, "law": law}
    x = make_inputs(spec, 4)
    assert x.shape == (256, 4) and x.dtype == torch.float64
    assert torch.equal(x, make_inputs(spec, 4))
    other = make_inputs({**spec, "seed": 4}, 4)
    assert (x - other).abs().mean() > 0.1
    if law == "uniform":
        assert x.abs().max() <= SQRT3
        assert torch.allclose(x.var(0), torch.ones(4), atol=0.02)
    else:
        assert x.isfinite().all()
        assert torch.allclose(x.mean(0), torch.zeros(4), atol=0.01)
        assert torch.allclose(x.var(0), torch.ones(4), atol=0.05)


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_random_inputs_reproducible(kind):
    spec = {"kind": kind, "n": 20_000, "seed": 1}
    x = make_inputs(spec, 3)
    assert x.shape == (20_000, 3)
    assert torch.equal(x, make_inputs(spec, 3))
    assert not torch.equal(x, make_inputs({**spec, "seed": 2}, 3))
    assert torch.allclose(x.var(0), torch.ones(3), atol=0.04)
    if kind == "uniform":
        assert x.abs().max() <= SQRT3


def test_explicit_and_population_inputs():
    x = make_inputs({"kind": "explicit", "values": [[1, 2], [3, 4.5]]}, 2)
    assert torch.equal(x, torch.tensor([[1.0, 2.0], [3.0, 4.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"inputs\.values.*2 numbers.*input_dim is 3"):
        make_inputs({"kind": "explicit", "values": [[1, 2]]}, 3)
    with pytest.raises(ValidationError, match="values"):
        parse_inputs({"kind": "explicit", "values": [[1, 2], [3]]})
    with pytest.raises(ValueError, match="population.*no samples"):
        make_inputs({"kind": "population"}, 2)
    with pytest.raises(ValueError, match="population.*no samples"):
        make_data(teacher(kind="orthonormal", width=2, activation="relu"),
                  {"kind": "population"}, 2)


# ---- functions -------------------------------------------------------------------------------
def eq7(x1, x2, a=1.0, b=3.0, c=1.0, d=0.1):
    return torch.log10((a - x1) ** 2 + b * (x2 - x1**2 + c) ** 2 + d)


def test_rosenbrock_eq8_at_d2_is_eq7_and_general_d():
    x = make_inputs({"kind": "normal", "n": 500, "seed": 0}, 2)
    assert torch.allclose(rosenbrock(x), eq7(x[:, 0], x[:, 1]), rtol=1e-15, atol=0)
    p = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    by_hand = (1 - 0.5) ** 2 + 3 * (-1.0 - 0.25 + 1) ** 2 + (1 + 1.0) ** 2 + 3 * (2.0 - 1 + 1) ** 2
    assert rosenbrock(p).item() == pytest.approx(math.log10(by_hand + 0.1), rel=1e-15)


@pytest.mark.parametrize("inputs,d", [({"kind": "grid", "n": 10_000}, 2),
                                      ({"kind": "normal", "n": 3000, "seed": 5}, 8)])
def test_rosenbrock_target_is_zscored(inputs, d):
    x, y = make_data({"kind": "rosenbrock"}, inputs, d)
    assert y.shape == (x.shape[0], 1)
    assert abs(y.mean().item()) < 1e-14
    assert y.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-14)
    raw = rosenbrock(x)
    assert torch.allclose(y[:, 0], (raw - raw.mean()) / raw.std(unbiased=False), atol=1e-13)
    _, unscaled = make_data({"kind": "rosenbrock", "zscore": False}, inputs, d)
    assert torch.equal(unscaled[:, 0], raw)


def test_zscore_uses_divisor_n():
    y = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    assert torch.equal(zscore(y), torch.tensor([[-1.0], [1.0]], dtype=torch.float64))


def test_gp_samples_have_matern32_covariance():
    x = torch.tensor([[0.0, 0.0], [0.3, 0.1], [1.0, -0.5], [-0.4, 0.9]], dtype=torch.float64)
    scale, seeds = 2.0, 4000
    k = matern32(x, x, scale)
    assert torch.allclose(k.diagonal(), torch.ones(4, dtype=torch.float64))
    u = SQRT3 * scale * math.hypot(0.3, 0.1)
    assert k[0, 1].item() == pytest.approx((1 + u) * math.exp(-u), rel=1e-14)
    f = torch.cat([gp_sample(x, scale, seed) for seed in range(seeds)], dim=1)  # (4, seeds)
    emp = f @ f.T / seeds  # the GP has mean zero
    stderr = ((k.diagonal()[:, None] * k.diagonal()[None, :] + k**2) / seeds).sqrt()
    assert ((emp - k).abs() < 5 * stderr).all(), (emp, k)
    assert ((emp - torch.eye(4, dtype=torch.float64)).abs() > 5 * stderr).any()  # not white noise


def test_gp_target_reproducible_and_zscored():
    target = {"kind": "gp", "scale": 0.5, "seed": 7}
    inputs = {"kind": "grid", "n": 400}
    x, y = make_data(target, inputs, 2, output_dim=2)
    assert y.shape == (400, 2)
    assert torch.equal(y, make_data(target, inputs, 2, output_dim=2)[1])
    assert not torch.equal(y, make_data({**target, "seed": 8}, inputs, 2, output_dim=2)[1])
    assert torch.allclose(y.mean(0), torch.zeros(2), atol=1e-14)
    assert torch.allclose(y.std(0, unbiased=False), torch.ones(2), atol=1e-14)
    _, raw = make_data({**target, "zscore": False}, inputs, 2, output_dim=2)
    assert torch.equal(raw, gp_sample(x, 0.5, 7, outputs=2))


def test_erf_toy_is_the_two_erf_neuron_teacher():
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)[:, None]
    f = erf_toy(x)
    assert f[50].item() == pytest.approx(0.0, abs=1e-15)  # odd function
    assert f[0].item() == pytest.approx(-2.0, abs=1e-12)
    net, theta = teacher_network({"kind": "erf_toy"}, 1)
    assert torch.allclose(net(theta, x)[:, 0], f, rtol=0, atol=1e-15)
    _, y = make_data({"kind": "erf_toy"}, {"kind": "explicit", "values": x.tolist()}, 1)
    assert torch.equal(y[:, 0], f)


# ---- teachers --------------------------------------------------------------------------------
TEACHERS = [  # (teacher, input_dim, output_dim)
    (dict(kind="random", widths=5, activation="softplus", biases=True, seed=3), 4, 1),
    (dict(kind="random", widths=[4, 3], activation="tanh", biases=True, seed=1), 3, 2),
    (dict(kind="orthonormal", width=3, activation="relu"), 4, 1),
    (dict(kind="preset", name="simsek2021_width4"), 2, 1),
    (dict(kind="explicit", activation="gelu", w=[[1, 0], [0.5, -2]], b=[0.1, 0.2],
          a=[[1, -1], [2, 0.5]], c=[0.3, -0.3]), 2, 2),
]


@pytest.mark.parametrize("spec,d,out", TEACHERS)
def test_teacher_scores_zero_loss_on_its_own_data(spec, d, out):
    x, y = make_data(teacher(**spec), {"kind": "normal", "n": 200, "seed": 0}, d, out)
    assert x.shape == (200, d) and y.shape == (200, out)
    net, theta = teacher_network(teacher(**spec), d, out)
    student = Network(NetSpec.model_validate(net.spec.model_dump()))
    loss = EmpiricalLoss(student, x, y)
    # zero up to rounding: the analytic loss sums in another order than the forward pass
    assert loss.loss(theta).item() < 1e-28
    assert loss.loss(theta + 0.01).item() > 1e-8


def test_random_teacher_is_seeded_standard_normal():
    spec = teacher(kind="random", widths=50, activation="relu", biases=True, seed=0)
    _, theta = teacher_network(spec, 20)
    assert torch.equal(theta, teacher_network(spec, 20)[1])
    assert not torch.equal(theta, teacher_network({**spec, "teacher": {
        **spec["teacher"], "seed": 1}}, 20)[1])
    assert theta.numel() == 50 * 20 + 50 + 50 + 1
    assert abs(theta.mean().item()) < 0.1 and theta.std().item() == pytest.approx(1.0, abs=0.05)


def test_orthonormal_teacher():
    net, theta = teacher_network(teacher(kind="orthonormal", width=3, activation="relu"), 5)
    w = net.view(theta, "w")
    assert torch.equal(w, torch.eye(5, dtype=torch.float64)[:3])
    assert torch.equal(net.view(theta, "a"), torch.ones(1, 3, dtype=torch.float64))
    assert net.names == ("w1", "a")  # no biases
    with pytest.raises(ValueError, match=r"teacher\.width.*input_dim >= 3"):
        teacher_network(teacher(kind="orthonormal", width=3, activation="relu"), 2)


def test_preset_teacher_matches_symmetry_induced_critical_points():
    # "w11 = 0.6, w12 = 0.5, w21 = -0.5, w22 = 0.5, w31 = -0.2, w32 = -0.6, w41 = 0.1, w42 = -0.6",
    # y = sum_i sigma(sum_j w_ij x_j): unit readout, no biases
    net, theta = teacher_network(teacher(kind="preset", name="simsek2021_width4"), 2)
    paper = torch.tensor([[0.6, 0.5], [-0.5, 0.5], [-0.2, -0.6], [0.1, -0.6]], dtype=torch.float64)
    assert torch.equal(net.view(theta, "w"), paper)
    assert torch.equal(net.view(theta, "a"), torch.ones(1, 4, dtype=torch.float64))
    assert net.names == ("w1", "a") and net.activation.name == "sigmoid"
    x = make_inputs({"kind": "grid", "n": 1681, "low": -5, "high": 5}, 2)
    assert torch.allclose(net(theta, x)[:, 0], torch.sigmoid(x @ paper.T).sum(1), atol=1e-15)
    net_g, _ = teacher_network(teacher(kind="preset", name="simsek2021_width4", activation="g"), 2)
    assert net_g.activation.name == "g"


def test_preset_few_neurons_angles():
    net, theta = teacher_network(teacher(kind="preset", name="few_neurons_a1"), 2)
    beta = torch.tensor([0, math.pi / 4, 3 * math.pi / 4, 3 * math.pi / 2], dtype=torch.float64)
    assert torch.allclose(net.view(theta, "w"), torch.stack([beta.cos(), beta.sin()], 1),
                          rtol=0, atol=1e-16)


@pytest.mark.parametrize("spec,field", [
    (dict(kind="explicit", activation="relu", w=[[1, 2], [3]]), "w"),
    (dict(kind="explicit", activation="relu", w=[[1, 2]], b=[1, 2]), "b"),
    (dict(kind="explicit", activation="relu", w=[[1, 2]], a=[[1, 2]]), "a"),
    (dict(kind="orthonormal", width=2), "activation"),
    (dict(kind="preset", name="nope"), "simsek2021_width4"),
    (dict(kind="wizard"), "random"),
])
def test_bad_teacher_specs(spec, field):
    with pytest.raises(ValidationError, match=field):
        parse_target(teacher(**spec))


def test_teacher_shape_errors():
    with pytest.raises(ValueError, match=r"teacher\.w.*input_dim is 3"):
        teacher_network(teacher(kind="preset", name="simsek2021_width4"), 3)
    with pytest.raises(ValueError, match=r"teacher\.a.*output_dim is 2"):
        teacher_network(teacher(kind="explicit", activation="relu", w=[[1.0]], a=[[1.0]]), 1, 2)
    with pytest.raises(ValueError, match="target kind 'rosenbrock' has no teacher"):
        teacher_network({"kind": "rosenbrock"}, 2)


# ---- datasets --------------------------------------------------------------------------------
RELU_LIKE = {
    "relu_like_e1.yaml": (  # section 4.1.1
        [[-1, 1], [-0.6, 1], [-0.1, 1], [0.3, 1], [0.7, 1]],
        [[0.28], [-0.1], [0.03], [0.23], [-0.22]]),
    "relu_like_e2.yaml": (  # Appendix I.0.1
        [[-0.3, -0.75, -0.5], [-0.2, -0.2, 0.4], [-0.6, 1.0, -1.0], [-0.4, 0.4, 0.3],
         [0.6, -0.1, -0.7], [0.4, -0.9, 0.3], [0.2, 0.2, -0.5]],
        [[-0.5], [0.1], [-0.6], [0.3], [0.8], [-0.3], [-0.1]]),
    "relu_like_e3.yaml": (  # Appendix I.0.2
        [[-0.3, 0.5], [1.0, 1.0], [-0.6, -1.0], [0.4, -0.4]],
        [[0.6, -0.5], [0.5, -1.0], [-0.4, 0.6], [0.8, 0.2]]),
}


@pytest.mark.parametrize("name", RELU_LIKE)
def test_shipped_datasets_match_the_paper(name):
    x_paper, y_paper = (torch.tensor(v, dtype=torch.float64) for v in RELU_LIKE[name])
    x, y = load_dataset(name)
    assert torch.equal(x, x_paper) and torch.equal(y, y_paper)
    x2, y2 = make_data({"kind": "dataset", "file": f"sweeps/data/{name}"}, None,
                       x.shape[1], y.shape[1])
    assert torch.equal(x2, x) and torch.equal(y2, y)


def test_inline_json_and_csv_datasets(tmp_path):
    target = {"kind": "dataset", "x": [[0, 1], [2, 3]], "y": [5, 6]}
    x, y = make_data(target, None, 2, 1)
    assert torch.equal(y, torch.tensor([[5.0], [6.0]], dtype=torch.float64))
    (tmp_path / "d.json").write_text('{"x": [[0, 1], [2, 3]], "y": [[5], [6]]}')
    (tmp_path / "d.csv").write_text("x1,x2,y\n0,1,5\n2,3,6\n")
    for f in ("d.json", "d.csv"):
        xf, yf = load_dataset(tmp_path / f)
        assert torch.equal(xf, x) and torch.equal(yf, y)


@pytest.mark.parametrize("text,match", [
    ("x: [[1, 2]]\n", r"missing key.*'y'"),
    ("x: [[1, 2]]\ny: [1]\nz: 3\n", r"unknown key.*'z'"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("x: [[1, 2], [3]]\ny: [1, 2]\n", r"key 'x'.*equal length"),
    ("x: [[1, two]]\ny: [1]\n", r"key 'x'.*row 0"),
    ("x: 5\ny: [1]\n", r"key 'x'.*list of N rows"),
    ("x: [[1, 2], [3, 4]]\ny: [1]\n", r"keys 'x' and 'y'.*2 rows in x and 1 in y"),
    ("x: [[1, true]]\ny: [1]\n", r"key 'x'.*row 0"),
    ("x: [[1, 2]\ny: [1]\n", "not valid YAML"),
])
def test_malformed_dataset_files(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_dataset(path)
    assert "bad.yaml" in str(err.value)


def test_malformed_csv_and_unknown_format(tmp_path):
    (tmp_path / "bad.csv").write_text("x1,z\n1,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*header"):
        load_dataset(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("x1,y\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"bad2\.csv: line 3"):
        load_dataset(tmp_path / "bad2.csv")
    (tmp_path / "d.txt").write_text("x: [[1]]\ny: [1]\n")
    with pytest.raises(ValueError, match=r"d\.txt.*accepted: \.yaml"):
        load_dataset(tmp_path / "d.txt")


def test_missing_dataset_file():
    with pytest.raises(FileNotFoundError, match="no_such_file.yaml"):
        make_data({"kind": "dataset", "file": "no_such_file.yaml"}, None, 2, 1)


def test_dataset_errors():
    with pytest.raises(ValueError, match="inputs: a dataset target supplies its own inputs"):
        make_data({"kind": "dataset", "file": "relu_like_e1.yaml"},
                  {"kind": "normal", "n": 5}, 2, 1)
    with pytest.raises(ValueError, match="has input_dim 2 and output_dim 1, expected 3 and 1"):
        make_data({"kind": "dataset", "file": "relu_like_e1.yaml"}, None, 3, 1)
    for bad in ({"kind": "dataset"}, {"kind": "dataset", "x": [[1]]},
                {"kind": "dataset", "file": "a.yaml", "x": [[1]], "y": [1]}):
        with pytest.raises(ValidationError, match="either 'file' or both 'x' and 'y'"):
            parse_target(bad)
    with pytest.raises(ValidationError, match=r"inline dataset.*'x' and 'y'.*2 rows in x"):
        parse_target({"kind": "dataset", "x": [[1], [2]], "y": [1]})


# ---- specs -----------------------------------------------------------------------------------
def test_unknown_kinds_list_the_accepted_ones():
    with pytest.raises(ValidationError, match="'normal', 'uniform', 'grid', 'sobol', 'explicit', "
                                              "'population'"):
        parse_inputs({"kind": "lattice", "n": 4})
    accepted = "'teacher', 'rosenbrock', 'gp', 'erf_toy', 'dataset'"
    with pytest.raises(ValidationError, match=accepted):
        parse_target({"kind": "mnist"})
    with pytest.raises(ValidationError, match="'uniform' or 'normal'"):
        parse_inputs({"kind": "sobol", "n": 4, "law": "cauchy"})
    with pytest.raises(ValidationError, match="scale"):
        parse_target({"kind": "gp", "scale": -1})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_target({"kind": "rosenbrock", "dimension": 3})


def test_target_shape_errors():
    with pytest.raises(ValueError, match="output_dim: target kind 'rosenbrock' is scalar"):
        make_data({"kind": "rosenbrock"}, {"kind": "grid", "n": 9}, 2, 2)
    with pytest.raises(ValueError, match="rosenbrock: .*input_dim d >= 2"):
        make_data({"kind": "rosenbrock"}, {"kind": "grid", "n": 9}, 1)
    with pytest.raises(ValueError, match="erf_toy: .*input_dim 1"):
        make_data({"kind": "erf_toy"}, {"kind": "grid", "n": 9}, 2)
    with pytest.raises(ValueError, match="inputs: target kind 'gp' needs inputs"):
        make_data({"kind": "gp", "scale": 1.0}, None, 2)


def test_specs_are_frozen():
    spec = parse_target({"kind": "gp", "scale": 1.0})
    with pytest.raises(ValidationError):
        spec.scale = 2.0
