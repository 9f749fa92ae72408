"""Activation derivatives against central finite differences; spec validation."""

import pydantic
import pytest
import torch

from landscape_hpc.models.activations import PARAMETERS, ActivationSpec, get_activation

SPECS = [
    "relu", {"name": "leaky_relu", "slope": 0.1}, "softplus", {"name": "softplus", "beta": 2.5},
    "sigmoid", "sigmoid2", "tanh", "gelu", "g", {"name": "softplus_sigmoid", "alpha": 0.5,
    "gamma": 2.0}, "exp", "identity",
]


def test_every_activation_is_tested():
    names = {s if isinstance(s, str) else s["name"] for s in SPECS}
    assert names == set(PARAMETERS)


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_derivatives_match_finite_differences(spec):
    act = get_activation(spec)
    z = torch.linspace(-3.1, 2.9, 41)
    z = z[z.abs() > 1e-3]  # stay off the kink of relu-like activations
    h = 1e-5
    vals = act.derivatives(z, 3)
    up, down = act.derivatives(z + h, 3), act.derivatives(z - h, 3)
    for k in range(3):
        fd = (up[k] - down[k]) / (2 * h)
        torch.testing.assert_close(vals[k + 1], fd, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(vals[0], act(z))


def test_named_values():
    z = torch.tensor([-1.0, 0.0, 2.0])
    g = get_activation("g")(z)
    expected = torch.sigmoid(4 * z) + torch.nn.functional.softplus(z)
    torch.testing.assert_close(g, expected)
    torch.testing.assert_close(get_activation("sigmoid2")(z), torch.erf(z / 2**0.5))
    assert get_activation("relu").derivatives(torch.tensor([0.0]), 1)[1].item() == 0.0


def test_spec_from_name_and_mapping():
    assert ActivationSpec.model_validate("tanh").name == "tanh"
    spec = ActivationSpec.model_validate({"name": "leaky_relu", "slope": 0.2})
    assert spec.params == {"slope": 0.2}
    assert str(spec) == "leaky_relu(slope=0.2)"
    assert ActivationSpec.model_validate("softplus_sigmoid").params == {"alpha": 1.0, "gamma": 4.0}


def test_unknown_activation_names_accepted_values():
    with pytest.raises(pydantic.ValidationError) as err:
        ActivationSpec.model_validate("swish")
    assert "relu" in str(err.value) and "softplus_sigmoid" in str(err.value)


def test_parameter_of_another_activation_is_refused():
    with pytest.raises(pydantic.ValidationError, match="does not take beta.*accepts slope"):
        ActivationSpec.model_validate({"name": "leaky_relu", "beta": 2})
    with pytest.raises(pydantic.ValidationError, match="no parameters"):
        ActivationSpec.model_validate({"name": "relu", "slope": 2})


# the composition formulas the fused implementations replaced (softplus, sigmoid(gamma z) and
# their derivatives as separate torch calls), as a reference to float64 rounding
def _reference(name, params, z):
    def sig_chain(s, scale):
        d1 = s * (1 - s)
        return [s, scale * d1, scale**2 * d1 * (1 - 2 * s), scale**3 * d1 * (1 - 6 * d1)]

    def softplus(beta):
        sp = torch.nn.functional.softplus(beta * z, threshold=1e9) / beta
        return [sp] + sig_chain(torch.sigmoid(beta * z), beta)[:3]

    if name == "softplus":
        return softplus(params["beta"])
    if name == "sigmoid":
        return sig_chain(torch.sigmoid(z), 1.0)
    alpha, gamma = params.get("alpha", 1.0), params.get("gamma", 4.0)
    return [a + alpha * b for a, b in zip(softplus(1.0), sig_chain(torch.sigmoid(gamma * z), gamma))]


SMOOTH = ["g", "softplus", {"name": "softplus", "beta": 2.5}, "sigmoid",
          {"name": "softplus_sigmoid", "alpha": 0.5, "gamma": 2.0},
          {"name": "softplus_sigmoid", "alpha": 1.5, "gamma": 3.0}]


@pytest.mark.parametrize("spec", SMOOTH, ids=str)
def test_fused_derivatives_equal_the_composition(spec):
    act = get_activation(spec)
    z = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    for k, (got, ref) in enumerate(zip(act.derivatives(z, 3), _reference(act.name, act.params, z))):
        scale = ref.abs().clamp_min(1.0)
        assert ((got - ref).abs() / scale).max() < 1e-14, k
    for order in range(4):  # lower orders are the leading entries of the higher ones
        for a, b in zip(act.derivatives(z, order), act.derivatives(z, 3)):
            assert torch.equal(a, b)


@pytest.mark.parametrize("spec", SMOOTH, ids=str)
def test_values_and_slopes_are_accurate_against_mpmath(spec):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    act = get_activation(spec)
    p = act.params

    def exact(x):
        if act.name == "sigmoid":
            return 1 / (1 + mpmath.exp(-x))
        if act.name == "softplus":
            return mpmath.log1p(mpmath.exp(p["beta"] * x)) / p["beta"]
        alpha, gamma = p.get("alpha", 1.0), p.get("gamma", 4.0)
        return mpmath.log1p(mpmath.exp(x)) + alpha / (1 + mpmath.exp(-gamma * x))

    zs = [-40.0, -25.0, -5.0, -0.7, 0.0, 0.3, 2.0, 15.0, 25.0, 40.0]
    vals = act.derivatives(torch.tensor(zs, dtype=torch.float64), 1)
    # values and slopes: relative accuracy for every z, except sigmoid' = s (1 - s) (absolute)
    absolute = {0: 1e-300, 1: 1e-16 if act.name == "sigmoid" else 1e-300}
    for i, x in enumerate(zs):
        for k in range(2):
            e = float(mpmath.diff(exact, mpmath.mpf(x), k))
            assert abs(float(vals[k][i]) - e) <= 1e-15 * abs(e) + absolute[k], (x, k)


@pytest.mark.parametrize("spec", SMOOTH + ["tanh", "gelu", "sigmoid2"], ids=str)
def test_large_arguments_are_finite_and_saturate(spec):
    act = get_activation(spec)
    z = torch.tensor([-700.0, -50.0, 50.0, 700.0], dtype=torch.float64)
    vals = act.derivatives(z, 3)
    assert all(torch.isfinite(v).all() for v in vals)
    assert (vals[2].abs() <= 1e-20).all() and (vals[3].abs() <= 1e-20).all()
    if act.name in ("g", "softplus", "softplus_sigmoid"):
        alpha = act.params.get("alpha", 1.0 if act.name == "g" else 0.0)
        assert vals[0][3] == 700 + alpha and vals[0][2] == 50 + alpha  # no threshold error
        assert 0 <= vals[0][0] < 1e-300 and vals[1][3] == 1.0
