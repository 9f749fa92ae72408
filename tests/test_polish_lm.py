"""``polish: {method: lm}``: the residuals' exact Jacobian, and Levenberg-Marquardt to the exact
minimum of an overparameterised student, where the Newton polish stalls."""

import math

import pytest
import torch
import yaml

from landscape_hpc.config import ConfigError
from landscape_hpc.dynamics.polish import polish
from landscape_hpc.dynamics.record import POLISH_REASONS, Polish
from landscape_hpc.dynamics.spec import PolishSpec
from landscape_hpc.problem import build_problem
from landscape_hpc.sweep import plan_sweep
from test_derivatives import central_jacobian, make_loss


@pytest.mark.parametrize("widths,biases,output_dim,fixed_readout", [
    ((4,), True, 1, None), ((3,), False, 2, None), ((3,), (True, False), 1, 0.5),
    ((3, 2), True, 2, None)], ids=["1 layer", "2 outputs", "fixed readout", "2 layers"])
@pytest.mark.parametrize("maxnorm", [math.inf, 0.05], ids=["no barrier", "barrier"])
def test_residual_jacobian_matches_finite_differences_and_sums_to_the_loss(
        widths, biases, output_dim, fixed_readout, maxnorm):
    obj = make_loss("softplus", widths, biases, output_dim, fixed_readout, maxnorm=maxnorm,
                    n=12)
    theta = torch.randn(2, obj.num_params, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
    r, J = obj.least_squares(theta)
    value, grad = obj.evaluate(theta, 1)
    torch.testing.assert_close((r * r).sum(-1), value, rtol=1e-13, atol=0)
    torch.testing.assert_close(2 * torch.einsum("bm,bmp->bp", r, J), grad, rtol=1e-10,
                               atol=1e-12)
    for b in range(2):
        fd = central_jacobian(lambda t: obj.least_squares(t[None])[0][0], theta[b])
        torch.testing.assert_close(J[b], fd, rtol=1e-6, atol=1e-8)
    if math.isfinite(maxnorm):
        assert (r[:, -1] > 0).all()  # the barrier is on: its residual is in the test


def overparameterised():
    """A width-3 student of a width-2 sigmoid teacher on a grid, near the zero-loss manifold
    where one teacher neuron is split in two (a singular Hessian)."""
    problem = build_problem({
        "net": {"input_dim": 2, "widths": [3], "activation": "sigmoid", "biases": False},
        "target": {"kind": "teacher", "teacher": {"kind": "explicit", "activation": "sigmoid",
                                                  "w": [[1.0, 0.5], [-0.7, 1.2]],
                                                  "a": [[1.0, -2.0]]}},
        "inputs": {"kind": "grid", "n": 121, "low": -5, "high": 5}})
    net = problem.net
    theta = torch.zeros(net.num_params, dtype=torch.float64)
    net.view(theta, "w")[:] = torch.tensor([[1.0, 0.5], [1.0, 0.5], [-0.7, 1.2]])
    net.view(theta, "a")[:] = torch.tensor([[0.3, 0.7, -2.0]])
    noise = torch.randn(4, net.num_params, generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64)
    return problem.objective, theta + 1e-2 * noise


def test_lm_reaches_the_exact_minimum_where_newton_stalls():
    obj, theta = overparameterised()
    todo = torch.tensor([True, True, False, True])
    out, code, steps, evals, (value, grad, hess) = polish(
        obj, theta, PolishSpec(method="lm", maxsteps=500), todo)
    assert [POLISH_REASONS[c] for c in code] == ["gtol", "gtol", "skipped", "gtol"]
    assert (value[todo] < 1e-26).all() and (grad[todo].abs().amax(-1) <= 1e-13).all()
    assert torch.equal(out[2], theta[2]) and (steps[todo] > 0).all()
    torch.testing.assert_close(value, obj.value(out))
    torch.testing.assert_close(hess, obj.hessian(out))
    newton = polish(obj, theta[todo], PolishSpec(maxsteps=500), torch.ones(3, dtype=bool))
    assert (newton[4][0] > 1e3 * value[todo]).all()


def test_lm_keeps_to_its_time_budget():
    obj, theta = overparameterised()
    out, code, *_ = polish(obj, theta, PolishSpec(method="lm", maxtime=1e-9),
                           torch.ones(4, dtype=bool))
    assert all(POLISH_REASONS[c] == Polish.MAXTIME for c in code)
    assert torch.equal(out, theta)


def test_lm_refuses_an_objective_without_residuals():
    problem = build_problem({"net": {"input_dim": 3, "widths": [2], "activation": "relu",
                                     "biases": False, "fixed_readout": 1.0},
                             "target": {"kind": "teacher", "teacher": {
                                 "kind": "orthonormal", "activation": "relu", "width": 2}},
                             "inputs": {"kind": "population"}})
    with pytest.raises(ValueError, match="needs the residuals .* PopulationLoss has none"):
        polish(problem.objective, problem.initial_theta(0, 1), PolishSpec(method="lm"),
               torch.tensor([True]))


def test_plan_refuses_lm_on_a_population_loss_naming_the_setting(tmp_path):
    sweep = {"name": "bad", "fixed": {
        "problem": {"net": {"input_dim": 4, "widths": [2], "activation": "relu",
                            "biases": False, "fixed_readout": 1.0},
                    "target": {"kind": "teacher", "teacher": {"kind": "orthonormal",
                                                              "activation": "relu",
                                                              "width": 2}},
                    "inputs": {"kind": "population"}},
        "dynamics": {"polish": {"method": "lm"}}}, "grid": {"seed": {"range": 2}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(sweep))
    with pytest.raises(ConfigError, match=r"bad.yaml.*problem.inputs: dynamics.polish.method "
                                          r"'lm' .* \(from fixed.problem.inputs.kind, "
                                          r"fixed.dynamics.polish.method\)"):
        plan_sweep(path)
